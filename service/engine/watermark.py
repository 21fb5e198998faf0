"""The one watermark rule: event time, not the wall clock, drives lateness and retention, and
no single event moves it for everyone.

The watermark is the latest event time that has company (SPEC §4 leaves the rule open): of
the :data:`COMPANY` latest event times seen, the latest within *reach* of the earliest of them.
The reach is :data:`REACH_MS`, or in a sparser stream three times the spread of the five
earliest of those times (so ten events an hour apart move it to the last one). An event far
ahead of the others (a backfill's stray record three days ahead, an import's wrong date)
therefore waits: it is applied to its conversation and its panes like any other, but time moves
to it only once enough events come near it. Until :data:`COMPANY` events are seen there is no
watermark (nothing is late, nothing expires). The rule depends on the event times seen, not
their order, so replay and the workers agree; it never moves back.

Everything dated more than the pane retention (25 h) behind the watermark is *late*: still
applied to its conversation, but its panes may already be gone, so it is counted. State is
retired once per hour of event time, not per event. Replay's engine and each partition of a
worker's conversation stage keep one :class:`Watermark` of what they see; an owner stage's
follows the watermarks its deltas carry (:meth:`Watermark.follow`). All answer these
questions here.
"""

import heapq

from service.engine.panes import HOUR_MS

__all__ = ["COMPANY", "EXPIRY_EVERY_MS", "REACH_MS", "Watermark"]

EXPIRY_EVERY_MS = HOUR_MS
"""Old state is retired once per hour of event time."""
COMPANY = 10
"""Event times that must lie near an event's before the watermark moves to it."""
REACH_MS = HOUR_MS
"""How far ahead of the earliest of the :data:`COMPANY` latest event times the watermark may
be at least (a sparse stream reaches further, see the module docstring)."""
_SPREAD_FACTOR = 3

_NEVER = -(2**62)


class Watermark:
    """The latest event time with company (epoch ms, None before :data:`COMPANY` events) and
    the pane retention behind it (``retention_ms``)."""

    __slots__ = ("_latest", "_top", "at_ms", "next_expiry_ms", "retention_ms")

    def __init__(self, retention_ms: int) -> None:
        self.retention_ms = retention_ms
        self.at_ms: int | None = None
        self._top: list[int] = []
        """A min-heap of the :data:`COMPANY` latest event times seen."""
        self._latest: int | None = None
        self.next_expiry_ms: int | None = None
        """The event time at which state is next retired; None until the first
        :meth:`expiry_due`."""

    def see(self, at_ms: int) -> int | None:
        """Take an event time in; returns the watermark."""
        if self._latest is None or at_ms > self._latest:
            self._latest = at_ms
        top = self._top
        if len(top) < COMPANY:
            heapq.heappush(top, at_ms)
            if len(top) < COMPANY:
                return self.at_ms
        elif at_ms > top[0]:
            heapq.heapreplace(top, at_ms)
        else:
            return self.at_ms
        ordered = sorted(top)
        earliest = ordered[0]
        reach = earliest + max(REACH_MS, _SPREAD_FACTOR * (ordered[COMPANY // 2 - 1] - earliest))
        candidate = max(t for t in ordered if t <= reach)
        if self.at_ms is None or candidate > self.at_ms:
            self.at_ms = candidate
        return self.at_ms

    def state(self) -> list[int | None]:
        """What :meth:`restore` takes: the latest times seen, the watermark, the next expiry
        and the latest event time (JSON-ready)."""
        return [*sorted(self._top), self.at_ms, self.next_expiry_ms, self._latest]

    def restore(self, state: list[int | None]) -> None:
        """Take back a :meth:`state` (a worker's partition after a restart)."""
        *top, at_ms, next_expiry_ms, latest = state
        self._top = [t for t in top if t is not None]
        heapq.heapify(self._top)
        self.at_ms, self.next_expiry_ms, self._latest = at_ms, next_expiry_ms, latest

    def follow(self, at_ms: int | None) -> None:
        """Move to ``at_ms`` if it is later: an owner stage takes its sources' watermarks,
        each of them already the rule's."""
        if at_ms is not None and (self.at_ms is None or at_ms > self.at_ms):
            self.at_ms = at_ms
            if self._latest is None or at_ms > self._latest:
                self._latest = at_ms

    @property
    def latest_ms(self) -> int | None:
        """Replay's default as-of (rounded up to a minute): the watermark, or while fewer than
        :data:`COMPANY` events were seen the latest event time."""
        return self._latest if self.at_ms is None else self.at_ms

    @property
    def cutoff_ms(self) -> int:
        """Pane data before this time may be dropped: the retention behind the watermark (a
        time before any event while there is none)."""
        return _NEVER if self.at_ms is None else self.at_ms - self.retention_ms

    def late(self, at_ms: int) -> bool:
        """Dated more than the retention behind the watermark."""
        return at_ms < self.cutoff_ms

    def expiry_due(self) -> bool:
        """True once per hour of event time: when the watermark has reached the time set by the
        previous call that returned True (the first call only sets it, an hour ahead)."""
        if self.at_ms is None:
            return False
        if self.next_expiry_ms is None:
            self.next_expiry_ms = self.at_ms + EXPIRY_EVERY_MS
            return False
        if self.at_ms < self.next_expiry_ms:
            return False
        self.next_expiry_ms = self.at_ms + EXPIRY_EVERY_MS
        return True

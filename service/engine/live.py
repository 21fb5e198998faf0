"""The live state of SPEC §4 at an as-of: counts of the conversations that are not resolved
or closed, per level key, and the running response clocks behind ``sla_breaching`` and
``sla_at_risk``.

A conversation contributes one row (:func:`live_row`) built from its
:class:`~service.engine.fold.LiveSummary`; :class:`LiveSums` keeps each owner's sum of rows
from one report to the next and brings it up to date with what changed.
"""

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, replace
from heapq import heapify, heappop, heappush
from typing import Any, NamedTuple

from service.engine.fold import LiveSummary
from service.engine.owner_keys import Owner
from service.engine.panes import DAY_MS
from service.engine.sla import TeamPolicy, business_ms, sla_elapsed_ms

__all__ = ["ClockState", "LiveCounts", "LiveSums", "LiveTotals", "clock_state", "clocked_row",
           "live_at", "live_row"]

_LIVE_SPAN_MS = 400 * DAY_MS
"""A running clock older than this is first measured over its first 400 days only: that is
enough to see that it is past any target a calendar open at all reaches in 400 days, and keeps
a live count at a far as-of from walking the calendar day by day."""


@dataclass(slots=True)
class LiveCounts:
    """The live state of one level key (SPEC §4): counts of its conversations, and the age of
    the oldest awaiting a first response (ms). Fields named as the registry's live keys."""

    open: int = 0
    unassigned: int = 0
    waiting_on_customer: int = 0
    awaiting_first_response: int = 0
    oldest_awaiting_ms: int | None = None
    sla_breaching: int = 0
    sla_at_risk: int = 0
    assigned_open: int = 0

    def add(self, row: "LiveCounts", oldest: int | None = None) -> None:
        """Sum ``row`` into these counts, the oldest wait by max (``oldest``, else the row's)."""
        self.open += row.open
        self.unassigned += row.unassigned
        self.waiting_on_customer += row.waiting_on_customer
        self.awaiting_first_response += row.awaiting_first_response
        if oldest is None:
            oldest = row.oldest_awaiting_ms
        if oldest is not None and (self.oldest_awaiting_ms is None
                                   or oldest > self.oldest_awaiting_ms):
            self.oldest_awaiting_ms = oldest
        self.sla_breaching += row.sla_breaching
        self.sla_at_risk += row.sla_at_risk
        self.assigned_open += row.assigned_open


class LiveTotals:
    """Live counts overall, per team and per agent (the report's ``live`` section)."""

    __slots__ = ("agents", "overall", "teams")

    def __init__(self) -> None:
        self.overall = LiveCounts()
        self.teams: dict[str, LiveCounts] = {}
        self.agents: dict[str, LiveCounts] = {}


_FOREVER = 2**62


class ClockState(NamedTuple):
    """A running response clock measured at an as-of (SPEC §3, §4)."""

    kind: str
    """first_response or next_response."""
    start: int
    """Epoch ms the clock started."""
    target: int
    """The SLA target, ms (business ms when ``business``)."""
    business: bool
    pause_while: frozenset[str]
    elapsed: int
    """The ms the SLA counts from ``start`` to the as-of: business ms when ``business``, less
    the waits in ``pause_while`` (a business-hours clock without pauses running for over 400
    days: its first 400 days' count when that is already past the target)."""


def clock_state(summary: LiveSummary, as_of_ms: int, policy: TeamPolicy) -> ClockState | None:
    """The summary's running response clock at ``as_of_ms``, or None when none runs."""
    kind, start = summary.clock, summary.clock_start
    if kind is None or start is None:
        return None
    rules = policy.team(summary.team)
    target, business = rules.sla_target(kind, summary.priority)
    pause_while = rules.sla_pause_while(kind, summary.priority)
    if pause_while:
        elapsed = sla_elapsed_ms(rules.calendar, business, pause_while, summary.waits, start,
                                 as_of_ms)
    elif business:
        elapsed = _business_elapsed(rules.calendar, start, as_of_ms, target)
    else:
        elapsed = as_of_ms - start
    return ClockState(kind, start, target, business, pause_while, elapsed)


def live_row(summary: LiveSummary, as_of_ms: int, policy: TeamPolicy, at_risk_ratio: float
             ) -> tuple[LiveCounts, int]:
    """One conversation's contribution to the live counts at ``as_of_ms``, without its oldest
    wait (it moves with every as-of: :class:`LiveSums` takes it from the summary), and the last
    as-of (ms, inclusive) it holds for.

    A row changes with the as-of only where an SLA clock crosses the at-risk share of its target
    or the target. The time an SLA counts grows by at most one ms per ms of as-of (business
    hours and pauses only slow it), so a row computed at ``A`` with ``e`` ms counted holds until
    ``A + (threshold − e)``, and a breaching row holds for good."""
    return clocked_row(summary, clock_state(summary, as_of_ms, policy), as_of_ms, at_risk_ratio)


def clocked_row(summary: LiveSummary, clock: ClockState | None, as_of_ms: int,
                at_risk_ratio: float) -> tuple[LiveCounts, int]:
    """:func:`live_row` with the summary's running clock at ``as_of_ms`` already measured
    (:func:`clock_state`)."""
    until = _FOREVER
    row = LiveCounts()
    if summary.status == "open":
        row.open = 1
    else:
        row.waiting_on_customer = 1
    if summary.assignee is None:
        row.unassigned = 1
    elif summary.status == "open":
        row.assigned_open = 1
    if summary.awaiting_since is not None:
        row.awaiting_first_response = 1
    if clock is not None:
        target, elapsed = clock.target, clock.elapsed
        if elapsed > target:
            row.sla_breaching = 1
        elif elapsed > at_risk_ratio * target:
            row.sla_at_risk = 1
            until = as_of_ms + (target - elapsed)
        else:
            until = as_of_ms + math.floor(at_risk_ratio * target - elapsed)
    return row, until


def _business_elapsed(calendar: Any, start_ms: int, end_ms: int, target_ms: int) -> int:
    """Business ms of [start_ms, end_ms), or, for a long span, of its first
    :data:`_LIVE_SPAN_MS` when that alone is past ``target_ms``: either way the comparison with
    the target (breaching, else at risk) is exact, and its cost is bounded for any as-of."""
    if end_ms - start_ms > _LIVE_SPAN_MS:
        head = business_ms(calendar, start_ms, start_ms + _LIVE_SPAN_MS)
        if head > target_ms:
            return head
    return business_ms(calendar, start_ms, end_ms)


class _OwnerSum:
    """One owner's live counts at ``as_of`` and what they were summed from."""

    __slots__ = ("as_of", "counts", "expiry", "pending", "rows", "waits")

    def __init__(self, as_of_ms: int) -> None:
        self.as_of = as_of_ms
        self.counts = LiveCounts()
        self.rows: dict[str, tuple[LiveSummary, LiveCounts, int]] = {}
        """Conversation id → (summary, its row, the last as-of the row holds for)."""
        self.expiry: list[tuple[int, str]] = []
        """A heap of (the last as-of a row holds for, conversation id); stale entries are
        skipped."""
        self.pending: list[tuple[int, str]] = []
        """A heap of (created, conversation id) of conversations created after ``as_of``."""
        self.waits: list[tuple[int, str]] = []
        """A heap of (awaiting since, conversation id): the oldest wait."""


class LiveSums:
    """Each owner's live counts (the sum of its conversations' rows, :func:`live_row`), kept
    from one report to the next and brought to the later as-of by what changed: the summaries
    set since (:meth:`changed`), the rows whose SLA clock crossed the at-risk share or the
    target since (a row says until when it holds), the conversations whose creation the as-of
    passed. A report's cost follows those changes, not the number of open conversations. An
    earlier as-of, or another at-risk ratio, sums the owner again."""

    __slots__ = ("_dirty", "_ratio", "_sums", "policy")

    def __init__(self, policy: TeamPolicy) -> None:
        self.policy = policy
        self._sums: dict[Hashable, _OwnerSum] = {}
        self._dirty: dict[Hashable, set[str]] = {}
        self._ratio: float | None = None

    def changed(self, owner: Hashable, conversation_id: str) -> None:
        """The owner's summary of ``conversation_id`` was set, replaced or removed."""
        if owner in self._sums:
            self._dirty.setdefault(owner, set()).add(conversation_id)

    def forget(self, owner: Hashable) -> None:
        self._sums.pop(owner, None)
        self._dirty.pop(owner, None)

    def totals(self, held: Iterable[tuple[Owner, Mapping[str, LiveSummary]]], as_of_ms: int,
               at_risk_ratio: float) -> LiveTotals:
        """The live totals of owners at ``as_of_ms``: (owner, its summaries) → :meth:`counts`,
        placed by the owner's level."""
        totals = LiveTotals()
        for owner, summaries in held:
            counts = self.counts(owner, summaries, as_of_ms, at_risk_ratio)
            if counts is None:
                continue
            if owner.level == "overall":
                totals.overall = counts
            else:
                (totals.teams if owner.level == "team" else totals.agents)[owner.key] = counts
        return totals

    def counts(self, owner: Hashable, held: Mapping[str, LiveSummary], as_of_ms: int,
               at_risk_ratio: float) -> LiveCounts | None:
        """The owner's live counts at ``as_of_ms`` from ``held`` (its summaries: the ones
        :meth:`changed` was told of), with the oldest wait; None when none of them was live
        then. A new object each time."""
        if at_risk_ratio != self._ratio:
            self._sums.clear()
            self._dirty.clear()
            self._ratio = at_risk_ratio
        state = self._sums.get(owner)
        dirty = self._dirty.pop(owner, ())
        if state is None or as_of_ms < state.as_of:
            state = self._sums[owner] = _OwnerSum(as_of_ms)
            for cid, summary in held.items():
                self._put(state, cid, summary)
        else:
            state.as_of = as_of_ms
            for cid in dirty:
                kept = self._drop(state, cid)
                now = held.get(cid)
                if now is not None:
                    self._put(state, cid, now, kept)
            self._advance(state, held)
        if not state.rows:
            return None
        waits = state.waits
        while waits:
            since, cid = waits[0]
            kept = state.rows.get(cid)
            if kept is not None and kept[0].awaiting_since == since:
                break
            heappop(waits)
        counts = replace(state.counts)
        if waits:
            counts.oldest_awaiting_ms = as_of_ms - waits[0][0]
        return counts

    def _advance(self, state: _OwnerSum, held: Mapping[str, LiveSummary]) -> None:
        """The rows the as-of made due: conversations created since, clocks that crossed a
        threshold."""
        as_of = state.as_of
        pending, expiry = state.pending, state.expiry
        while pending and pending[0][0] <= as_of:
            created, cid = heappop(pending)
            summary = held.get(cid)
            if summary is not None and cid not in state.rows and summary.created_at == created:
                self._put(state, cid, summary)
        while expiry and expiry[0][0] < as_of:
            until, cid = heappop(expiry)
            kept = state.rows.get(cid)
            if kept is not None and kept[2] == until:
                self._drop(state, cid)
                self._put(state, cid, kept[0], kept)
        for heap in (pending, expiry, state.waits):
            if len(heap) > 2 * len(held) + 64:
                self._compact(state)
                break

    def _put(self, state: _OwnerSum, cid: str, summary: LiveSummary,
             before: tuple[LiveSummary, LiveCounts, int] | None = None) -> None:
        if not live_at(summary, state.as_of):
            heappush(state.pending, (summary.created_at, cid))
            return
        row, until = live_row(summary, state.as_of, self.policy, self._ratio or 0.0)
        state.rows[cid] = (summary, row, until)
        _sum_into(state.counts, row, 1)
        if until != _FOREVER:
            heappush(state.expiry, (until, cid))
        since = summary.awaiting_since
        if since is not None and (before is None or before[0].awaiting_since != since):
            heappush(state.waits, (since, cid))

    @staticmethod
    def _drop(state: _OwnerSum, cid: str) -> tuple[LiveSummary, LiveCounts, int] | None:
        kept = state.rows.pop(cid, None)
        if kept is not None:
            _sum_into(state.counts, kept[1], -1)
        return kept

    @staticmethod
    def _compact(state: _OwnerSum) -> None:
        """Heaps without their stale entries (they grow with changes otherwise)."""
        rows = state.rows
        state.expiry = [(until, cid) for cid, (_, _, until) in rows.items() if until != _FOREVER]
        state.waits = [(s.awaiting_since, cid) for cid, (s, _, _) in rows.items()
                       if s.awaiting_since is not None]
        state.pending = [(created, cid) for created, cid in set(state.pending)
                         if cid not in rows]
        for heap in (state.expiry, state.waits, state.pending):
            heapify(heap)


_SUMMED = ("open", "unassigned", "waiting_on_customer", "awaiting_first_response",
           "sla_breaching", "sla_at_risk", "assigned_open")


def _sum_into(counts: LiveCounts, row: LiveCounts, sign: int) -> None:
    for name in _SUMMED:
        setattr(counts, name, getattr(counts, name) + sign * getattr(row, name))


def live_at(summary: LiveSummary, as_of_ms: int) -> bool:
    """Whether a conversation live now was live at ``as_of_ms``: not when it was created after
    it (a report of an earlier time, while a backfill or a clock ahead brings later events)."""
    return summary.created_at <= as_of_ms

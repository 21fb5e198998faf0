"""The one watermark rule: event time, not the wall clock, drives lateness and retention.

The watermark is the latest event time seen (SPEC §4). Everything dated more than the pane
retention (25 h) behind it is *late*: still applied to its conversation, but its panes may
already be gone, so it is counted. State is retired once per hour of event time, not per
event. Replay's engine, stage 1's router and stage 2's owner book each keep one
:class:`Watermark` of what they see, and all three answer these questions here.
"""

from service.engine.panes import HOUR_MS

__all__ = ["EXPIRY_EVERY_MS", "Watermark"]

EXPIRY_EVERY_MS = HOUR_MS
"""Old state is retired once per hour of event time."""

_NEVER = -(2**62)


class Watermark:
    """The latest event time seen (epoch ms, None before the first) and the pane retention
    behind it (``retention_ms``)."""

    __slots__ = ("at_ms", "next_expiry_ms", "retention_ms")

    def __init__(self, retention_ms: int, at_ms: int | None = None,
                 next_expiry_ms: int | None = None) -> None:
        self.retention_ms = retention_ms
        self.at_ms = at_ms
        self.next_expiry_ms = next_expiry_ms
        """The event time at which state is next retired; None until the first
        :meth:`expiry_due`."""

    def see(self, at_ms: int) -> int:
        """Take an event time in; returns the watermark."""
        if self.at_ms is None or at_ms > self.at_ms:
            self.at_ms = at_ms
        return self.at_ms

    @property
    def cutoff_ms(self) -> int:
        """Pane data before this time may be dropped: the retention behind the watermark (a
        time before any event while nothing was seen)."""
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

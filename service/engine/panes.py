"""Pane arithmetic for SPEC §4's rolling windows, by event time."""

from dataclasses import dataclass

__all__ = ["DAY_MS", "HOUR_MS", "MINUTE_MS", "QUARTER_MS", "WINDOWS", "WindowSpec",
           "ceil_to_minute", "pane_start", "panes_summed"]

MINUTE_MS = 60_000
QUARTER_MS = 15 * MINUTE_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True, slots=True)
class WindowSpec:
    name: str
    pane_ms: int
    panes: int

    def span(self, as_of_ms: int) -> tuple[int, int]:
        """[start, end) of the window at ``as_of_ms``: the last ``panes`` panes including the one
        that holds ``as_of_ms``, and only times before it."""
        return pane_start(as_of_ms, self.pane_ms) - (self.panes - 1) * self.pane_ms, as_of_ms


WINDOWS: tuple[WindowSpec, ...] = (
    WindowSpec("1h", MINUTE_MS, 60),
    WindowSpec("24h", QUARTER_MS, 96),
)


def pane_start(at_ms: int, pane_ms: int) -> int:
    return at_ms - at_ms % pane_ms


def ceil_to_minute(at_ms: int) -> int:
    """The next whole minute strictly after ``at_ms``: replay's default as-of, so that the latest
    event (``at < as_of``) is inside the window."""
    return pane_start(at_ms, MINUTE_MS) + MINUTE_MS


def panes_summed(window: WindowSpec, as_of_ms: int) -> tuple[int, int]:
    """[first, last) of the one-minute panes a window's values sum at ``as_of_ms``: those that
    start in the window's span, the minute holding the as-of included."""
    start, _ = window.span(as_of_ms)
    return start, -(-as_of_ms // MINUTE_MS) * MINUTE_MS

"""The live state of SPEC §4 at an as-of: counts of the conversations that are not resolved
or closed, per level key, and the running response clocks behind ``sla_breaching`` and
``sla_at_risk``.

A conversation contributes one row (:func:`live_row`) built from its
:class:`~service.engine.fold.LiveSummary`; :class:`LiveRows` keeps rows from one report to the
next while they cannot have changed.
"""

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from service.engine.fold import LiveSummary
from service.engine.panes import DAY_MS
from service.engine.sla import TeamPolicy, business_ms, sla_elapsed_ms

__all__ = ["ClockState", "LiveCounts", "LiveRows", "LiveTotals", "add_live", "clock_state",
           "clocked_row", "live_at", "live_row"]

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
    __slots__ = ("agents", "overall", "teams")

    def __init__(self) -> None:
        self.overall = LiveCounts()
        self.teams: dict[str, LiveCounts] = {}
        self.agents: dict[str, LiveCounts] = {}


class _Kept(NamedTuple):
    row: LiveCounts
    from_ms: int
    until_ms: int


class LiveRows:
    """Conversations' live rows (:func:`live_row`), kept from one report to the next while
    they cannot have changed.

    A row changes with the as-of only where an SLA clock crosses the at-risk share of its
    target or the target. The time an SLA counts grows by at most one ms per ms of as-of
    (business hours and pauses only slow it), so a row computed at ``A`` with ``e`` ms
    counted holds until ``A + (threshold − e)``, and a breaching row holds for good; an
    earlier as-of computes the row again. Rows are kept by summary (equal summaries, equal
    rows) for the summaries the last report used."""

    __slots__ = ("_last", "_now", "_ratio", "policy")

    def __init__(self, policy: TeamPolicy) -> None:
        self.policy = policy
        self._last: dict[LiveSummary, _Kept] = {}
        self._now: dict[LiveSummary, _Kept] = {}
        self._ratio: float | None = None

    def row(self, summary: LiveSummary, as_of_ms: int, at_risk_ratio: float) -> LiveCounts:
        """The summary's row at ``as_of_ms`` (``oldest_awaiting_ms`` left None: it moves with
        every as-of, :func:`add_live` takes it from the summary)."""
        if at_risk_ratio != self._ratio:
            self._last, self._now, self._ratio = {}, {}, at_risk_ratio
        kept = self._now.get(summary) or self._last.get(summary)
        if kept is None or not kept.from_ms <= as_of_ms <= kept.until_ms:
            row, until = live_row(summary, as_of_ms, self.policy, at_risk_ratio)
            kept = _Kept(row, as_of_ms, until)
        self._now[summary] = kept
        return kept.row

    def end_report(self) -> None:
        """The report is done: keep the rows it used, forget the others."""
        self._last, self._now = self._now, {}


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
    wait (see :func:`add_live`), and the last as-of (ms, inclusive) it holds for."""
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


def live_at(summary: LiveSummary, as_of_ms: int) -> bool:
    """Whether a conversation live now was live at ``as_of_ms``: not when it was created after
    it (a report of an earlier time, while a backfill or a clock ahead brings later events)."""
    return summary.created_at <= as_of_ms


def add_live(totals: LiveTotals, summary: LiveSummary, row: LiveCounts, as_of_ms: int,
             levels: tuple[str, ...]) -> None:
    """Add a conversation's row to its ``levels`` of ``totals``, with its wait for a first
    response at ``as_of_ms``."""
    team, assignee = summary.team, summary.assignee
    since = summary.awaiting_since
    oldest = None if since is None else as_of_ms - since
    if "overall" in levels:
        totals.overall.add(row, oldest)
    if "teams" in levels and team is not None:
        _counts(totals.teams, team).add(row, oldest)
    if "agents" in levels and assignee is not None:
        _counts(totals.agents, assignee).add(row, oldest)


def _counts(table: dict[str, LiveCounts], key: str) -> LiveCounts:
    counts = table.get(key)
    if counts is None:
        counts = table[key] = LiveCounts()
    return counts

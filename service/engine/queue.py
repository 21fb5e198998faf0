"""The conversations behind the live counts (SPEC §6, "Conversations behind the counts").

A conversation is in a state exactly when its live row (:func:`~service.engine.live.
clocked_row`, as the live counts build it) counts it there, so the length of a listing equals
the live count of the same state, team or agent and as-of. Most urgent first: by seconds left
on the running response clock (the most overdue first), then conversations without a running
clock, oldest first.

``seconds_left`` is what the SLA still counts before its target, in seconds: business seconds
for a target in business hours, paused statuses left out; negative once breached. ``deadline``
is the instant the clock reaches its target if nothing pauses it from the as-of on (business
hours applied); None while no clock runs or while the clock is paused, since a paused clock has
no deadline until it resumes.
"""

from collections.abc import Iterable
from typing import Any, Literal, NamedTuple, get_args

from service.engine.fold import LiveSummary
from service.engine.live import ClockState, LiveCounts, clock_state, clocked_row, live_at
from service.engine.panes import DAY_MS
from service.engine.records import format_time
from service.engine.sla import TeamPolicy, sla_elapsed_ms
from service.names import merge_names

__all__ = ["DEFAULT_QUEUE_LIMIT", "QUEUE_STATES", "QueueEntry", "QueueState",
           "conversation_queue", "merge_queues", "queue_listing"]

QueueState = Literal["breaching", "at_risk", "awaiting_first_response", "unassigned",
                     "waiting_on_customer", "open"]
QUEUE_STATES: tuple[str, ...] = get_args(QueueState)
DEFAULT_QUEUE_LIMIT = 50
_SEARCH_MS = 400 * DAY_MS
"""How far past the as-of a deadline is looked for (a calendar with no hours for that long has
none)."""

_ROW_FIELD = {"breaching": "sla_breaching", "at_risk": "sla_at_risk",
              "awaiting_first_response": "awaiting_first_response", "unassigned": "unassigned",
              "waiting_on_customer": "waiting_on_customer", "open": "open"}


class QueueEntry(NamedTuple):
    """One conversation of a listing; times in epoch ms."""

    conversation_id: str
    team: str | None
    agent: str | None
    priority: str
    channel: str
    status: str
    created_at: int
    clock: str | None
    """first_response, next_response, or None when no response clock runs."""
    clock_started_at: int | None
    deadline: int | None
    seconds_left: float | None

    def to_json(self) -> dict[str, Any]:
        """The SPEC §6 form: times as RFC 3339 strings."""
        return {"conversation_id": self.conversation_id, "team": self.team,
                "agent": self.agent, "priority": self.priority, "channel": self.channel,
                "status": self.status, "created_at": format_time(self.created_at),
                "clock": self.clock,
                "clock_started_at": _time(self.clock_started_at),
                "deadline": _time(self.deadline), "seconds_left": self.seconds_left}


def _time(at_ms: int | None) -> str | None:
    return None if at_ms is None else format_time(at_ms)


def _urgency(entry: QueueEntry) -> tuple[bool, float, int, str]:
    left = entry.seconds_left
    return left is None, 0.0 if left is None else left, entry.created_at, entry.conversation_id


def conversation_queue(live: Iterable[tuple[str, LiveSummary]], state: str, as_of_ms: int,
                       policy: TeamPolicy, at_risk_ratio: float, team: str | None = None,
                       agent: str | None = None, limit: int | None = DEFAULT_QUEUE_LIMIT
                       ) -> tuple[list[QueueEntry], int]:
    """(the ``limit`` most urgent of the ``live`` conversations (id, live summary) in
    ``state`` at ``as_of_ms``, how many are in it), for ``team`` and ``agent`` (the assignee)
    when given; one created after ``as_of_ms`` is not live then (:func:`live_at`).

    Raises ValueError for a state outside :data:`QUEUE_STATES`."""
    field = _ROW_FIELD.get(state)
    if field is None:
        raise ValueError(f"state must be one of {', '.join(QUEUE_STATES)}, not {state!r}")
    found: list[tuple[QueueEntry, LiveSummary, ClockState | None]] = []
    for conversation_id, summary in live:
        if (team is not None and summary.team != team) or (
                agent is not None and summary.assignee != agent) or not live_at(summary,
                                                                              as_of_ms):
            continue
        clock = clock_state(summary, as_of_ms, policy)
        row: LiveCounts = clocked_row(summary, clock, as_of_ms, at_risk_ratio)[0]
        if not getattr(row, field):
            continue
        left = None if clock is None else (clock.target - clock.elapsed) / 1000
        entry = QueueEntry(conversation_id, summary.team, summary.assignee,
                           summary.priority, summary.channel, summary.status, summary.created_at,
                           summary.clock, summary.clock_start, None, left)
        found.append((entry, summary, clock))
    found.sort(key=lambda item: _urgency(item[0]))
    chosen = found if limit is None else found[:limit]
    return [entry._replace(deadline=None if clock is None
                           else deadline_ms(clock, summary, as_of_ms, policy))
            for entry, summary, clock in chosen], len(found)


def queue_listing(live: Iterable[tuple[str, LiveSummary]], state: str, as_of_ms: int,
                  policy: TeamPolicy, at_risk_ratio: float, team: str | None = None,
                  agent: str | None = None, limit: int | None = DEFAULT_QUEUE_LIMIT
                  ) -> dict[str, Any]:
    """The ``GET /conversations`` answer: ``{"as_of", "state", "total", "conversations"}``
    (see :func:`conversation_queue`; raises ValueError likewise)."""
    entries, total = conversation_queue(live, state, as_of_ms, policy, at_risk_ratio, team,
                                        agent, limit)
    return {"as_of": format_time(as_of_ms), "state": state, "total": total,
            "conversations": [entry.to_json() for entry in entries]}


def deadline_ms(clock: ClockState, summary: LiveSummary, as_of_ms: int,
                policy: TeamPolicy) -> int | None:
    """The first instant (epoch ms) the clock counts its whole target, with no pause after
    ``as_of_ms``; None while it is paused or when the calendar has no hours for 400 days."""
    if not clock.business and not clock.pause_while:
        return clock.start + clock.target
    paused = any(wait.stop is None and wait.status in clock.pause_while
                 for wait in summary.waits)
    if paused and clock.elapsed < clock.target:
        return None
    calendar = policy.team(summary.team).calendar

    def counted(at_ms: int) -> int:
        return sla_elapsed_ms(calendar, clock.business, clock.pause_while, summary.waits,
                              clock.start, at_ms)

    low, high = clock.start, as_of_ms
    if clock.elapsed < clock.target:
        low, high = as_of_ms, as_of_ms + (clock.target - clock.elapsed)
        while counted(high) < clock.target:
            if high - as_of_ms > _SEARCH_MS:
                return None
            low, high = high, as_of_ms + 2 * (high - as_of_ms)
    while low < high:
        middle = (low + high) // 2
        if counted(middle) >= clock.target:
            high = middle
        else:
            low = middle + 1
    return high


def merge_queues(listings: Iterable[dict[str, Any]], limit: int | None) -> dict[str, Any]:
    """One listing from the ``/conversations`` answers of several workers: each conversation
    once, most urgent first, ``limit`` of them; ``total`` summed (a conversation listed by two
    workers during a rebalance counts once); the display names (``names``) of the teams and
    agents listed, from whichever worker gave them."""
    listings = list(listings)
    seen: dict[str, dict[str, Any]] = {}
    first: dict[str, Any] = {}
    total = 0
    for listing in listings:
        first = first or listing
        total += listing.get("total", 0)
        for entry in listing.get("conversations", []):
            if entry["conversation_id"] in seen:
                total -= 1
            seen[entry["conversation_id"]] = entry
    entries = sorted(seen.values(), key=lambda e: (
        e["seconds_left"] is None, e["seconds_left"] or 0.0, e["created_at"],
        e["conversation_id"]))
    listed = entries if limit is None else entries[:limit]
    merged = merge_names(listings, {
        "as_of": first.get("as_of"), "state": first.get("state"), "total": total,
        "conversations": listed})
    names = merged.get("names")
    if names is not None:
        keys = {"teams": {e.get("team") for e in listed},
                "agents": {e.get("agent") for e in listed}}
        kept = {level: {k: v for k, v in held.items() if k in keys[level]}
                for level, held in names.items()}
        if any(kept.values()):
            merged["names"] = kept
        else:
            del merged["names"]
    return merged

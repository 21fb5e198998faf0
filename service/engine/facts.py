"""Facts: what a conversation contributes to the KPIs, each with a deterministic id.

A fact is a typed tuple (one :class:`~typing.NamedTuple` per shape, the memory of a plain
tuple) that starts with ``fact_id, kind, at, team, agent``; ``at`` is the time of its stop
event (epoch ms), which places it in a pane. A conversation emits *changes* ``(old, new)``: an
added fact has ``old=None``, a retracted one ``new=None``; a late event that changes a fact
already counted emits both, so the aggregates subtract the old contribution and add the new.
Ids are stable across processes and restarts, so a consumer can de-duplicate by id.

Durations are integer milliseconds; an SLA result is 1 (achieved) or 0 (breached).
"""

from collections.abc import Sequence
from typing import Any, NamedTuple

__all__ = [
    "F_ABANDONED",
    "F_AFTER_HANDOFF",
    "F_ASSIGNED",
    "F_BOT_RESOLVED",
    "F_BUSY",
    "F_CLOSED",
    "F_CREATED",
    "F_FIRST_RESPONSE",
    "F_FULL_RESOLVED",
    "F_HANDED_OFF",
    "F_NEXT_RESPONSE",
    "F_RATING",
    "F_REOPENED",
    "F_RESOLVED",
    "F_REVIEW",
    "KIND_NAMES",
    "Assigned",
    "Busy",
    "Closed",
    "Duration",
    "Fact",
    "FactChange",
    "Marker",
    "Rating",
    "Resolved",
    "Response",
    "Review",
    "fact_from",
    "fact_set_changes",
]

F_CREATED = 0  # Marker
F_ASSIGNED = 1  # Assigned
F_FIRST_RESPONSE = 2  # Response
F_NEXT_RESPONSE = 3  # Response
F_RESOLVED = 4  # Resolved
F_CLOSED = 5  # Closed
F_REOPENED = 6  # Marker
F_ABANDONED = 7  # Marker
F_RATING = 8  # Rating
F_REVIEW = 9  # Review
F_BUSY = 10  # Busy: the agent is assignee while a response is awaited
F_FULL_RESOLVED = 11  # Duration: created → the latest resolution; one per conversation
F_HANDED_OFF = 12  # Marker: the first handoff (explicit, or the reopen of a bot resolution)
F_BOT_RESOLVED = 13  # Marker: a first resolution by the bot alone; retracted by a reopen
F_AFTER_HANDOFF = 14  # Duration: the first handoff → the next human response

KIND_NAMES = {
    F_CREATED: "created", F_ASSIGNED: "assigned", F_FIRST_RESPONSE: "first_response",
    F_NEXT_RESPONSE: "next_response", F_RESOLVED: "resolved", F_CLOSED: "closed",
    F_REOPENED: "reopened", F_ABANDONED: "abandoned", F_RATING: "rating", F_REVIEW: "review",
    F_BUSY: "busy", F_FULL_RESOLVED: "full_resolution", F_HANDED_OFF: "handed_off",
    F_BOT_RESOLVED: "bot_resolved", F_AFTER_HANDOFF: "first_response_after_handoff",
}
"""What each fact kind is called where people read it (``/explain``)."""


class Marker(NamedTuple):
    """A fact that counts once: created, reopened, abandoned, handed off, bot resolved."""

    fact_id: str
    kind: int
    at: int
    team: str | None
    agent: str | None


class Assigned(NamedTuple):
    fact_id: str
    kind: int
    at: int
    team: str | None
    agent: str | None
    pulled: int
    """1 when the agent took it from the queue (method=pull), else 0."""


class Response(NamedTuple):
    """A first or next response: its clock in ms (from ``at - ms`` to ``at``), in business ms,
    the SLA result, and the ms the SLA paused."""

    fact_id: str
    kind: int
    at: int
    team: str | None
    agent: str | None
    ms: int
    business_ms: int
    sla_achieved: int
    paused_ms: int = 0
    """Of the clock, the time in a status of the SLA's ``pause_while`` (business ms when the
    SLA counts business hours): the SLA counted ``ms`` (or ``business_ms``) less this."""


class Resolved(NamedTuple):
    """The first resolution: resolution time (from ``at - ms`` to ``at``) and its SLA result,
    the open (wait) time, FCR (1 one-touch, 0 more touches, None without a human response) and
    the ms the SLA paused."""

    fact_id: str
    kind: int
    at: int
    team: str | None
    agent: str | None
    ms: int
    business_ms: int
    sla_achieved: int
    wait_ms: int
    fcr: int | None
    wait_business_ms: int
    paused_ms: int = 0
    """As :attr:`Response.paused_ms`, for the resolution SLA."""


class Closed(NamedTuple):
    fact_id: str
    kind: int
    at: int
    team: str | None
    agent: str | None
    ms: int | None
    """created → closed, None when the creation is unknown."""


class Duration(NamedTuple):
    """A clock without an SLA: full resolution, first response after a handoff."""

    fact_id: str
    kind: int
    at: int
    team: str | None
    agent: str | None
    ms: int
    business_ms: int


class Rating(NamedTuple):
    fact_id: str
    kind: int
    at: int
    team: str | None
    agent: str | None
    survey: str
    score: int
    about: str
    comment: str | None


class Review(NamedTuple):
    fact_id: str
    kind: int
    at: int
    team: str | None
    agent: str | None
    score_milli: int
    """The QA score in thousandths (sums stay exact integers)."""
    reviewer: str | None


class Busy(NamedTuple):
    """The agent is assignee while a response is awaited: [start_ms, end_ms), end None while
    it lasts. Feeds occupancy; no pane."""

    fact_id: str
    kind: int
    at: int
    team: str | None
    agent: str
    start_ms: int
    end_ms: int | None


Fact = Marker | Assigned | Response | Resolved | Closed | Duration | Rating | Review | Busy
FactChange = tuple[Fact | None, Fact | None]

_new = tuple.__new__
_SHAPES: dict[int, Any] = {
    F_CREATED: Marker, F_REOPENED: Marker, F_ABANDONED: Marker, F_HANDED_OFF: Marker,
    F_BOT_RESOLVED: Marker, F_ASSIGNED: Assigned, F_FIRST_RESPONSE: Response,
    F_NEXT_RESPONSE: Response, F_RESOLVED: Resolved, F_CLOSED: Closed, F_RATING: Rating,
    F_REVIEW: Review, F_BUSY: Busy, F_FULL_RESOLVED: Duration, F_AFTER_HANDOFF: Duration,
}


_SIZED = {kind: (shape, len(shape._fields)) for kind, shape in _SHAPES.items()}


def fact_from(values: Sequence[Any]) -> Fact:
    """The typed fact of a decoded sequence (a JSON list): its shape from ``values[1]``, the
    kind. Raises KeyError for an unknown kind, TypeError for a wrong number of values."""
    shape, size = _SIZED[values[1]]
    if len(values) != size:
        raise TypeError(f"a {shape.__name__} fact has {size} values, not {len(values)}")
    fact: Fact = _new(shape, values)  # the shape's __new__ without its per-field call
    return fact


def fact_set_changes(before: dict[str, Fact], after: dict[str, Fact]) -> list[FactChange]:
    """The changes that turn one set of facts (by id) into another."""
    changes: list[FactChange] = []
    for fid, old in before.items():
        new = after.get(fid)
        if new != old:
            changes.append((old, new))
    for fid, new in after.items():
        if fid not in before:
            changes.append((None, new))
    return changes

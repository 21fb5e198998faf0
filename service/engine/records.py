"""Validated events as compact tuples, the form the engine stores and sorts.

A conversation keeps its events so that a late or out-of-order arrival can be put in its place
and the conversation folded again; a tuple of interned strings and small ints is a fraction of a
pydantic model's size: a :class:`Record`.
"""

import hashlib
import sys
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from schemas import BaseEvent

__all__ = [
    "K_ABANDONED",
    "K_ASSIGNED",
    "K_CREATED",
    "K_HANDED_OFF",
    "K_MESSAGE",
    "K_PRESENCE",
    "K_RATING",
    "K_REVIEW",
    "K_STATUS",
    "K_UNASSIGNED",
    "Record",
    "fingerprint",
    "format_time",
    "to_epoch_ms",
    "to_record",
]

class Record(NamedTuple):
    """One validated event. ``a``, ``b``, ``c``, ``d`` by kind: message (author, automated,
    internal), status (status, by, None), assigned (method), created (channel, priority,
    initiator), rating (survey, score, about, comment), review (score in thousandths,
    reviewer id), presence (status)."""

    at: int
    """Event time, epoch ms."""
    seq: int
    """Arrival order: breaks ties between equal ``at``."""
    fingerprint: int
    """:func:`fingerprint` of the event id."""
    kind: int
    team: str | None
    agent: str | None
    a: Any
    b: Any
    c: Any
    d: Any = None

K_CREATED, K_ASSIGNED, K_UNASSIGNED, K_MESSAGE, K_STATUS = 0, 1, 2, 3, 4
K_ABANDONED, K_RATING, K_REVIEW, K_PRESENCE, K_HANDED_OFF = 5, 6, 7, 8, 9

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_intern = sys.intern


def to_epoch_ms(at: datetime) -> int:
    """Exact integer milliseconds (float timestamps can be off by one)."""
    return (at - _EPOCH) // _MS


def format_time(at_ms: int) -> str:
    """RFC 3339 in UTC with milliseconds, from integer epoch ms (exact to the millisecond)."""
    text = (_EPOCH + timedelta(milliseconds=at_ms)).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def fingerprint(event_id: str) -> int:
    """A stable 64-bit digest of an event id: smaller than the id, the same in every process."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest())


def _opt(value: str | None) -> str | None:
    return None if value is None else _intern(value)


def to_record(event: BaseEvent, seq: int) -> Record:
    e: Any = event
    at = to_epoch_ms(e.at)
    fp = fingerprint(e.id)
    team = _opt(e.team)
    kind = e.type
    if kind == "message.created":
        return Record(at, seq, fp, K_MESSAGE, team,
                      _opt(e.agent_id), e.author, e.automated, e.internal)
    if kind == "conversation.status_changed":
        return Record(at, seq, fp, K_STATUS, team, _opt(e.agent_id), e.status, e.by, None)
    if kind == "conversation.assigned":
        return Record(at, seq, fp, K_ASSIGNED, team, _intern(e.agent_id), e.method, None, None)
    if kind == "conversation.created":
        return Record(at, seq, fp, K_CREATED, team,
                      _opt(e.agent_id), e.channel, e.priority, e.initiator)
    if kind == "conversation.unassigned":
        return Record(at, seq, fp, K_UNASSIGNED, team, _opt(e.agent_id), None, None, None)
    if kind == "conversation.abandoned":
        return Record(at, seq, fp, K_ABANDONED, team, _opt(e.agent_id), None, None, None)
    if kind == "rating.submitted":
        return Record(at, seq, fp, K_RATING, team, _opt(e.agent_id), e.survey, e.score, e.about,
                      e.comment)
    if kind == "review.submitted":
        return Record(at, seq, fp, K_REVIEW, team,
                      _intern(e.agent_id), round(e.score * 1000), _opt(e.reviewer_id), None)
    if kind == "conversation.handed_off":
        return Record(at, seq, fp, K_HANDED_OFF, team, _opt(e.agent_id), None, None, None)
    if kind == "agent.status_changed":
        return Record(at, seq, fp, K_PRESENCE, team, _intern(e.agent_id), e.status, None, None)
    raise ValueError(f"unknown event type {kind!r}")

"""The deltas topic's messages (internal, versioned): encode and decode side by side.

A message is one :class:`~service.engine.deltas.OwnerDeltas` as a JSON array, ``[version,
source, panes, marks, feedback, attention, live, presence, segments, resync]``, facts,
summaries, records and segments as arrays of their fields. A message of another version, or one
that does not decode, raises :class:`BadDelta` naming what is wrong: the worker dead-letters it
(reason ``undecodable_delta``) and says so in ``/readyz``; it never stops.
"""

from typing import Any

import orjson

from service.engine.deltas import DELTAS_VERSION, OwnerDeltas, Source
from service.engine.facts import Rating, Review, fact_from
from service.engine.fold import LiveSummary
from service.engine.owner_keys import owner_of_code
from service.engine.presence import Segment, SegmentChange
from service.engine.records import Record

__all__ = ["BadDelta", "decode_deltas", "encode_deltas", "summary_values"]


class BadDelta(ValueError):
    """A message of the deltas topic this worker cannot decode; the text says why."""


def summary_values(summary: LiveSummary) -> list[Any]:
    """A live summary as a JSON-ready list (its waits as lists)."""
    values: list[Any] = list(summary)
    values[7] = [list(w) for w in summary.waits]
    return values


def _segments(segments: tuple[Segment, ...]) -> list[Any]:
    return [tuple(s) for s in segments]


def encode_deltas(deltas: OwnerDeltas, max_bytes: int) -> list[bytes]:
    """The message, split into parts of at most about ``max_bytes`` when larger (each part a
    whole message with the same source). Every additive part of one row (an owner's pane of
    one minute) stays in one part: the owner stage applies a row once per source offset."""
    source = deltas.source
    head = [source.partition, source.first, source.last, source.watermark_ms, source.origin_ms]
    rows = {key: n for n, key in enumerate(deltas.row_keys())}
    additive: list[list[tuple[Any, list[Any]]]] = [
        [((owner, minute), [owner.code, minute, [x for item in pane.items() for x in item]])
         for (owner, minute), pane in deltas.panes.items()],
        [((owner, minute), [owner.key, minute, [[at, team, count]
                                                for (at, team), count in marks.items()]])
         for (owner, minute), marks in deltas.marks.items()],
    ]
    absolute: list[list[Any]] = [
        [[owner.code, [[fid, None if fact is None else tuple(fact)]
                       for fid, fact in facts.items()]]
         for owner, facts in deltas.feedback.items()],
        [[agent, [[fid, *(interval if interval is not None else (0, None)),
                   interval is not None] for fid, interval in intervals.items()]]
         for agent, intervals in deltas.attention.items()],
        [[owner.code, [[cid, None if s is None else summary_values(s)]
                       for cid, s in summaries.items()]]
         for owner, summaries in deltas.live.items()],
        [[agent, [tuple(r) for r in records]] for agent, records in deltas.presence.items()],
        [[owner.code, agent, _segments(change.removed), _segments(change.added)]
         for (owner, agent), change in deltas.segments.items()],
        [[owner.code, agent, _segments(segments)]
         for (owner, agent), segments in deltas.resync.items()],
    ]
    raw = orjson.dumps([DELTAS_VERSION, head, *([v for _, v in section] for section in additive),
                        *absolute])
    items = len(rows) + sum(len(section) for section in absolute)
    if len(raw) <= max_bytes or items <= 1:
        return [raw]
    parts = min(items, -(-len(raw) * 5 // (max_bytes * 4)))
    out: list[bytes] = []
    for part in range(parts):
        message = [DELTAS_VERSION, head,
                   *([v for key, v in section if rows[key] % parts == part]
                     for section in additive),
                   *(section[part::parts] for section in absolute)]
        if any(message[2:]):
            out.append(orjson.dumps(message))
    return out


def decode_deltas(raw: bytes | None) -> OwnerDeltas:
    """Raises BadDelta naming the problem."""
    if raw is None:
        raise BadDelta("no value")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BadDelta(f"not JSON: {error}") from None
    if not isinstance(data, list) or not data:
        raise BadDelta("not a deltas message (a JSON array with a version first)")
    if data[0] != DELTAS_VERSION:
        raise BadDelta(f"version {data[0]!r}, this worker reads version {DELTAS_VERSION} "
                       "(a worker of another release wrote it)")
    try:
        return _decode(data)
    except (TypeError, ValueError, KeyError, IndexError) as error:
        raise BadDelta(f"{type(error).__name__}: {error}") from None


_SECTIONS = 10
_HEAD = 5


def _decode(data: list[Any]) -> OwnerDeltas:
    if len(data) != _SECTIONS:
        raise ValueError(f"{len(data)} sections, expected {_SECTIONS}")
    _, head, panes, marks, feedback, attention, live, presence, segments, resync = data
    if not isinstance(head, list) or len(head) != _HEAD:
        raise ValueError(f"source {head!r}: expected {_HEAD} values (partition, first, last, "
                         "watermark, origin)")
    deltas = OwnerDeltas(Source(*head))
    for code, minute, flat in panes:
        deltas.panes[(owner_of_code(code), minute)] = dict(zip(flat[::2], flat[1::2],
                                                                strict=True))
    for agent, minute, items in marks:
        deltas.marks[(owner_of_code("a:" + agent), minute)] = {
            (at, team): count for at, team, count in items}
    for code, items in feedback:
        held: dict[str, Rating | Review | None] = {}
        for fid, values in items:
            fact = None if values is None else fact_from(values)
            if fact is not None and not isinstance(fact, Rating | Review):
                raise ValueError(f"feedback {fid!r} is not a rating or review")
            held[fid] = fact
        deltas.feedback[owner_of_code(code)] = held
    for agent, items in attention:
        deltas.attention[agent] = {fid: (start, end) if present else None
                                   for fid, start, end, present in items}
    for code, items in live:
        deltas.live[owner_of_code(code)] = {
            cid: None if values is None else LiveSummary.decode(values) for cid, values in items}
    for agent, records in presence:
        deltas.presence[agent] = [Record(*r) for r in records]
    for code, agent, removed, added in segments:
        deltas.segments[(owner_of_code(code), agent)] = SegmentChange(
            tuple(Segment(*s) for s in removed), tuple(Segment(*s) for s in added))
    for code, agent, held in resync:
        deltas.resync[(owner_of_code(code), agent)] = tuple(Segment(*s) for s in held)
    return deltas

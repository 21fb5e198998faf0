"""The deltas topic's messages (internal, versioned): encode and decode side by side.

A message is one :class:`~service.engine.deltas.OwnerDeltas` as a JSON array, ``[version,
source, panes, marks, feedback, attention, live, presence, segments, resync, names]``, facts,
summaries, records and segments as arrays of their fields (version 1, read too, has no
``names``). A message of another version, or one
that does not decode, raises :class:`BadDelta` naming what is wrong: the worker dead-letters it
(reason ``undecodable_delta``) and says so in ``/readyz``; it never stops.
"""

from typing import Any

import orjson

from service.engine.deltas import DELTAS_VERSION, OwnerDeltas, Source, merge_changes
from service.engine.facts import Rating, Review, fact_from
from service.engine.fold import LiveSummary
from service.engine.learned_names import Sighting, keep_latest
from service.engine.owner_keys import owner_of_code
from service.engine.presence import Segment, SegmentChange
from service.engine.records import Record
from service.stream.rows import dumps

__all__ = ["BadDelta", "decode_deltas", "encode_deltas"]


class BadDelta(ValueError):
    """A message of the deltas topic this worker cannot decode; the text says why."""


def _segments(segments: tuple[Segment, ...]) -> list[Any]:
    return [tuple(s) for s in segments]


_PREFIX = (2, 2, 1, 1, 1, 1, 2, 2, 3)
"""Per section (panes, marks, feedback, attention, live, presence, segments, resync, names):
how many leading fields of an item name what it is about; the rest are lists of values (a
name's item is whole: owner, time, name)."""
_PANES, _MARKS, _SEGMENTS, _RESYNC, _NAMES = 0, 1, 6, 7, 8

_Unit = list[tuple[int, bytes]]
"""Encoded items that must travel in one part, each with its section."""


def encode_deltas(deltas: OwnerDeltas, max_bytes: int) -> list[bytes]:
    """The message, split into parts of at most ``max_bytes`` when larger (each part a whole
    message with the same source, in the order to apply them); a part exceeds the bound only
    for one value larger than it by itself. Each item is encoded once and the parts are
    joined from the encoded items (held as exact-size copies, :func:`~service.stream.rows.dumps`).

    What may not be divided stays whole: the additive entries of one row (an owner's pane of
    one minute, which the owner stage applies once per source offset) and the first part of a
    resync (it replaces what the owner held; the rest of its segments follow as additions).
    An item larger than half the bound (one owner's live summaries, one agent's presence) is
    divided value by value, each value an item of its own that the decoder merges with its
    neighbours: feedback, attention and live summaries by id, presence by record, a segment
    change's removals before its additions."""
    source = deltas.source
    head_values = [source.partition, source.first, source.last, source.watermark_ms,
                   source.origin_ms]
    head = orjson.dumps([DELTAS_VERSION, head_values])[:-1]
    sections = _sections(deltas)
    raw = orjson.dumps([DELTAS_VERSION, head_values, *sections])
    if len(raw) <= max_bytes:
        return [raw]
    encoded = [[dumps(item) for item in items] for items in sections]
    frame = len(head) + 3 * len(_PREFIX) + 2
    return [_join(head, part)
            for part in _pack(_units(sections, encoded, max_bytes // 2), max_bytes - frame)]


def _join(head: bytes, sections: list[list[bytes]]) -> bytes:
    return b"".join([head, *(b",[" + b",".join(items) + b"]" for items in sections), b"]"])


def _sections(deltas: OwnerDeltas) -> list[list[list[Any]]]:
    summaries: dict[int, list[Any]] = {}

    def summary(s: LiveSummary) -> list[Any]:
        values = summaries.get(id(s))
        if values is None:
            values = summaries[id(s)] = s.values()
        return values

    return [
        [[owner.code, minute, [x for item in pane.items() for x in item]]
         for (owner, minute), pane in deltas.panes.items()],
        [[owner.key, minute, [[at, team, count] for (at, team), count in marks.items()]]
         for (owner, minute), marks in deltas.marks.items()],
        [[owner.code, [[fid, None if fact is None else tuple(fact)]
                       for fid, fact in facts.items()]]
         for owner, facts in deltas.feedback.items()],
        [[agent, [[fid, *(interval if interval is not None else (0, None)),
                   interval is not None] for fid, interval in intervals.items()]]
         for agent, intervals in deltas.attention.items()],
        [[owner.code, [[cid, None if s is None else summary(s)] for cid, s in items.items()]]
         for owner, items in deltas.live.items()],
        [[agent, [tuple(r) for r in records]] for agent, records in deltas.presence.items()],
        [[owner.code, agent, _segments(change.removed), _segments(change.added)]
         for (owner, agent), change in deltas.segments.items()],
        [[owner.code, agent, _segments(segments)]
         for (owner, agent), segments in deltas.resync.items()],
        [[owner.code, at, name] for owner, (at, name) in deltas.names.items()],
    ]


def _units(sections: list[list[list[Any]]], encoded: list[list[bytes]], large: int
           ) -> list[_Unit]:
    """The items as units to pack, in the order they must be applied; items of more than
    ``large`` bytes divided into items of one value."""
    units: list[_Unit] = []
    marks = {(item[0], item[1]): n for n, item in enumerate(sections[_MARKS])}
    for item, raw in zip(sections[_PANES], encoded[_PANES], strict=True):
        unit = [(_PANES, raw)]
        owner = owner_of_code(item[0])
        mark = marks.pop((owner.key, item[1]), None) if owner.level == "agent" else None
        if mark is not None:
            unit.append((_MARKS, encoded[_MARKS][mark]))
        units.append(unit)
    units += [[(_MARKS, encoded[_MARKS][n])] for n in marks.values()]
    for section in (*range(2, _SEGMENTS), _RESYNC, _SEGMENTS):
        for item, raw in zip(sections[section], encoded[section], strict=True):
            if len(raw) <= large:
                units.append([(section, raw)])
                continue
            prefix = item[:_PREFIX[section]]
            if section == _RESYNC:
                segments = item[2]
                cut = _fitting(segments, large)
                units.append([(_RESYNC, dumps([*prefix, segments[:cut]]))])
                units += [[(_SEGMENTS, dumps([*prefix, [], [s]]))] for s in segments[cut:]]
            elif section == _SEGMENTS:
                units += [[(_SEGMENTS, dumps([*prefix, [s], []]))] for s in item[2]]
                units += [[(_SEGMENTS, dumps([*prefix, [], [s]]))] for s in item[3]]
            else:
                units += [[(section, dumps([*prefix, [value]]))] for value in item[1]]
    units += [[(_NAMES, raw)] for raw in encoded[_NAMES]]
    return units


def _fitting(values: list[Any], max_bytes: int) -> int:
    """How many of the first ``values`` fit ``max_bytes`` encoded (at least one)."""
    size = 0
    for n, value in enumerate(values):
        size += len(orjson.dumps(value)) + 1
        if n and size > max_bytes:
            return n
    return len(values)


def _pack(units: list[_Unit], max_bytes: int) -> list[list[list[bytes]]]:
    """Units into as few parts as fit ``max_bytes`` (besides the message's frame), in
    order."""
    parts: list[list[list[bytes]]] = []
    part: list[list[bytes]] = [[] for _ in _PREFIX]
    size = 0
    for unit in units:
        cost = sum(len(raw) + 1 for _, raw in unit)
        if size and size + cost > max_bytes:
            parts.append(part)
            part = [[] for _ in _PREFIX]
            size = 0
        size += cost
        for section, raw in unit:
            part[section].append(raw)
    if size:
        parts.append(part)
    return parts


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
    if type(data[0]) is not int or data[0] not in _SECTIONS:
        raise BadDelta(f"version {data[0]!r}, this worker reads versions "
                       f"{', '.join(map(str, _SECTIONS))} (a worker of another release wrote it)")
    try:
        return _decode(data)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
        raise BadDelta(f"{type(error).__name__}: {error}") from None


_SECTIONS = {1: 10, DELTAS_VERSION: 11}
"""Version → the length of its messages' array."""
_HEAD = 5


def _decode(data: list[Any]) -> OwnerDeltas:
    expected = _SECTIONS[data[0]]
    if len(data) != expected:
        raise ValueError(f"{len(data)} sections, expected {expected}")
    _, head, panes, marks, feedback, attention, live, presence, segments, resync = data[:10]
    names = data[10] if len(data) > 10 else []
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
        deltas.feedback.setdefault(owner_of_code(code), {}).update(held)
    for agent, items in attention:
        deltas.attention.setdefault(agent, {}).update(
            (fid, (start, end) if present else None) for fid, start, end, present in items)
    for code, items in live:
        deltas.live.setdefault(owner_of_code(code), {}).update(
            (cid, None if values is None else LiveSummary.decode(values))
            for cid, values in items)
    for agent, records in presence:
        deltas.presence.setdefault(agent, []).extend(Record(*r) for r in records)
    for code, agent, removed, added in segments:
        change = SegmentChange(tuple(Segment(*s) for s in removed),
                               tuple(Segment(*s) for s in added))
        key = (owner_of_code(code), agent)
        known = deltas.segments.get(key)
        deltas.segments[key] = change if known is None else merge_changes(known, change)
    for code, agent, held in resync:
        deltas.resync[(owner_of_code(code), agent)] = tuple(Segment(*s) for s in held)
    for code, at, name in names:
        if type(at) is not int or not isinstance(name, str):
            raise ValueError(f"name of {code!r}: expected a time (ms) and a string")
        keep_latest(deltas.names, owner_of_code(code), Sighting(at, name))
    return deltas

"""The stages' rows: their keys, and their values encoded and decoded side by side.

Every key starts with its partition and a kind, so that a partition's rows of one kind are one
prefix scan (also in a store shared by all partitions, as faust's ``memory://`` is). No row
grows with its key's history: a conversation's events are chunks of :data:`CHUNK_EVENTS` in
arrival order (an event rewrites the last chunk and the head), an owner's pane is one row per
minute, a presence event or an occupancy segment one row each.

The conversation stage (input partitions):

* ``h`` head of a conversation — [last event time, live, chunks, base fold or null, base time,
  base id chunks]
* ``e`` a chunk of its events (records), ``s`` a chunk of the ids folded into its base
* ``i`` the partition's intent: the last input offset whose deltas may have been sent
* ``w`` the partition's watermark

The owner stage (deltas partitions):

* ``p`` an owner's pane of one minute — [applied offset by source, pane entries, team marks]
* ``f`` a rating or review on an owner's feedback page; ``l`` a live summary an owner counts
* ``r`` an agent's presence event; ``c`` its carried team and horizon; ``a`` an attention
  interval
* ``g`` an occupancy segment a team or overall owner counts
* ``n`` a team's or agent's name learned from the events — [time, name]
* ``w`` the partition's watermark
"""

import zlib
from typing import Any

import orjson

from service.engine.facts import Fact, Rating, Review, fact_from
from service.engine.fold import ConversationFold, LiveSummary
from service.engine.owner_keys import Owner
from service.engine.presence import Segment
from service.engine.records import Record

__all__ = ["CHUNK_EVENTS", "SEEN_CHUNK", "Head", "PaneRow", "decode_records", "encode_records",
           "key", "pane_key_parts", "prefix"]

CHUNK_EVENTS = 64
"""Events per chunk row of a conversation."""
SEEN_CHUNK = 8192
"""Event ids (8 bytes each) per row of a conversation's base."""
SEP = b"\x1f"


def key(partition: int, kind: bytes, *parts: str | int) -> bytes:
    """``<partition>␟<kind>␟<part>␟…``."""
    return SEP.join((str(partition).encode(), kind,
                     *(str(p).encode() if isinstance(p, int) else p.encode() for p in parts)))


def prefix(partition: int, kind: bytes, *parts: str | int) -> bytes:
    """The prefix of the keys that :func:`key` makes with ``parts`` followed by more."""
    return key(partition, kind, *parts) + SEP


def key_parts(raw: bytes, count: int) -> list[str]:
    """The ``count`` parts after the partition and kind of a :func:`key`."""
    return [p.decode() for p in raw.split(SEP, 2 + count - 1)[2:]]


def dumps(value: Any) -> bytes:
    """JSON of ``value`` in an exact-size copy: orjson's output keeps its 4 KB working buffer,
    so 50,000 small rows held at once (one agent's presence in a batch) cost 200 MB."""
    return bytes(memoryview(orjson.dumps(value)))


def loads(raw: bytes) -> Any:
    return orjson.loads(raw)


# -- the conversation stage --------------------------------------------------------------------

class Head:
    """A conversation's head row."""

    __slots__ = ("base", "base_at", "chunks", "last_at", "live", "seen_chunks")

    def __init__(self, last_at: int, live: bool, chunks: int,
                 base: ConversationFold | None = None, base_at: int | None = None,
                 seen_chunks: int = 0) -> None:
        self.last_at, self.live, self.chunks = last_at, live, chunks
        self.base, self.base_at, self.seen_chunks = base, base_at, seen_chunks

    def encode(self) -> bytes:
        return dumps([self.last_at, self.live, self.chunks,
                      None if self.base is None else self.base.to_state(), self.base_at,
                      self.seen_chunks])

    @classmethod
    def decode(cls, raw: bytes) -> "Head":
        last_at, live, chunks, base, base_at, seen_chunks = loads(raw)
        return cls(last_at, live, chunks,
                   None if base is None else ConversationFold.from_state(base), base_at,
                   seen_chunks)


def encode_records(records: list[Record]) -> bytes:
    return dumps([tuple(r) for r in records])


def decode_records(raw: bytes) -> list[Record]:
    return [Record(*r) for r in loads(raw)]


def encode_seen(fingerprints: bytes) -> bytes:
    return zlib.compress(fingerprints, 1)


def decode_seen(raw: bytes) -> bytes:
    return zlib.decompress(raw)


# -- the owner stage ---------------------------------------------------------------------------

class PaneRow:
    """An owner's pane of one minute: the offsets applied from each source, the pane's entries
    and (an agent's) the team marks of that minute."""

    __slots__ = ("applied", "entries", "marks")

    def __init__(self, applied: dict[int, int], entries: dict[int, int],
                 marks: dict[tuple[int, str], int]) -> None:
        self.applied, self.entries, self.marks = applied, entries, marks

    def encode(self) -> bytes:
        return dumps([[x for item in self.applied.items() for x in item],
                      [x for item in self.entries.items() for x in item],
                      [[at, team, n] for (at, team), n in self.marks.items()]])

    @classmethod
    def decode(cls, raw: bytes) -> "PaneRow":
        applied, entries, marks = loads(raw)
        flat = iter(applied)
        pairs = iter(entries)
        return cls(dict(zip(flat, flat, strict=True)), dict(zip(pairs, pairs, strict=True)),
                   {(at, team): n for at, team, n in marks})


def pane_key_parts(raw: bytes, start: int) -> tuple[bytes, int]:
    """(owner code, minute) of a pane row's key, whose parts begin at ``start`` (the length of
    its :func:`prefix`): the minute is the last part, so a code holding the separator stays
    whole."""
    code, _, minute = raw[start:].rpartition(SEP)
    return code, int(minute)


def encode_fact(fact: Fact) -> bytes:
    return dumps(tuple(fact))


def decode_feedback(raw: bytes) -> Rating | Review:
    fact = fact_from(loads(raw))
    if not isinstance(fact, Rating | Review):
        raise ValueError("a feedback row holds a rating or review")
    return fact


def encode_summary(summary: LiveSummary) -> bytes:
    return dumps(summary.values())


def decode_summary(raw: bytes) -> LiveSummary:
    return LiveSummary.decode(loads(raw))


def encode_segment(segment: Segment) -> bytes:
    return dumps(tuple(segment))


def decode_segment(raw: bytes) -> Segment:
    return Segment(*loads(raw))


def owner_code(owner: Owner) -> str:
    return owner.code

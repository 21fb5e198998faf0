"""The internal message format between the stages.

One message on the facts topic carries everything a stage-1 batch sends to one partition:
conversation updates (each naming its owners on that partition), forwarded presence events and
occupancy segment syncs, plus the earliest Kafka timestamp of the input it came from (for the
processing-latency histogram). Large messages are split. Facts, summaries and segments are
encoded as in the tables (:mod:`service.engine.codec`).
"""

from typing import Any

import orjson

from service.engine.codec import decode_facts, decode_live, decode_segments, dumps
from service.engine.owners import ConversationUpdate, SegmentSync
from service.engine.records import Record

__all__ = ["Outbox", "OwnerMessage", "decode_owner_message", "encode_owner_message",
           "encode_owner_messages"]


class OwnerMessage:
    __slots__ = ("origin_ms", "presence", "segments", "updates")

    def __init__(self, origin_ms: int | None = None) -> None:
        self.updates: list[ConversationUpdate] = []
        self.presence: list[tuple[str, Record]] = []
        self.segments: list[SegmentSync] = []
        self.origin_ms = origin_ms

    def __bool__(self) -> bool:
        return bool(self.updates or self.presence or self.segments)

    def split(self, parts: int) -> list["OwnerMessage"]:
        """``parts`` messages with the same origin, each holding a slice of every list."""
        out = [OwnerMessage(self.origin_ms) for _ in range(parts)]
        for name in ("updates", "presence", "segments"):
            items = getattr(self, name)
            step = -(-len(items) // parts)
            for index, part in enumerate(out):
                getattr(part, name).extend(items[index * step:(index + 1) * step])
        return [part for part in out if part]

    def size(self) -> int:
        return len(self.updates) + len(self.presence) + len(self.segments)


class Outbox:
    """A batch's owner messages, one per destination partition of the facts topic."""

    def __init__(self) -> None:
        self.messages: dict[int, OwnerMessage] = {}

    def to(self, partition: int, origin_ms: int | None = None) -> OwnerMessage:
        """The message for ``partition``; its origin the earliest given."""
        message = self.messages.get(partition)
        if message is None:
            message = self.messages[partition] = OwnerMessage(origin_ms)
        elif origin_ms is not None and (message.origin_ms is None
                                        or origin_ms < message.origin_ms):
            message.origin_ms = origin_ms
        return message


def encode_owner_message(message: OwnerMessage) -> bytes:
    return dumps({
        "u": message.updates,
        "p": message.presence,
        "s": message.segments,
        "t": message.origin_ms,
    })


def encode_owner_messages(message: OwnerMessage, max_bytes: int) -> list[bytes]:
    """The message encoded in parts of at most ``max_bytes``: split by the measured size into
    as many parts as needed, each part split again should it still be too big (a part with a
    single item is sent whatever its size: Kafka's own limit then decides)."""
    raw = encode_owner_message(message)
    if len(raw) <= max_bytes or message.size() <= 1:
        return [raw]
    parts = min(message.size(), -(-len(raw) * 5 // (max_bytes * 4)))
    out: list[bytes] = []
    for part in message.split(parts):
        out += encode_owner_messages(part, max_bytes)
    return out


def decode_owner_message(raw: bytes) -> OwnerMessage:
    data = orjson.loads(raw)
    message = OwnerMessage(data.get("t"))
    message.updates = [_decode_update(*update) for update in data["u"]]
    message.presence = [(owner, Record(*record)) for owner, record in data["p"]]
    message.segments = [SegmentSync(owner, agent, decode_segments(segments))
                        for owner, agent, segments in data["s"]]
    return message


def _decode_update(cid: str, facts: Any, live: Any, owners: Any, retracted: Any = (),
                   full: bool = True) -> ConversationUpdate:
    """An update; one of four values (written before deltas existed) is a full one."""
    return ConversationUpdate(cid, decode_facts(facts), decode_live(live), tuple(owners),
                              tuple((fid, tuple(holders)) for fid, holders in retracted),
                              bool(full))

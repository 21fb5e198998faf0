"""The internal message format between the stages, and the table values.

One message on the facts topic carries everything a stage-1 batch sends to one partition:
conversation syncs, forwarded presence events and occupancy segment syncs, plus the earliest
Kafka timestamp of the input it came from (for the processing-latency histogram).
"""

from typing import Any

import orjson

from service.engine.owners import ConversationSync, SegmentSync

__all__ = ["OwnerMessage", "decode_owner_message", "encode_owner_message", "table_key"]

SEPARATOR = "\x1f"


class OwnerMessage:
    __slots__ = ("origin_ms", "presence", "segments", "syncs")

    def __init__(self, origin_ms: int | None = None) -> None:
        self.syncs: list[ConversationSync] = []
        self.presence: list[tuple[str, tuple[Any, ...]]] = []
        self.segments: list[SegmentSync] = []
        self.origin_ms = origin_ms

    def __bool__(self) -> bool:
        return bool(self.syncs or self.presence or self.segments)


def encode_owner_message(message: OwnerMessage) -> bytes:
    return orjson.dumps({
        "c": [list(s) for s in message.syncs],
        "p": message.presence,
        "s": [list(s) for s in message.segments],
        "t": message.origin_ms,
    })


def decode_owner_message(raw: bytes) -> OwnerMessage:
    data = orjson.loads(raw)
    message = OwnerMessage(data.get("t"))
    message.syncs = [
        ConversationSync(owner, cid, tuple(tuple(f) for f in facts),
                         None if live is None else tuple(live))
        for owner, cid, facts, live in data["c"]
    ]
    message.presence = [(owner, tuple(record)) for owner, record in data["p"]]
    message.segments = [SegmentSync(owner, agent, tuple(tuple(s) for s in segments))
                        for owner, agent, segments in data["s"]]
    return message


def table_key(*parts: str) -> str:
    return SEPARATOR.join(parts)

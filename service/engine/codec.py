"""The one persisted form of the owner-keyed state, and the JSON of the typed core data.

A worker's state is the rows of its two changelog-backed tables; recovery loads them back
(:func:`load_router`, :func:`load_book`), and the resume tests save and load through the same
functions. Replay keeps its state in memory and saves none.

* ``conversations`` (stage 1): key = conversation id, value = ``[partition, conversation
  state]`` (:meth:`~service.engine.conversation.Conversation.to_state`: its events and the
  owners it ever synced).
* ``owners`` (stage 2): key = ``owner␟kind␟name``, value = ``[partition, kind, payload]``:
  ``c`` a conversation's sync (the facts the owner holds, the live summary), ``p`` an agent's
  presence events, ``s`` an agent's occupancy segments held by a team or overall owner, ``h``
  the owners an agent sent segments to.

Every value names its partition, so the state of the partitions assigned to a worker is loaded
from the table alone. Typed tuples (facts, summaries, records, segments) are JSON lists, as on
the facts topic (:mod:`service.stream.wire`).
"""

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from service.engine.conversation import Conversation
from service.engine.facts import Fact, fact_from
from service.engine.fold import LiveSummary
from service.engine.owners import ConversationSync, OwnerBook, SegmentSync
from service.engine.presence import Segment
from service.engine.records import Record
from service.engine.router import ConversationRouter

__all__ = ["SEPARATOR", "Row", "Rows", "conversation_row", "conversation_state",
           "decode_facts", "decode_live", "decode_segments", "dumps", "holders_row",
           "load_book", "load_router", "owner_shares", "partition_of_value", "presence_row",
           "saved_share",
           "segments_row", "share_key", "sync_row"]

SEPARATOR = "\x1f"
Row = tuple[bytes, bytes]
Rows = Iterable[Row]


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """JSON of ``value``, typed tuples (facts, summaries, records, segments) as lists."""
    return orjson.dumps(value, default=_as_list)


def decode_facts(values: Iterable[Any]) -> tuple[Fact, ...]:
    return tuple(fact_from(f) for f in values)


def decode_live(values: Any) -> LiveSummary | None:
    return None if values is None else LiveSummary.decode(values)


def decode_segments(values: Iterable[Any]) -> tuple[Segment, ...]:
    return tuple(Segment(*s) for s in values)


# -- conversations --------------------------------------------------------------------------------

def conversation_row(partition: int, conversation: Conversation) -> Row:
    return (conversation.fold.conversation_id.encode(),
            orjson.dumps([partition, conversation.to_state()]))


def conversation_state(value: bytes) -> tuple[int, Any]:
    """(partition, ``Conversation.to_state()``) of a ``conversations`` row."""
    partition, state = orjson.loads(value)
    return partition, state


def partition_of_value(value: bytes) -> int:
    """The partition a row of either table belongs to."""
    partition: int = orjson.loads(value)[0]
    return partition


def load_router(router: ConversationRouter, rows: Rows, active: frozenset[int]) -> None:
    """Put the conversations of the ``active`` partitions back into ``router``."""
    for key, value in rows:
        partition, state = conversation_state(value)
        if partition in active:
            router.load(key.decode(), state)


# -- owners ---------------------------------------------------------------------------------------

def _owner_row(partition: int, owner: str, kind: str, name: str, payload: Any) -> Row:
    return (SEPARATOR.join((owner, kind, name)).encode(), dumps([partition, kind, payload]))


def sync_row(partition: int, book: OwnerBook, sync: ConversationSync) -> Row:
    """What ``sync.owner`` holds of the conversation after the sync was applied (the key is
    :func:`share_key`)."""
    held = book.held[sync.owner].get(sync.conversation_id, ())
    return _owner_row(partition, sync.owner, "c", sync.conversation_id, [held, sync.live])


def presence_row(partition: int, book: OwnerBook, agent: str) -> Row:
    return _owner_row(partition, f"a:{agent}", "p", "", book.timeline(agent).presence)


def segments_row(partition: int, sync: SegmentSync) -> Row:
    return _owner_row(partition, sync.owner, "s", sync.agent, sync.segments)


def holders_row(partition: int, agent: str, holders: Iterable[str]) -> Row:
    return _owner_row(partition, f"a:{agent}", "h", "", sorted(holders))


def share_key(owner: str, conversation_id: str) -> bytes:
    """The key of the row of what ``owner`` holds of a conversation (:func:`sync_row`)."""
    return SEPARATOR.join((owner, "c", conversation_id)).encode()


def saved_share(value: bytes) -> tuple[tuple[Fact, ...], LiveSummary | None]:
    """(facts, live summary) of a :func:`sync_row` value."""
    facts, live = orjson.loads(value)[2]
    return decode_facts(facts), decode_live(live)


def owner_shares(rows: Rows, owner: str) -> Iterator[tuple[str, tuple[Fact, ...]]]:
    """(conversation id, facts) of each of ``owner``'s :func:`sync_row` rows among ``rows``."""
    prefix = share_key(owner, "")
    for key, value in rows:
        if key.startswith(prefix):
            yield key[len(prefix):].decode(), saved_share(value)[0]


def load_book(book: OwnerBook, rows: Rows, active: frozenset[int]) -> dict[str, frozenset[str]]:
    """Put the owners of the ``active`` partitions back into ``book`` (a new one); each
    agent's segment holders. A book with a loader then keeps only its bound of idle shares."""
    loader, book.loader = book.loader, None
    try:
        holders = _load_rows(book, rows, active)
    finally:
        book.loader = loader
    book.note_idle_shares()
    book.trim()
    return holders


def _load_rows(book: OwnerBook, rows: Rows, active: frozenset[int]) -> dict[str, frozenset[str]]:
    holders: dict[str, frozenset[str]] = {}
    for key, value in rows:
        partition, kind, payload = orjson.loads(value)
        if partition not in active:
            continue
        parts = key.decode().split(SEPARATOR, 2)
        owner, rest = parts[0], parts[2] if len(parts) > 2 else ""
        if kind == "c":
            facts, live = payload
            book.apply_sync(ConversationSync(owner, rest, decode_facts(facts),
                                             decode_live(live)))
        elif kind == "p":
            for record in payload:
                book.watermark.see(record[0])
                book.add_presence(owner[2:], Record(*record))
        elif kind == "s":
            book.apply_segments(SegmentSync(owner, rest, decode_segments(payload)))
        else:
            holders[owner[2:]] = frozenset(payload)
    return holders

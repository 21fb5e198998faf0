"""The worker's two changelog-backed tables and their codec.

* ``conversations`` (stage 1): key = conversation id, value = ``[partition, conversation
  state]`` (:meth:`~service.engine.conversation.Conversation.to_state`: its events and the
  owners it ever synced).
* ``owners`` (stage 2): key = ``owner␟kind␟name``, value = ``[partition, kind, payload]``:
  ``c`` a conversation's sync (facts, live summary), ``p`` an agent's presence events, ``s``
  an agent's occupancy segments held by a team or overall owner, ``h`` the owners an agent
  sent segments to.

Every value names its partition, so the state of the partitions assigned to a worker is loaded
from the table alone (:func:`load_router`, :func:`load_book`).
"""

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from service.engine.conversation import Conversation, TeamPolicy
from service.engine.engine import DEFAULT_RETENTION_MS
from service.engine.owners import ConversationSync, OwnerBook, SegmentSync
from service.engine.records import Record
from service.engine.router import ConversationRouter
from service.stream.batches import RecordBatches
from service.stream.wire import (
    SEPARATOR,
    decode_facts,
    decode_live,
    decode_segments,
    dumps,
    table_key,
)

__all__ = ["CHANGELOG_TOPIC_CONFIG", "TABLES", "TableWriter", "changelog_topic",
           "conversation_value", "declare_table", "load_book", "load_router", "owner_value"]

TABLES = ("conversations", "owners")
CHANGELOG_TOPIC_CONFIG = {"cleanup.policy": "compact", "segment.bytes": str(16 << 20),
                          "min.cleanable.dirty.ratio": "0.2"}
"""Changelogs are compacted (every key is rewritten often): small segments let the broker's
cleaner keep them near one record per key, so a restore reads that and little more."""

Rows = Iterable[tuple[bytes, bytes]]


def changelog_topic(app_id: str, table: str) -> str:
    """The changelog of a table; ``support-kpi worker`` creates it before faust starts (see
    :mod:`service.stream.faust_fixes`)."""
    return f"{app_id}-{table}-changelog"


def declare_table(app: Any, app_id: str, name: str, partitions: int,
                  on_recover: Callable[[], Any]) -> Any:
    """A bytes table whose changelog records :class:`TableWriter` writes (acknowledged by the
    broker before the input is); ``acks=False`` is faust's consumer-side changelog setting
    (see :mod:`service.stream.faust_fixes`)."""
    changelog = app.topic(
        changelog_topic(app_id, name), partitions=partitions, key_type=bytes,
        value_type=bytes, key_serializer="raw", value_serializer="raw", compacting=True,
        internal=True, acks=False, config=CHANGELOG_TOPIC_CONFIG)
    return app.Table(name, default=None, partitions=partitions, key_type=bytes,
                     value_type=bytes, changelog_topic=changelog, on_recover=on_recover)


class TableWriter:
    """Table writes that bypass faust's per-record send path: the value is set in the store
    and its changelog record appended to the batch's outputs."""

    def __init__(self, app_id: str, batches: Callable[[], RecordBatches]) -> None:
        self._changelogs = {name: changelog_topic(app_id, name) for name in TABLES}
        self._batches = batches

    def store(self, table: Any, partition: int, key: bytes, value: bytes | None) -> None:
        """Set (or, with None, delete) a value. Must run inside ``as_event`` of an event of
        ``partition`` (the RocksDB store picks its partition database from it)."""
        if value is None:
            with contextlib.suppress(KeyError):
                del table.data[key]
        else:
            # orjson's output keeps its 4 KB working buffer; a table holding it verbatim
            # would cost 4 KB a key, so it keeps an exact-size copy.
            table.data[key] = bytes(memoryview(value))
        self._batches().append(self._changelogs[table.name], partition, key, value)


def conversation_value(partition: int, conversation: Conversation) -> bytes:
    return orjson.dumps([partition, conversation.to_state()])


def partition_of_value(value: bytes) -> int:
    """The partition a row of either table belongs to."""
    partition: int = orjson.loads(value)[0]
    return partition


def load_router(router: ConversationRouter, rows: Rows, active: frozenset[int]) -> None:
    """Put the conversations of the ``active`` partitions back into ``router``."""
    for key, value in rows:
        partition, state = orjson.loads(value)
        if partition in active:
            router.load(key.decode(), state)


def owner_key(owner: str, kind: str, name: str) -> bytes:
    return table_key(owner, kind, name).encode()


def owner_value(partition: int, kind: str, payload: Any) -> bytes:
    return dumps([partition, kind, payload])


def load_book(policy: TeamPolicy, rows: Rows, active: frozenset[int]
              ) -> tuple[OwnerBook, dict[str, frozenset[str]]]:
    """The owner book of the ``active`` partitions, and each agent's segment holders."""
    book = OwnerBook(policy, DEFAULT_RETENTION_MS)
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
                book.add_presence(owner[2:], Record(*record))
        elif kind == "s":
            book.apply_segments(SegmentSync(owner, rest, decode_segments(payload)))
        else:
            holders[owner[2:]] = frozenset(payload)
    return book, holders

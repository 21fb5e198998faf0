"""The worker's two changelog-backed tables: their declaration and the writer of their rows.

What a row holds, and how the state is loaded from the rows, is the engine's codec
(:mod:`service.engine.codec`).
"""

import contextlib
from collections.abc import Callable
from typing import Any

from service.stream.batches import RecordBatches

__all__ = ["CHANGELOG_TOPIC_CONFIG", "TABLES", "TableWriter", "changelog_topic", "declare_table",
           "rocksdb_options"]

TABLES = ("conversations", "owners")
CHANGELOG_TOPIC_CONFIG = {"cleanup.policy": "compact", "segment.bytes": str(16 << 20),
                          "min.cleanable.dirty.ratio": "0.2"}
"""Changelogs are compacted (every key is rewritten often): small segments let the broker's
cleaner keep them near one record per key, so a restore reads that and little more."""

def rocksdb_options() -> dict[str, int]:
    """Options of each partition's RocksDB database (two tables × the partitions a worker
    holds). faust's defaults — a 2 GB block cache and three 64 MB memtables per database — let
    RocksDB alone outgrow a worker's memory budget; the tables are read only to load an idle
    conversation, so a small cache does (the OS page cache keeps the rest, outside the worker's
    RSS). A fresh dict each time: faust's store pops keys from the one it gets."""
    return {"write_buffer_size": 4 << 20, "max_write_buffer_number": 2,
            "block_cache_size": 8 << 20, "block_cache_compressed_size": 0}


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
                     value_type=bytes, changelog_topic=changelog, on_recover=on_recover,
                     options=rocksdb_options())


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

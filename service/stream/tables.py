"""The worker's two changelog-backed tables: their declaration, the stages' view of one
partition of a table (:class:`PartitionStore`, the :class:`~service.stream.store.Store`
protocol), and the writer of their rows (:class:`TableRows`).

A batch's rows are written the way Kafka Streams and quixstreams write state: one changelog
record per changed key (the stages coalesce their writes per key), acknowledged by the broker
before anything else, then one RocksDB write batch per partition holding the rows and the
changelog offset they reach. A restarted worker whose data directory is kept reads only the
changelog records after that offset (faust's recovery seeks to it), and nothing is rebuilt from
the rows but what the owner stage keeps in memory. faust's own table write path (about 100 µs
a record) is bypassed; what this reaches into faust's stores for is said in
:mod:`service.stream.faust_fixes`.
"""

from collections.abc import Callable, Iterator
from typing import Any

from service.stream.batches import RecordBatches
from service.stream.faust_fixes import partition_db, persist_offset
from service.stream.store import Writes

__all__ = ["CHANGELOG_TOPIC_CONFIG", "TABLES", "PartitionStore", "TableRows",
           "changelog_topic", "declare_table", "rocksdb_options"]

TABLES = ("conversations", "owners")
CHANGELOG_TOPIC_CONFIG = {"cleanup.policy": "compact", "segment.bytes": str(16 << 20),
                          "min.cleanable.dirty.ratio": "0.2"}
"""Changelogs are compacted (every key is rewritten often): small segments let the broker's
cleaner keep them near one record per key, so a restore reads that and little more."""


def rocksdb_options() -> dict[str, int]:
    """Options of each partition's RocksDB database (two tables × the partitions a worker
    holds). faust's defaults — a 2 GB block cache and three 64 MB memtables per database — let
    RocksDB alone outgrow a worker's memory budget; the rows are read when a partition is
    loaded and when an idle conversation comes back, so a small cache does (the OS page cache
    keeps the rest, outside the worker's RSS). A fresh dict each time: faust's store pops keys
    from the one it gets."""
    return {"write_buffer_size": 4 << 20, "max_write_buffer_number": 2,
            "block_cache_size": 8 << 20, "block_cache_compressed_size": 0}


def changelog_topic(app_id: str, table: str) -> str:
    """The changelog of a table; ``support-kpi worker`` creates it before faust starts (see
    :mod:`service.stream.faust_fixes`)."""
    return f"{app_id}-{table}-changelog"


def declare_table(app: Any, app_id: str, name: str, partitions: int,
                  on_recover: Callable[[], Any], on_restored: Callable[[int], None]) -> Any:
    """A bytes table whose changelog records :class:`TableRows` writes (acknowledged by the
    broker before the input is); ``acks=False`` is faust's consumer-side changelog setting
    (see :mod:`service.stream.faust_fixes`). ``on_restored`` is told how many changelog
    records each batch faust reads into the store holds (a restore or a standby copy)."""
    changelog = app.topic(
        changelog_topic(app_id, name), partitions=partitions, key_type=bytes,
        value_type=bytes, key_serializer="raw", value_serializer="raw", compacting=True,
        internal=True, acks=False, config=CHANGELOG_TOPIC_CONFIG)
    table = app.Table(name, default=None, partitions=partitions, key_type=bytes,
                      value_type=bytes, changelog_topic=changelog, on_recover=on_recover,
                      options=rocksdb_options())
    apply = table.apply_changelog_batch

    def counted(batch: Any) -> None:
        records = batch if isinstance(batch, list) else list(batch)
        on_restored(len(records))
        apply(records)

    table.apply_changelog_batch = counted
    return table


class PartitionStore:
    """One partition of a faust table's store, as a :class:`~service.stream.store.Store`:
    its RocksDB database, or faust's ``memory://`` dict (shared by all partitions: the stages'
    keys start with their partition)."""

    def __init__(self, table: Any, partition: int) -> None:
        self._db = partition_db(table, partition)

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(key)
        return value

    def put(self, key: bytes, value: bytes) -> None:
        self._db[key] = value

    def delete(self, key: bytes) -> None:
        if isinstance(self._db, dict):
            self._db.pop(key, None)
        else:
            self._db.delete(key)

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        if isinstance(self._db, dict):
            found = sorted((k, v) for k, v in self._db.items() if k.startswith(prefix))
            yield from found
            return
        for key, value in self._db.items(from_key=prefix):
            if not key.startswith(prefix):
                return
            yield key, value


class TableRows:
    """Writes a table's rows: :meth:`append` adds a batch's changelog records to the worker's
    record batches; once the broker has them, :meth:`store` writes the rows and the changelog
    offsets to the local store."""

    def __init__(self, table: Any, changelog: str) -> None:
        self.table = table
        self.changelog = changelog
        self._pending: dict[int, Writes] = {}

    def store_of(self, partition: int) -> PartitionStore:
        return PartitionStore(self.table, partition)

    def append(self, partition: int, writes: Writes, batches: RecordBatches) -> None:
        if not writes:
            return
        for key, value in writes.items():
            batches.append(self.changelog, partition, key, value)
        self._pending.setdefault(partition, Writes()).update(writes)

    def store(self, offsets: dict[tuple[str, int], int]) -> None:
        """The rows appended since the last call, into the local store with the changelog
        offsets the broker gave them (``offsets``: :meth:`RecordBatches.send`'s answer)."""
        pending, self._pending = self._pending, {}
        for partition, writes in pending.items():
            offset = offsets.get((self.changelog, partition))
            persist_offset(self.table, partition, writes, offset)

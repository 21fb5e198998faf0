"""Restoring the tables' stores from their changelogs in bulk, before faust's recovery.

faust's recovery reads a changelog a record at a time through its stream machinery (a task, a
timeout and an event object per record, about 60 µs each: 280 s for the changelogs of a million
events, of which writing to RocksDB is 2%). A worker first reads the changelog partitions
assigned to it itself, the way Kafka Streams' restore consumer does: one aiokafka consumer
reads each from the offset its store holds to the end faust measured, and every fetch goes into
the partition's store in one write batch with the offset it reaches. faust's recovery then
starts from there and reads what is left (nothing, unless the time bound cut the restore
short or records were written meanwhile), so a restore cut short by a crash, a rebalance or the
bound is resumed, never repeated or skipped.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

__all__ = ["ChangelogPartition", "restore_changelogs"]

log = logging.getLogger(__name__)

FETCH_RECORDS = 20_000
"""Records per fetch (and so per write batch) at most."""
FETCH_BYTES = 16 << 20


@dataclass(frozen=True)
class ChangelogPartition:
    """One changelog partition to read: offsets ``first`` to ``last``, both included."""

    topic: str
    partition: int
    first: int
    last: int


Write = Callable[[ChangelogPartition, dict[bytes, bytes | None], int, int], None]
"""(partition, rows — None deletes —, the offset they reach, records read) → into its store."""


async def restore_changelogs(bootstrap: str, wanted: Iterable[ChangelogPartition], write: Write,
                             time_bound_s: float) -> dict[ChangelogPartition, int]:
    """Read each partition of ``wanted`` and hand each fetch's rows to ``write`` (the last
    record of a key wins, as compaction keeps it). Stops after the first fetch that ends past
    ``time_bound_s``, with what it wrote. Returns the last offset written per partition
    (partitions with nothing to read are left out).

    Raises aiokafka's errors when the broker cannot be read (what was written stays)."""
    todo = {TopicPartition(p.topic, p.partition): p for p in wanted if p.first <= p.last}
    done: dict[ChangelogPartition, int] = {}
    if not todo:
        return done
    deadline = time.monotonic() + time_bound_s
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                max_partition_fetch_bytes=FETCH_BYTES,
                                fetch_max_bytes=FETCH_BYTES)
    await consumer.start()
    try:
        consumer.assign(list(todo))
        for tp, part in todo.items():
            consumer.seek(tp, part.first)
        while todo:
            fetched = await consumer.getmany(*todo, timeout_ms=500, max_records=FETCH_RECORDS)
            for tp, records in fetched.items():
                part = todo[tp]
                rows: dict[bytes, bytes | None] = {}
                last = -1
                count = 0
                for record in records:
                    if record.offset > part.last:
                        break
                    if record.key is not None:
                        rows[record.key] = record.value
                    last = record.offset
                    count += 1
                if count:
                    write(part, rows, last, count)
                    done[part] = last
            for tp in list(todo):
                if await consumer.position(tp) > todo[tp].last:
                    del todo[tp]
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    if todo:
        log.warning("restoring the tables: %d changelog partitions not read to their end "
                    "within %.0f s; the rest is read record by record", len(todo), time_bound_s)
    return done

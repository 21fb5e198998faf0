"""Kafka records appended to aiokafka batches, one open batch per topic partition.

A faust table write or ``topic.send`` costs about 100 µs (futures, callbacks, a buffer task);
appending to a batch builder costs a few µs, so a worker's many small outputs per input batch
(changelog records, owner messages) go out this way, in a handful of produce requests."""

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch

__all__ = ["RecordBatches"]


class RecordBatches:
    def __init__(self, producer: AIOKafkaProducer, compressed: frozenset[str] = frozenset(),
                 batch_bytes: int = 900_000) -> None:
        """``compressed``: topics whose batches are gzip-compressed (rare, large records such
        as dead letters; the hot outputs stay uncompressed)."""
        self.producer = producer
        self.compressed = compressed
        self.batch_bytes = batch_bytes
        self.open: dict[tuple[str, int], Any] = {}
        self.full: list[tuple[str, int, Any]] = []

    def _new_batch(self, topic: str) -> Any:
        if topic in self.compressed:
            return BatchBuilder(self.batch_bytes, DefaultRecordBatch.CODEC_GZIP)
        return self.producer.create_batch()

    def append(self, topic: str, partition: int, key: bytes | None, value: bytes | None,
               headers: list[tuple[str, bytes]] | None = None) -> None:
        """Add one record (``value`` None: a tombstone). Nothing is sent before :meth:`send`."""
        where = (topic, partition)
        batch = self.open.get(where)
        if batch is None:
            batch = self.open[where] = self._new_batch(topic)
        if batch.append(key=key, value=value, timestamp=None, headers=headers or []) is None:
            self.full.append((topic, partition, batch))
            batch = self.open[where] = self._new_batch(topic)
            if batch.append(key=key, value=value, timestamp=None,
                            headers=headers or []) is None:
                raise ValueError(f"a record of {len(value or b'')} bytes for {topic} does not "
                                 "fit in an empty batch (producer max_batch_size)")

    async def send(self) -> dict[tuple[str, int], int]:
        """Send every batch and wait until the broker acknowledged all of them; the last offset
        written to each (topic, partition). A failure raises (the caller must not acknowledge
        its input then)."""
        for (topic, partition), batch in self.open.items():
            self.full.append((topic, partition, batch))
        self.open = {}
        batches, self.full = self.full, []
        futures = []
        for topic, partition, batch in batches:
            futures.append(await self.producer.send_batch(batch, topic, partition=partition))
        last: dict[tuple[str, int], int] = {}
        if futures:
            for (topic, partition, batch), metadata in zip(
                    batches, await asyncio.gather(*futures), strict=True):
                offset = metadata.offset + batch.record_count() - 1
                if offset > last.get((topic, partition), -1):
                    last[(topic, partition)] = offset
        return last

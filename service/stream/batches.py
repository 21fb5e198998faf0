"""Kafka records appended to aiokafka batches, one open batch per topic partition.

A faust table write or ``topic.send`` costs about 100 µs (futures, callbacks, a buffer task);
appending to a batch builder costs a few µs, so a worker's many small outputs per input batch
(changelog records, owner messages) go out this way, in a handful of produce requests."""

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer

__all__ = ["RecordBatches"]


class RecordBatches:
    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.open: dict[tuple[str, int], Any] = {}
        self.full: list[tuple[str, int, Any]] = []

    def append(self, topic: str, partition: int, key: bytes | None, value: bytes | None,
               headers: list[tuple[str, bytes]] | None = None) -> None:
        """Add one record (``value`` None: a tombstone). Nothing is sent before :meth:`send`."""
        where = (topic, partition)
        batch = self.open.get(where)
        if batch is None:
            batch = self.open[where] = self.producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None, headers=headers or []) is None:
            self.full.append((topic, partition, batch))
            batch = self.open[where] = self.producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None,
                            headers=headers or []) is None:
                raise ValueError(f"a record of {len(value or b'')} bytes for {topic} does not "
                                 "fit in an empty batch (producer max_batch_size)")

    async def send(self) -> None:
        """Send every batch and wait until the broker acknowledged all of them; a failure
        raises (the caller must not acknowledge its input then)."""
        for (topic, partition), batch in self.open.items():
            self.full.append((topic, partition, batch))
        self.open = {}
        batches, self.full = self.full, []
        futures = []
        for topic, partition, batch in batches:
            futures.append(await self.producer.send_batch(batch, topic, partition=partition))
        if futures:
            await asyncio.gather(*futures)

"""Putting events on the input topic: ``produce`` (JSON lines) and ``simulate`` (live traffic).

Keys follow SPEC §2: the ``conversation_id``, else the ``agent_id``, so Kafka's default
partitioner keeps a conversation on one partition. With ``batch > 1`` events are grouped per
partition into batch envelopes (JSON arrays): far fewer, larger messages.
"""

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.partitioner import murmur2

from service.synthetic import TrafficShape, generate_events, iso

__all__ = ["Envelope", "Envelopes", "PublishStats", "ensure_topics", "event_key", "partition_for",
           "produce", "simulate"]


def partition_for(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2, positive, modulo)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def event_key(event: dict[str, Any]) -> bytes | None:
    key = event.get("conversation_id") or event.get("agent_id")
    return key.encode() if isinstance(key, str) and key else None


@dataclass
class PublishStats:
    events: int = 0
    messages: int = 0
    skipped: int = 0


async def ensure_topics(bootstrap: str, topics: Iterable[str], partitions: int,
                        configs: Mapping[str, Mapping[str, str]] | None = None) -> None:
    """Create missing topics (with ``configs[topic]`` when given) and wait (bounded) until the
    cluster's metadata lists them, so a consumer subscribing right after sees every
    partition."""
    configs = configs or {}
    topics = list(topics) + [t for t in configs if t not in topics]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [NewTopic(t, partitions, 1, topic_configs=dict(configs.get(t, {})))
                  for t in topics if t not in existing]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
        deadline = time.monotonic() + 30
        while True:
            described = await admin.describe_topics(topics)
            if all(d.get("error_code", 0) == 0 and d.get("partitions") for d in described):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics {topics} not visible in the cluster metadata")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


Envelope = tuple[int, bytes, bytes, int]
"""(partition, key, value, events): a batch envelope ready to publish."""


class Envelopes:
    """Events grouped per partition into batch envelopes (JSON arrays) of up to ``batch``
    events, each keyed by its first event."""

    def __init__(self, partitions: int, batch: int) -> None:
        self.partitions, self.batch = partitions, batch
        self.pending: dict[int, list[tuple[bytes, bytes]]] = {}

    def add(self, key: bytes, value: bytes) -> Envelope | None:
        """Add an encoded event; the envelope it completes, if any."""
        partition = partition_for(key, self.partitions)
        group = self.pending.setdefault(partition, [])
        group.append((key, value))
        return self._close(partition) if len(group) >= self.batch else None

    def drain(self) -> list[Envelope]:
        """The envelopes not full yet."""
        return [self._close(partition) for partition in list(self.pending)]

    def _close(self, partition: int) -> Envelope:
        group = self.pending.pop(partition)
        return partition, group[0][0], b"[" + b",".join(v for _, v in group) + b"]", len(group)


class _Batcher:
    def __init__(self, producer: AIOKafkaProducer, topic: str, partitions: int, batch: int,
                 stats: PublishStats) -> None:
        self.producer, self.topic, self.batch, self.stats = producer, topic, batch, stats
        self.envelopes = Envelopes(partitions, batch)

    async def add(self, key: bytes | None, value: bytes) -> None:
        self.stats.events += 1
        if self.batch <= 1 or key is None:
            await self.producer.send(self.topic, value, key=key)
            self.stats.messages += 1
            return
        envelope = self.envelopes.add(key, value)
        if envelope is not None:
            await self._send(envelope)

    async def _send(self, envelope: Envelope) -> None:
        partition, key, value, _ = envelope
        await self.producer.send(self.topic, value, key=key, partition=partition)
        self.stats.messages += 1

    async def close(self) -> None:
        for envelope in self.envelopes.drain():
            await self._send(envelope)
        await self.producer.flush()


async def _producer(bootstrap: str) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5,
                                max_batch_size=1 << 20, compression_type=None)
    await producer.start()
    return producer


async def produce(lines: Iterable[bytes], bootstrap: str, topic: str, partitions: int,
                  batch: int = 1, errors: TextIO = sys.stderr) -> PublishStats:
    """Publish JSON lines (an event, or an array of events, per line)."""
    await ensure_topics(bootstrap, [topic], partitions)
    producer = await _producer(bootstrap)
    stats = PublishStats()
    batcher = _Batcher(producer, topic, partitions, batch, stats)
    try:
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line:
                continue
            try:
                parsed = orjson.loads(line)
            except orjson.JSONDecodeError as error:
                stats.skipped += 1
                print(f"line {number}: not JSON ({error}); skipped", file=errors)
                continue
            for event in parsed if isinstance(parsed, list) else [parsed]:
                if not isinstance(event, dict):
                    stats.skipped += 1
                    print(f"line {number}: not an event object; skipped", file=errors)
                    continue
                await batcher.add(event_key(event), orjson.dumps(event))
    finally:
        await batcher.close()
        await producer.stop()
    return stats


async def _paced(shape: TrafficShape, seed: int, speed: float) -> AsyncIterator[dict[str, Any]]:
    """The synthetic stream, released as the wall clock reaches each event's time."""
    origin = time.time()
    for event in generate_events(shape, seed=seed):
        at = _ms(event["at"])
        due = origin + (at - shape.start_ms) / 1000 / speed
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield event


def _ms(text: str) -> int:
    from datetime import datetime

    from service.engine.records import to_epoch_ms

    return to_epoch_ms(datetime.fromisoformat(text))


async def simulate(bootstrap: str, topic: str, partitions: int, rate: float, agents: int,
                   duration_s: float | None = None, seed: int = 0, batch: int = 1,
                   progress: TextIO | None = None) -> PublishStats:
    """Live traffic at about ``rate`` events/s, stamped with the current time."""
    await ensure_topics(bootstrap, [topic], partitions)
    now_ms = int(time.time() * 1000)
    per_conversation = 8.8
    shape = TrafficShape(conversations=10**9, agents=agents, start_ms=now_ms,
                         conversations_per_minute=max(rate, 0.1) * 60 / per_conversation,
                         source="simulator")
    producer = await _producer(bootstrap)
    stats = PublishStats()
    batcher = _Batcher(producer, topic, partitions, batch, stats)
    started = time.monotonic()
    try:
        async for event in _paced(shape, seed, 1.0):
            if duration_s is not None and time.monotonic() - started >= duration_s:
                break
            await batcher.add(event_key(event), orjson.dumps(event))
            if progress is not None and stats.events % 1000 == 0:
                print(f"\r  simulated {stats.events:,} events ({iso(int(time.time() * 1000))})",
                      end="", file=progress, flush=True)
    finally:
        await batcher.close()
        await producer.stop()
    return stats

"""Canonical events and dead letters onto Kafka for the gateway, acknowledged before the answer.

One idempotent producer (``acks=all``); the events of a delivery are grouped per key into batch
envelopes (SPEC §2: a message carries an array whose keys map to its partition), so a delivery is
usually one message. :meth:`GatewayPublisher.publish` returns once the broker acknowledged all of
them and raises :class:`KafkaUnavailable` when it does not within ``timeout_s``: the gateway then
answers 503 and the vendor retries (the retried events carry the same ids, so whatever did land
counts once).
"""

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from service.partitioning import event_key
from service.stream.dead_letters import DeadLetter

__all__ = ["GatewayPublisher", "KafkaUnavailable"]


class KafkaUnavailable(RuntimeError):
    """Kafka did not acknowledge in time (or refused); the delivery must be retried."""


class GatewayPublisher:
    def __init__(self, bootstrap: str, topic: str, dead_letter_topic: str,
                 timeout_s: float = 4.0) -> None:
        """``timeout_s``: how long a delivery may wait for Kafka before it is answered 503
        (vendors time out after about 5 s)."""
        self.bootstrap = bootstrap
        self.topic = topic
        self.dead_letter_topic = dead_letter_topic
        self.timeout_s = timeout_s
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, enable_idempotence=True,
                                    acks="all", linger_ms=2,
                                    request_timeout_ms=int(self.timeout_s * 1000))
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            with contextlib.suppress(TimeoutError, KafkaError):
                await asyncio.wait_for(producer.stop(), self.timeout_s)

    async def publish(self, events: Sequence[dict[str, Any]]) -> int:
        """Send ``events`` keyed as SPEC §2 says and wait for the broker; the messages sent."""
        groups: dict[bytes | None, list[bytes]] = {}
        for event in events:
            groups.setdefault(event_key(event), []).append(orjson.dumps(event))
        records = [(key, values[0] if len(values) == 1 else b"[" + b",".join(values) + b"]")
                   for key, values in groups.items()]
        await self._send([(self.topic, key, value, []) for key, value in records])
        return len(records)

    async def dead_letter(self, letter: DeadLetter) -> None:
        """Send one dead letter and wait for the broker."""
        await self._send([(self.dead_letter_topic, letter.key, letter.value, letter.headers)])

    async def _send(self, records: list[tuple[str, bytes | None, bytes,
                                              list[tuple[str, bytes]]]]) -> None:
        producer = self._producer
        if producer is None:
            raise KafkaUnavailable("the producer is not started")
        try:
            futures = [await asyncio.wait_for(
                producer.send(topic, value, key=key, headers=headers), self.timeout_s)
                for topic, key, value, headers in records]
            await asyncio.wait_for(asyncio.gather(*futures), self.timeout_s)
        except (KafkaError, TimeoutError) as error:
            raise KafkaUnavailable(f"{type(error).__name__}: {error}") from error

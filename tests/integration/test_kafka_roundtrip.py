"""Events through a real broker and back through ``service.ingest.decode_message`` (SPEC §2).

Every test bounds its waits with ``asyncio.timeout`` and waits on a condition (records seen),
never on a sleep.
"""

from __future__ import annotations

import asyncio
import typing
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import murmur2

from schemas import EVENT_MODELS, BaseEvent
from service.ingest import Decoded, decode_message

PARTITIONS = 4
WAIT_SECONDS = 30

CONVERSATION = "conv-1001"
AGENT = "agent-7"

# One valid example per event type, as a helpdesk would publish it.
VALID_EVENTS: list[dict[str, Any]] = [
    {"id": "ev-created", "type": "conversation.created", "at": "2024-05-01T09:00:00+02:00",
     "conversation_id": CONVERSATION, "channel": "chat", "team": "billing", "priority": "high",
     "customer_id": "cust-42", "initiator": "customer", "source": "zendesk",
     "x_helpdesk_ticket": 1234},
    {"id": "ev-assigned", "type": "conversation.assigned", "at": "2024-05-01T07:01:00Z",
     "conversation_id": CONVERSATION, "agent_id": AGENT, "team": "billing", "method": "pull"},
    {"id": "ev-unassigned", "type": "conversation.unassigned", "at": "2024-05-01T07:02:00Z",
     "conversation_id": CONVERSATION},
    {"id": "ev-message", "type": "message.created", "at": "2024-05-01T07:03:30.250Z",
     "conversation_id": CONVERSATION, "author": "agent", "agent_id": AGENT,
     "automated": False, "internal": False},
    {"id": "ev-status", "type": "conversation.status_changed", "at": "2024-05-01T07:10:00Z",
     "conversation_id": CONVERSATION, "status": "resolved", "by": "agent", "agent_id": AGENT},
    {"id": "ev-abandoned", "type": "conversation.abandoned", "at": "2024-05-01T08:00:00-04:00",
     "conversation_id": "conv-1002"},
    {"id": "ev-handoff", "type": "conversation.handed_off", "at": "2024-05-01T06:58:00Z",
     "conversation_id": CONVERSATION, "team": "billing", "source": "intercom"},
    {"id": "ev-rating", "type": "rating.submitted", "at": "2024-05-01T07:20:00Z",
     "conversation_id": CONVERSATION, "survey": "csat", "score": 5, "about": "agent",
     "comment": "quick and kind"},
    {"id": "ev-presence", "type": "agent.status_changed", "at": "2024-05-01T06:55:00Z",
     "agent_id": AGENT, "status": "available", "team": "billing"},
    {"id": "ev-review", "type": "review.submitted", "at": "2024-05-02T10:00:00+00:00",
     "agent_id": AGENT, "reviewer_id": "lead-1", "score": 87.5,
     "conversation_id": CONVERSATION},
]

BATCH_CONVERSATION = "conv-2002"
BATCH_ENVELOPE: list[dict[str, Any]] = [
    {"id": "ev-batch-1", "type": "message.created", "at": "2024-05-01T11:00:00Z",
     "conversation_id": BATCH_CONVERSATION, "author": "customer"},
    {"id": "ev-batch-2", "type": "conversation.status_changed", "at": "2024-05-01T11:01:00Z",
     "conversation_id": BATCH_CONVERSATION, "status": "archived"},
    {"id": "ev-batch-3", "type": "conversation.status_changed", "at": "2024-05-01T11:02:00Z",
     "conversation_id": BATCH_CONVERSATION, "status": "pending", "by": "agent",
     "agent_id": AGENT},
]


@dataclass(frozen=True)
class Garbage:
    name: str
    key: bytes | None
    value: bytes
    reason: str
    error: str
    """A fragment the rejection's error must contain (it names the field)."""


GARBAGE = [
    Garbage("not json", None, b"\xff\xfe{not json", "invalid_json", "not UTF-8: byte 0xff"),
    Garbage("missing at", b"conv-3003",
            orjson.dumps({"id": "bad-1", "type": "conversation.created",
                          "conversation_id": "conv-3003"}),
            "invalid_event", "at: Field required"),
    Garbage("naive at", b"conv-3003",
            orjson.dumps({"id": "bad-2", "type": "conversation.unassigned",
                          "at": "2024-05-01T10:00:00", "conversation_id": "conv-3003"}),
            "invalid_event", "at: Input should have timezone info"),
    Garbage("csat 9", b"conv-3003",
            orjson.dumps({"id": "bad-3", "type": "rating.submitted", "at": "2024-05-01T10:00:00Z",
                          "conversation_id": "conv-3003", "survey": "csat", "score": 9}),
            "invalid_event", "score 9 is outside 1..5"),
]


def event_key(event: dict[str, Any]) -> bytes:
    """SPEC §2: the conversation id, or the agent id for agent-scoped events."""
    model = next(m for m in EVENT_MODELS if _type_of(m) == event["type"])
    return (event["conversation_id"] if model.conversation_scoped else event["agent_id"]).encode()


def _type_of(model: type[BaseEvent]) -> str:
    return typing.get_args(model.model_fields["type"].annotation)[0]


def as_python(event: dict[str, Any]) -> dict[str, Any]:
    """What a correct decoding holds: the sent fields, with ``at`` as an aware datetime."""
    return {**event, "at": datetime.fromisoformat(event["at"])}


def dumped(event: BaseEvent) -> dict[str, Any]:
    return event.model_dump(exclude_unset=True)


async def create_topic(bootstrap: str, name: str, partitions: int = PARTITIONS) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name=name, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()
    errors = [error for _topic, code, *error in response.topic_errors if code != 0]
    assert not errors, errors


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def consume(bootstrap: str, topic: str, count: int) -> list[ConsumerRecord[bytes, bytes]]:
    """Read ``count`` records from the start of ``topic`` through a consumer group (which is also
    what the service does: it proves the group coordinator works on this broker)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"{topic}-reader",
        auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while len(records) < count:
                batches = await consumer.getmany(timeout_ms=1000)
                for batch in batches.values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    assert len(records) == count
    return records


def test_examples_cover_every_event_type() -> None:
    assert sorted(e["type"] for e in VALID_EVENTS) == sorted(_type_of(m) for m in EVENT_MODELS)


async def test_events_roundtrip_and_bad_messages_are_rejected(
    kafka_bootstrap: str, topic_name: str, producer: AIOKafkaProducer
) -> None:
    await create_topic(kafka_bootstrap, topic_name)
    messages: list[tuple[bytes | None, bytes]] = [
        (event_key(event), orjson.dumps(event)) for event in VALID_EVENTS]
    messages.append((BATCH_CONVERSATION.encode(), orjson.dumps(BATCH_ENVELOPE)))
    messages += [(garbage.key, garbage.value) for garbage in GARBAGE]
    sent = await asyncio.gather(*[
        await producer.send(topic_name, value, key=key) for key, value in messages])

    records = await consume(kafka_bootstrap, topic_name, len(messages))
    by_position = {(r.partition, r.offset): r for r in records}
    received = [by_position[(meta.partition, meta.offset)] for meta in sent]
    assert [(r.key, r.value) for r in received] == messages
    decoded: list[Decoded] = [decode_message(r.value) for r in received]

    valid = decoded[:len(VALID_EVENTS)]
    for event, result in zip(VALID_EVENTS, valid, strict=True):
        assert result.rejections == [], event["type"]
        [got] = result.events
        assert _type_of(type(got)) == event["type"]
        assert dumped(got) == as_python(event)
    created = valid[0].events[0]
    assert created.model_extra == {"x_helpdesk_ticket": 1234}
    assert created.at.utcoffset() == timedelta(hours=2)

    batch = decoded[len(VALID_EVENTS)]
    assert [dumped(e) for e in batch.events] == [
        as_python(BATCH_ENVELOPE[0]), as_python(BATCH_ENVELOPE[2])]
    [bad_element] = batch.rejections
    assert bad_element.reason == "invalid_event"
    assert bad_element.error.startswith("status: Input should be"), bad_element.error
    assert orjson.loads(bad_element.raw) == BATCH_ENVELOPE[1]

    for garbage, result in zip(GARBAGE, decoded[len(VALID_EVENTS) + 1:], strict=True):
        assert result.events == [], garbage.name
        [rejection] = result.rejections
        assert (rejection.reason, rejection.raw) == (garbage.reason, garbage.value), garbage.name
        assert garbage.error in rejection.error, (garbage.name, rejection.error)


async def test_a_conversation_stays_on_one_partition(
    kafka_bootstrap: str, topic_name: str, producer: AIOKafkaProducer
) -> None:
    await create_topic(kafka_bootstrap, topic_name)
    conversations = [f"conv-{n}" for n in range(6)]
    agents = ["agent-1", "agent-2"]
    messages: list[tuple[bytes, bytes]] = []
    for step in range(5):  # interleaved, as a live helpdesk would publish them
        for conversation in conversations:
            event = {"id": f"{conversation}-{step}", "type": "message.created",
                     "at": f"2024-05-01T10:0{step}:00Z", "conversation_id": conversation,
                     "author": "customer"}
            messages.append((event_key(event), orjson.dumps(event)))
        for agent in agents:
            event = {"id": f"{agent}-{step}", "type": "agent.status_changed",
                     "at": f"2024-05-01T10:0{step}:00Z", "agent_id": agent,
                     "status": "busy" if step % 2 else "available"}
            messages.append((event_key(event), orjson.dumps(event)))
    sent = await asyncio.gather(*[
        await producer.send(topic_name, value, key=key) for key, value in messages])

    partitions_of: dict[bytes, set[int]] = defaultdict(set)
    for (key, _value), meta in zip(messages, sent, strict=True):
        partitions_of[key].add(meta.partition)
    assert all(len(parts) == 1 for parts in partitions_of.values()), partitions_of
    # Kafka's default partitioner (murmur2 of the key), so a batch producer can compute it too.
    for key, parts in partitions_of.items():
        assert parts == {(murmur2(key) & 0x7FFFFFFF) % PARTITIONS}, key
    assert len(set().union(*partitions_of.values())) > 1, "all keys on one partition: no test"

    records = await consume(kafka_bootstrap, topic_name, len(messages))
    seen: dict[bytes, list[tuple[int, bytes]]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        assert record.key is not None
        seen[record.key].append((record.partition, record.value))
    for key, expected in partitions_of.items():
        [partition] = expected
        assert seen[key] == [(partition, value) for k, value in messages if k == key], key

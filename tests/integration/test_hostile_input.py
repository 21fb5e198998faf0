"""Hostile input on the real broker (issue 10): no single message may stop a worker, empty the
windows, or be lost.

Every bad input below is mixed into good traffic. The workers stay alive, every bad input lands
in the dead letters with its reason (SPEC §2: the field and the reason, headers bounded, the
value truncated when it must be), and the merged report equals replay of the good events alone.
"""

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from fixtures.kafka import read_topic
from fixtures.workers import Namespace, WorkerProcess, wait_until

from service.engine.report import merge_reports, report_differences
from service.partitioning import partition_for
from service.stream.dead_letters import MAX_VALUE_BYTES

pytestmark = pytest.mark.integration

AS_OF = "2024-03-04T12:00:00Z"
LIMIT = 1_048_576
"""The workers here keep the default per-event limit (1 MB), so a large envelope is legal."""
BIG_ENVELOPE_EVENTS = 50_000


def _at(minute: float) -> str:
    moment = datetime(2024, 3, 4, 9, tzinfo=UTC) + timedelta(minutes=minute)
    return moment.isoformat().replace("+00:00", "Z")


def good_conversations(count: int, prefix: str, partition: int | None = None) -> list[dict]:
    """Five events a conversation (created, customer message, human reply, resolution, CSAT),
    all between 09:00 and 11:30 on the report's day; with ``partition``, only conversations
    whose key maps to it (SPEC §2: an envelope's keys map to its partition)."""
    events: list[dict] = []
    number = 0
    made = 0
    while made < count:
        cid = f"{prefix}-{number}"
        number += 1
        if partition is not None and partition_for(cid.encode(), 4) != partition:
            continue
        made += 1
        start = (number * 7) % 120
        base = {"conversation_id": cid, "team": f"team-{number % 3}"}
        agent = f"agent-{number % 5}"
        events += [
            {**base, "id": f"{cid}-c", "type": "conversation.created", "at": _at(start),
             "channel": "chat"},
            {**base, "id": f"{cid}-m", "type": "message.created", "at": _at(start + 1),
             "author": "customer"},
            {**base, "id": f"{cid}-r", "type": "message.created", "at": _at(start + 3),
             "author": "agent", "agent_id": agent},
            {**base, "id": f"{cid}-s", "type": "conversation.status_changed",
             "at": _at(start + 9), "status": "resolved", "by": "agent", "agent_id": agent},
            {**base, "id": f"{cid}-q", "type": "rating.submitted", "at": _at(start + 20),
             "survey": "csat", "score": 1 + number % 5},
        ]
    return events


def _key(raw: bytes | None) -> bytes | None:
    try:
        value = orjson.loads(raw or b"null")
    except orjson.JSONDecodeError:
        return b"garbage"
    if isinstance(value, list):
        value = value[0] if value and isinstance(value[0], dict) else {}
    if not isinstance(value, dict):
        return b"garbage"
    key = value.get("conversation_id") or value.get("agent_id")
    return key.encode() if isinstance(key, str) else b"garbage"


def hostile_inputs(now: datetime) -> list[tuple[str, bytes | None, str]]:
    """(name, message value, expected dead-letter reason), from the issue and variants."""
    valid = {"id": "h-lax", "type": "conversation.created", "conversation_id": "h-lax",
             "at": "2024-03-04T10:00:00Z"}
    nested = b"[" * 300 + b"]" * 300
    future = now + timedelta(days=3)
    return [
        ("tombstone", None, "not_an_event"),
        ("300 levels deep in an envelope",
         b'[{"type":"bogus","x":' + nested + b"}]", "invalid_json"),
        ("600 KB unknown type",
         orjson.dumps({**valid, "id": "h-type", "type": "t" * 600_000}), "invalid_event"),
        ("5 MB event", orjson.dumps({**valid, "id": "h-5mb", "pad": "x" * 5_000_000}),
         "oversized"),
        ("3 days ahead", orjson.dumps({**valid, "id": "h-future", "conversation_id": "h-fut",
                                       "at": future.isoformat()}), "future"),
        ("year 9999", orjson.dumps({**valid, "id": "h-9999", "conversation_id": "h-9999",
                                    "at": "9999-06-01T00:00:00Z"}), "future"),
        ("epoch seconds", orjson.dumps({**valid, "id": "h-int", "at": 1709546400}),
         "invalid_event"),
        ("score true", orjson.dumps({**valid, "id": "h-true", "type": "rating.submitted",
                                     "survey": "csat", "score": True}), "invalid_event"),
        ("score string", orjson.dumps({**valid, "id": "h-str", "type": "rating.submitted",
                                       "survey": "csat", "score": "5"}), "invalid_event"),
        ("internal yes", orjson.dumps({**valid, "id": "h-yes", "type": "message.created",
                                       "author": "agent", "agent_id": "a1",
                                       "internal": "yes"}), "invalid_event"),
        ("past year 9999", b'{"id":"h-far","type":"conversation.created","conversation_id":'
         b'"h-far","at":"9999-12-31T23:59:59-14:00"}', "invalid_event"),
        ("not JSON", b"\xff\xfe not json", "invalid_json"),
        ("empty value", b"", "invalid_json"),
        ("a number", b"42", "not_an_event"),
    ]


async def _publish(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes | None,
                                                                    int | None]]) -> None:
    """Each (key, value, partition) with gzip compression (the broker takes 1 MB after it)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, compression_type="gzip",
                                max_request_size=16 << 20, max_batch_size=1 << 20,
                                enable_idempotence=True)
    await producer.start()
    try:
        for key, value, partition in messages:
            await producer.send_and_wait(topic, value, key=key, partition=partition)
    finally:
        await producer.stop()


def _wait_equal(workers: list[WorkerProcess], expected: dict[str, Any]) -> None:
    last: list[dict[str, Any]] = []

    def equal() -> bool:
        for worker in workers:
            worker.check_running()
        last[:] = [merge_reports([w.kpis(AS_OF) for w in workers])]
        return last[0] == expected

    try:
        wait_until(equal, 180, "the merged report to equal replay of the good events")
    except BaseException:
        if last:
            print("differences:", *report_differences(last[0], expected)[:20], sep="\n  ")
        raise


@pytest.mark.parametrize("workers", [1, 2])
def test_hostile_input_is_dead_lettered_and_changes_nothing(
        namespace: Namespace, start_worker: Any, tmp_path: Path, workers: int) -> None:
    now = datetime.now(UTC)
    small = good_conversations(300, "g")
    envelope_events = good_conversations(BIG_ENVELOPE_EVENTS // 5, "e", partition=1)
    bad_element = {"id": "e-bad", "type": "conversation.created", "conversation_id": "e-0",
                   "at": "yesterday"}
    bad_index = len(envelope_events) // 2
    envelope = orjson.dumps([*envelope_events[:bad_index], bad_element,
                             *envelope_events[bad_index:]])
    assert len(envelope) > 5_000_000
    good_file = tmp_path / "good.jsonl"
    good_file.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in small + envelope_events))
    expected = json.loads(namespace.cli("replay", str(good_file), "--as-of", AS_OF,
                                        "--no-pretty"))
    overall = expected["windows"]["24h"]["overall"]
    assert overall["conversations_created"] == 300 + BIG_ENVELOPE_EVENTS // 5

    hostile = hostile_inputs(now)
    messages: list[tuple[bytes | None, bytes | None, int | None]] = [
        (_key(orjson.dumps(e)), orjson.dumps(e), None) for e in small]
    rnd = random.Random(10)
    for _, value, _ in hostile:
        messages.insert(rnd.randrange(len(messages)), (_key(value), value, None))
    messages.insert(rnd.randrange(len(messages)), (b"e-0", envelope, 1))

    env = {"SUPPORT_KPI_MAX_MESSAGE_BYTES": str(LIMIT)}
    started = [start_worker(f"w{i}", **env) for i in range(workers)]
    for worker in started:
        worker.wait_ready()
    asyncio.run(_publish(namespace.bootstrap, namespace.topic, messages))
    _wait_equal(started, expected)

    letters = read_topic(namespace.bootstrap, namespace.dead_letter_topic, len(hostile) + 1, 60)
    headers = [{k: v.decode() for k, v in m.headers} for m in letters]
    assert sorted(h["reason"] for h in headers) == sorted(
        [reason for _, _, reason in hostile] + ["invalid_event"])
    for letter, head in zip(letters, headers, strict=True):
        assert len(letter.value or b"") <= MAX_VALUE_BYTES
        assert sum(len(v) for _, v in letter.headers) < 4096, head["reason"]
        assert head["topic"] == namespace.topic and int(head["offset"]) >= 0
    by_size = {int(h["size"]): (h, m) for h, m in zip(headers, letters, strict=True)}
    five_mb = next(size for size in by_size if size > 5_000_000)
    head, letter = by_size[five_mb]
    assert head["reason"] == "oversized" and head["truncated"] == "true"
    assert letter.value == orjson.dumps({"id": "h-5mb", "type": "conversation.created",
                                         "conversation_id": "h-lax",
                                         "at": "2024-03-04T10:00:00Z",
                                         "pad": "x" * 5_000_000})[:MAX_VALUE_BYTES]
    element = next(h for h in headers if h.get("element") == str(bad_index))
    assert element["error"].startswith("at: ") and element["reason"] == "invalid_event"
    deep = next(h for h in headers if h.get("element") == "0")
    assert "nested deeper than 200 levels" in deep["error"]
    unknown = next(h for h in headers
                   if h["reason"] == "invalid_event" and int(h["size"]) > 600_000)
    assert unknown["error"].startswith("type: unknown event type") and len(unknown["error"]) < 600
    future = [h for h in headers if h["reason"] == "future"]
    assert all("clock" in h["error"] for h in future)
    lax = {h["error"].split(":")[0] for h in headers if h["reason"] == "invalid_event"}
    assert {"at", "score", "internal"} <= lax

    for worker in started:
        worker.check_running()
    text = "".join(w.metrics() for w in started)
    assert 'support_events_rejected_total{reason="future"}' in text
    assert "support_kafka_up 1.0" in text


def test_past_kpis_as_of_out_of_range_is_a_400(namespace: Namespace, start_worker: Any) -> None:
    import urllib.error

    worker = start_worker("w1").wait_ready()
    for as_of in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+01:00", "tomorrow"):
        with pytest.raises(urllib.error.HTTPError) as error:
            worker.get(f"/kpis?as_of={as_of}")
        assert error.value.code == 400
        assert json.loads(error.value.read())["error"].startswith("as_of: ")
    worker.check_running()

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
from fixtures.kafka import read_topic
from fixtures.traffic import Message, good_conversations, message_key, publish, wait_merged
from fixtures.workers import Namespace

from service.stream.dead_letters import MAX_VALUE_BYTES

pytestmark = pytest.mark.integration

AS_OF = "2024-03-04T12:00:00Z"
LIMIT = 1_048_576
"""The workers here keep the default per-event limit (1 MB), so a large envelope is legal."""
BIG_ENVELOPE_EVENTS = 50_000


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
    messages: list[Message] = [(message_key(orjson.dumps(e)), orjson.dumps(e), None)
                               for e in small]
    rnd = random.Random(10)
    for _, value, _ in hostile:
        messages.insert(rnd.randrange(len(messages)), (message_key(value), value, None))
    messages.insert(rnd.randrange(len(messages)), (b"e-0", envelope, 1))

    env = {"SUPPORT_KPI_MAX_MESSAGE_BYTES": str(LIMIT)}
    started = [start_worker(f"w{i}", **env) for i in range(workers)]
    for worker in started:
        worker.wait_ready()
    asyncio.run(publish(namespace.bootstrap, namespace.topic, messages))
    wait_merged(started, expected, AS_OF)

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

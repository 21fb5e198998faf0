"""``support-kpi produce`` when the broker goes away (issue 10): the command either delivers
every event exactly once or says how many it did not, and what it says matches the topic."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from fixtures.kafka import load_local_kafka
from fixtures.workers import BIN

from service.publish import ensure_topics
from service.synthetic import TrafficShape, generate_events

pytestmark = pytest.mark.integration

TOTAL = 3000
PARTITIONS = 4
BEFORE_OUTAGE = 1000
SUMMARY = re.compile(r"([\d,]+) of ([\d,]+) events delivered; ([\d,]+) not delivered")
RESUME = re.compile(r"from its line ([\d,]+)")


def _restartable_kafka() -> Any:
    """A LocalKafka that keeps its data directory and ports across stop() and start(), so the
    topic survives an outage. ``discard()`` stops it and removes the directory."""
    base = load_local_kafka().LocalKafka

    class RestartableKafka(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__(keep_dir=True)

        def _prepare(self, java: str, libs: Path) -> None:
            if self.workdir is not None and (self.workdir / "server.properties").exists():
                return
            super()._prepare(java, libs)

        def discard(self) -> None:
            self.keep_dir = False
            self.stop()

    return RestartableKafka()


@pytest.fixture
def kafka() -> Any:
    broker = _restartable_kafka()
    broker.start()
    try:
        yield broker
    finally:
        broker.discard()


def _lines() -> list[bytes]:
    events = generate_events(TrafficShape(conversations=TOTAL), seed=7)
    return [orjson.dumps(event) + b"\n" for _, event in zip(range(TOTAL), events, strict=False)]


def _topic_events(bootstrap: str, topic: str, deadline_s: float = 30) -> list[dict[str, Any]]:
    """Every event on the topic, read up to the partitions' end offsets."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def read() -> list[dict[str, Any]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            found: list[dict[str, Any]] = []
            stop_at = time.monotonic() + deadline_s
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                assert time.monotonic() < stop_at, "the topic could not be read to its end"
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    for message in messages:
                        parsed = orjson.loads(message.value)
                        found += parsed if isinstance(parsed, list) else [parsed]
            return found
        finally:
            await consumer.stop()

    return asyncio.run(read())


def _env(bootstrap: str, topic: str) -> dict[str, str]:
    return {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "SUPPORT_KPI_TOPIC": topic,
            "SUPPORT_KPI_PARTITIONS": str(PARTITIONS)}


def _wait_for_events(bootstrap: str, topic: str, count: int, deadline_s: float = 30) -> None:
    stop_at = time.monotonic() + deadline_s
    while len(_topic_events(bootstrap, topic)) < count:
        assert time.monotonic() < stop_at, f"fewer than {count} events reached {topic}"
        time.sleep(0.2)


def _check_outcome(returncode: int, stderr: str, lines: list[bytes],
                   on_topic: list[dict[str, Any]]) -> str:
    """The command's claim against the topic; which branch it took."""
    ids = [orjson.loads(line)["id"] for line in lines]
    counts = Counter(event["id"] for event in on_topic)
    assert max(counts.values(), default=1) == 1, "an event reached the topic twice"
    if returncode == 0:
        assert f"published {TOTAL} events" in stderr, stderr
        assert set(counts) == set(ids)
        return "delivered everything"
    assert returncode == 1, stderr
    summary = SUMMARY.search(stderr)
    assert summary is not None, stderr
    delivered, handed, undelivered = (int(g.replace(",", "")) for g in summary.groups())
    assert delivered == len(on_topic), stderr
    assert undelivered == handed - delivered > 0, stderr
    resume = RESUME.search(stderr)
    assert resume is not None, stderr
    first_missing = int(resume.group(1).replace(",", ""))
    assert set(ids[:first_missing - 1]) <= set(counts), "an event before the resume line is missing"
    assert "Once Kafka at" in stderr and "is reachable" in stderr, stderr
    return f"reported {undelivered} undelivered, resume at line {first_missing}"


def _produce_until_delivered(kafka: Any, topic_name: str, lines: list[bytes],
                             timeout_s: float) -> subprocess.Popen[bytes]:
    """``support-kpi produce -`` fed the first BEFORE_OUTAGE lines, once they are on the topic
    (the rest is the caller's to feed)."""
    asyncio.run(ensure_topics(kafka.bootstrap, [topic_name], PARTITIONS))
    command = subprocess.Popen([str(BIN), "produce", "-", "--timeout", str(timeout_s)],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env=_env(kafka.bootstrap, topic_name))
    assert command.stdin is not None
    command.stdin.write(b"".join(lines[:BEFORE_OUTAGE]))
    command.stdin.flush()
    _wait_for_events(kafka.bootstrap, topic_name, BEFORE_OUTAGE)
    return command


def test_outage_longer_than_the_timeout_reports_what_was_not_delivered(
        kafka: Any, topic_name: str) -> None:
    lines = _lines()
    began = time.monotonic()
    command = _produce_until_delivered(kafka, topic_name, lines, timeout_s=5)
    try:
        assert command.stdin is not None
        kafka.stop()
        stopped = time.monotonic()
        _, stderr = command.communicate(b"".join(lines[BEFORE_OUTAGE:]), timeout=60)
        gave_up = time.monotonic()
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
    kafka.start()
    outcome = _check_outcome(command.returncode, stderr.decode(), lines,
                             _topic_events(kafka.bootstrap, topic_name))
    assert command.returncode == 1, "nothing can be delivered while the broker is down"
    assert gave_up - stopped < 5 + 15, "the retries were not bounded by --timeout"
    print(f"{outcome}; broker stopped after {stopped - began:.1f} s, command gave up "
          f"{gave_up - stopped:.1f} s later")


def test_outage_shorter_than_the_timeout_delivers_everything_once(
        kafka: Any, topic_name: str) -> None:
    lines = _lines()
    command = _produce_until_delivered(kafka, topic_name, lines, timeout_s=45)
    try:
        assert command.stdin is not None
        kafka.stop()
        command.stdin.write(b"".join(lines[BEFORE_OUTAGE:]))
        command.stdin.flush()
        kafka.start()
        _, stderr = command.communicate(timeout=60)
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
    outcome = _check_outcome(command.returncode, stderr.decode(), lines,
                             _topic_events(kafka.bootstrap, topic_name))
    print(outcome)


def test_reported_count_equals_the_topic(kafka_bootstrap: str, topic_name: str,
                                         tmp_path: Path) -> None:
    lines = _lines()
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(lines))
    done = subprocess.run([str(BIN), "produce", str(path), "--batch", "50"],
                          capture_output=True, text=True, timeout=60,
                          env=_env(kafka_bootstrap, topic_name))
    assert done.returncode == 0, done.stderr
    published = re.search(r"published (\d+) events in (\d+) messages", done.stderr)
    assert published is not None, done.stderr
    on_topic = _topic_events(kafka_bootstrap, topic_name)
    assert int(published.group(1)) == len(on_topic) == TOTAL
    assert {event["id"] for event in on_topic} == {orjson.loads(line)["id"] for line in lines}

"""The history sink on the real broker (SPEC §8): a worker sends, the sink writes, both are
killed with SIGKILL mid-stream and restarted, and the sink's database holds what
``support-kpi replay --history`` writes from the same events. Records that do not decode go to
the dead letters and the sink goes on. The history commands read the file while the sink runs,
and its HTTP API answers as they do.
"""

import asyncio
import json
import signal
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from fixtures.history import history_tables
from fixtures.kafka import read_topic
from fixtures.traffic import wait_merged
from fixtures.workers import Namespace, wait_until

from service.history.database import held_span, open_history
from service.processes import SinkProcess
from service.synthetic import TrafficShape, generate_events


def events_file(tmp: Path) -> Path:
    """A simulated desk's 20 hours from 4 hours before its first conversation: less than the
    workers' 25 h retention, so that no event is late for one topology and in time for the
    other."""
    events = list(generate_events(TrafficShape(conversations=300, agents=16,
                                               conversations_per_minute=4), seed=11))
    first = min(datetime.fromisoformat(e["at"]) for e in events
                if e["type"] == "conversation.created") - timedelta(hours=4)
    path = tmp / "events.jsonl"
    with path.open("wb") as out:
        for event in events:
            if first <= datetime.fromisoformat(event["at"]) < first + timedelta(hours=20):
                out.write(orjson.dumps(event) + b"\n")
    return path


def tables_of(path: Path) -> dict[str, Any]:
    connection = open_history(path, read_only=True)
    try:
        return history_tables(connection)
    finally:
        connection.close()


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_sink_killed_and_restarted_holds_replays_history(namespace: Namespace,
                                                         start_worker: Any,
                                                         tmp_path: Path) -> None:
    path = events_file(tmp_path)
    expected_db = tmp_path / "expected.duckdb"
    namespace.cli("replay", str(path), "--history", str(expected_db), "--no-pretty")
    expected = tables_of(expected_db)
    assert expected["facts"] and expected["segments"] and expected["conversations"]
    replayed = json.loads(namespace.cli("replay", str(path), "--no-pretty"))
    as_of = replayed["as_of"]

    lines = path.read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    (tmp_path / "first.jsonl").write_bytes(b"".join(lines[:half]))
    (tmp_path / "second.jsonl").write_bytes(b"".join(lines[half:]))
    namespace.cli("produce", str(tmp_path / "first.jsonl"), "--batch", "10")
    worker = start_worker("w1").wait_ready()
    garbage = [b"not json", b'["c", 99, "conv-1", null, [], [], null, false, null]']
    asyncio.run(publish(namespace, garbage))
    db = tmp_path / "sink" / "history.duckdb"
    sink = SinkProcess("sink", namespace.env(), tmp_path / "sink",
                       log=tmp_path / "sink.log", db=db).start()
    try:
        wait_until(lambda: sink.state().get("records", 0) > 0, 90,
                   "the sink to write some records")
        assert sink.state()["undecodable_history"] == len(garbage)
        namespace.cli("produce", str(tmp_path / "second.jsonl"), "--batch", "10")
        wait_until(lambda: "support_events_total{" in worker.metrics(), 60,
                   "the worker to process some events")
        sink.stop(signal.SIGKILL)
        worker.stop(signal.SIGKILL)
        sink = SinkProcess("sink2", namespace.env(), tmp_path / "sink",
                           log=tmp_path / "sink2.log", db=db).start()
        restarted = start_worker("w2").wait_ready(timeout_s=120)
        wait_merged([restarted], replayed, as_of, 150, "the restarted worker to equal replay")
        wait_until(lambda: sink.readiness() and sink.state()["lag"] == 0
                   and tables_of_running(sink, db) == expected, 120,
                   "the sink's history to equal replay's")

        report_args = ["history", "report", "--from", "2024-03-01", "--to", "2024-03-10",
                       "--by", "day", "--compare", "--format", "json"]
        from_sink = json.loads(namespace.cli(*report_args, "--db", str(db)))
        from_replay = json.loads(namespace.cli(*report_args, "--db", str(expected_db)))
        assert from_sink["periods"] == from_replay["periods"]
        assert any(p["levels"]["overall"]["conversations_created"]
                   for p in from_sink["periods"])
        status, body = get(f"{sink.url}/history/report?from=2024-03-01&to=2024-03-10&by=day"
                           "&compare=1")
        assert status == 200 and body["periods"] == from_replay["periods"]
        status, body = get(f"{sink.url}/history/report?from=2024-13-01&to=2024-03-10")
        assert status == 400 and body["parameter"] == "from", body
        status, body = get(f"{sink.url}/history/report?from=2024-03-01&to=2024-03-10"
                           "&slice=planet")
        assert status == 400 and body["parameter"] == "slice", body
        status, body = get(f"{sink.url}/history/report?from=2024-03-01&to=2024-03-10"
                           "&compare=maybe")
        assert status == 400 and body["parameter"] == "compare", body
        status, body = get(f"{sink.url}/history/report?from=2024-03-01&to=2024-03-10"
                           "&compare=no")
        assert status == 200 and "previous" not in body["periods"][0], body
        status, body = get(f"{sink.url}/history/conversations?from=2024-03-01&to=2024-03-10"
                           "&team=nobody")
        assert status == 404 and "nobody" in body["error"], body
        status, body = get(f"{sink.url}/history/conversations?from=2024-03-01&to=2024-03-10")
        created = sum(1 for line in lines if b'"conversation.created"' in line)
        assert status == 200 and len(body["conversations"]) == created
        letters = read_topic(namespace.bootstrap, namespace.dead_letter_topic, len(garbage), 20)
        assert sorted(m.value for m in letters) == sorted(garbage)
        errors = sorted(dict(m.headers)["error"].decode() for m in letters)
        assert [dict(m.headers)["reason"] for m in letters] == [b"undecodable_history"] * 2
        assert errors[0].startswith("not JSON") and "version 99" in errors[1], errors
        metrics = _metric_values(sink)
        assert metrics["support_history_records_total"] > 0
        assert metrics["support_history_facts_written_total"] > 0
        assert metrics["support_history_lag_records"] == 0
        assert metrics["support_history_as_of_timestamp_seconds"] * 1000 == held_as_of(db)
    finally:
        sink.stop(signal.SIGKILL)


def _metric_values(sink: SinkProcess) -> dict[str, float]:
    """The sink's unlabelled samples of ``/metrics``, by name."""
    text = sink.get("/metrics").decode()
    return {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
            if line and not line.startswith("#") and "{" not in line}


def held_as_of(path: Path) -> int:
    connection = open_history(path, read_only=True)
    try:
        return held_span(connection)[1]
    finally:
        connection.close()


async def publish(namespace: Namespace, records: list[bytes]) -> None:
    """``records`` onto the history topic, as if a worker had sent them."""
    producer = AIOKafkaProducer(bootstrap_servers=namespace.bootstrap)
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(namespace.history_topic, record, key=b"conv-1",
                                         partition=0)
    finally:
        await producer.stop()


def tables_of_running(sink: SinkProcess, db: Path) -> dict[str, Any] | None:
    """The sink's tables, read between its transactions (None while it holds the file)."""
    from service.history.database import HistoryError

    try:
        return tables_of(db)
    except HistoryError:
        return None

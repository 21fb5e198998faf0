"""The streaming service on the real broker, checked against offline replay.

(a) events through Kafka and through replay give identical reports; (b) two workers, one
stopped: the survivor takes over and still equals replay; (c) a worker killed with SIGKILL
mid-stream and restarted equals replay; (d) garbage lands in the dead-letter topic and changes
no KPI.
"""

import asyncio
import json
import random
import re
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from fixtures.kafka import read_topic
from fixtures.traffic import wait_merged
from fixtures.workers import (
    MAX_MESSAGE_BYTES,
    Namespace,
    WorkerProcess,
    free_port,
    wait_until,
)

from service.config import KpiConfig
from service.engine.engine import KpiEngine
from service.engine.feedback import agent_token
from service.engine.queue import QUEUE_STATES
from service.replay import open_lines, replay_lines
from service.synthetic import TrafficShape, generate_events
from service.timefmt import parse_as_of

CUT_OFF = "2024-03-04T11:30"
OPERATOR_TOKEN = "operator-token-for-tests"
AGENT_SECRET = "agent-secret-for-tests"
AS_OF = "2024-03-04T12:00:00Z"


def events_file(tmp: Path, conversations: int = 300, seed: int = 7) -> Path:
    """Synthetic traffic cut off before AS_OF, so that many conversations are still open."""
    path = tmp / "events.jsonl"
    with path.open("wb") as out:
        for event in generate_events(TrafficShape(conversations=conversations, agents=16,
                                                  conversations_per_minute=4), seed=seed):
            if event["at"] < CUT_OFF:
                out.write(orjson.dumps(event) + b"\n")
    return path


def replay(namespace: Namespace, path: Path) -> dict[str, Any]:
    return json.loads(namespace.cli("replay", str(path), "--as-of", AS_OF, "--no-pretty"))


def wait_equal(workers: list[WorkerProcess], expected: dict[str, Any], what: str,
               timeout_s: float = 120) -> None:
    wait_merged(workers, expected, AS_OF, timeout_s, what)


async def _group_members(namespace: Namespace) -> int:
    """Members of the workers' consumer group (-1 while the coordinator cannot say)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=namespace.bootstrap)
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([namespace.app_id])
    except KafkaError:
        return -1
    finally:
        await admin.close()
    return sum(len(group[5]) for response in described for group in response.groups)


def replayed(path: Path) -> KpiEngine:
    engine = KpiEngine(KpiConfig())
    replay_lines(engine, open_lines(str(path)), parse_as_of(AS_OF))
    return engine


def check_queues(namespace: Namespace, workers: list[WorkerProcess], engine: KpiEngine) -> None:
    """``support-kpi queue`` over the workers lists, for every state, the conversations replay
    lists at the same as-of, in the same order; each worker lists only its own."""
    as_of_ms = parse_as_of(AS_OF)
    urls = ",".join(worker.url for worker in workers)
    for state in QUEUE_STATES:
        printed = namespace.cli("queue", "--workers", urls, "--state", state, "--as-of", AS_OF,
                                "--limit", "10000", "--json")
        expected = engine.queue(state, as_of_ms)
        assert json.loads(printed)["conversations"] == engine.queue(
            state, as_of_ms, limit=None)["conversations"], state
        own = [set(c["conversation_id"] for c in json.loads(worker.get(
            f"/conversations?state={state}&limit=10000&as_of={AS_OF}"))["conversations"])
            for worker in workers]
        assert not own[0] & own[1], f"{state}: a conversation listed by both workers"
        assert sum(map(len, own)) == expected["total"], state
    assert engine.queue("open", as_of_ms)["total"] > 0
    team = sorted(engine.report(as_of_ms)["live"]["teams"])[0]
    printed = namespace.cli("queue", "--workers", urls, "--state", "open", "--team", team,
                            "--as-of", AS_OF, "--limit", "5", "--json")
    assert json.loads(printed) == engine.queue("open", as_of_ms, team=team, limit=5)
    with pytest.raises(urllib.error.HTTPError) as refused:
        workers[0].get("/conversations?state=late")
    assert refused.value.code == 400


def get(worker: WorkerProcess, path: str, token: str | None) -> tuple[int, Any]:
    """(status, JSON body) of ``path`` with ``token`` as the bearer (None: no header)."""
    request = urllib.request.Request(worker.url + path)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def check_feedback(workers: list[WorkerProcess], engine: KpiEngine) -> None:
    """Every agent's and team's feedback page comes from the one worker that owns the key (the
    other says 404) and equals replay's; an agent's token opens that agent's page only."""
    as_of_ms = parse_as_of(AS_OF)
    day = engine.report(as_of_ms)["windows"]["24h"]
    listed = 0
    for level, keys in (("agent", sorted(day["agents"])), ("team", sorted(day["teams"]))):
        for key in keys:
            path = f"/{level}s/{key}/feedback?as_of={AS_OF}"
            answers = [get(worker, path, OPERATOR_TOKEN) for worker in workers]
            assert sorted(status for status, _ in answers) == [200, 404], (key, answers)
            (page,) = [body for status, body in answers if status == 200]
            assert page == engine.feedback(level, key, as_of_ms), key
            listed += len(page["ratings"]) + len(page["reviews"])
    assert listed > 0, "the simulated day should have ratings and reviews"
    first, second = sorted(day["agents"])[:2]
    own = agent_token(AGENT_SECRET, first)
    statuses = {worker.name: (get(worker, f"/agents/{first}/feedback", own)[0],
                              get(worker, f"/agents/{second}/feedback", own)[0],
                              get(worker, f"/teams/{day['agents'][first]['team']}/feedback",
                                  own)[0],
                              get(worker, f"/agents/{first}/feedback", None)[0])
                for worker in workers}
    for name, (mine, other, team, anonymous) in statuses.items():
        assert mine in (200, 404), (name, "the agent's own token opens its page")
        assert (other, team, anonymous) == (403, 401, 403), name
    assert 200 in [mine for mine, *_ in statuses.values()]


def check_refusals(namespace: Namespace, workers: list[WorkerProcess], engine: KpiEngine
                   ) -> None:
    """A team or agent no worker knows is an error naming it and the known ones (the CLI exits
    2, the worker holding it answers 404); an as-of before what the panes hold is a 400; a
    worker that does not answer leaves the others' answer printed, itself named, exit 3."""
    day = engine.report(parse_as_of(AS_OF))["windows"]["24h"]
    teams, agents = sorted(day["teams"]), sorted(day["agents"])
    assert "billing" in teams, "the simulated desk has a billing team"
    urls = ",".join(worker.url for worker in workers)
    typo = namespace.run("queue", "--workers", urls, "--state", "open", "--team", "Billing",
                         "--as-of", AS_OF)
    said = typo.stderr.decode()
    assert typo.returncode == 2, said
    assert "team 'Billing' is not known" in said and "did you mean 'billing'?" in said, said
    assert f"Teams known: {', '.join(teams)}." in said, said
    stranger = namespace.run("explain", "conversations_resolved", "--workers", urls,
                             "--agent", "agent-9999", "--as-of", AS_OF)
    said = stranger.stderr.decode()
    assert stranger.returncode == 2, said
    assert "agent 'agent-9999' is not known" in said and agents[0] in said, said
    answers = [get(worker, f"/agents/agent-9999/feedback?as_of={AS_OF}", OPERATOR_TOKEN)
               for worker in workers]
    assert sorted(status for status, _ in answers) == [404, 404]
    assert [body.get("unknown", {}).get("name") for _, body in answers].count("agent-9999") == 1, (
        "the worker holding agent-9999 says it is unknown, the other that it holds it not")
    status, body = get(workers[0], "/kpis?as_of=1970-01-01T00:00:00Z", OPERATOR_TOKEN)
    assert status == 400 and "is before 2024-03-04T" in body["error"], body
    assert get(workers[0], f"/kpis?as_of={AS_OF}", OPERATOR_TOKEN)[0] == 200
    gone = f"http://127.0.0.1:{free_port()}"
    partial = namespace.run("queue", "--workers", f"{workers[0].url},{gone}", "--state", "open",
                            "--as-of", AS_OF, "--limit", "10000", "--json")
    said = partial.stderr.decode()
    assert partial.returncode == 3, said
    assert f"incomplete: {gone} did not answer" in said, said
    listed = json.loads(workers[0].get(f"/conversations?state=open&limit=10000&as_of={AS_OF}"))
    assert json.loads(partial.stdout)["conversations"] == listed["conversations"]


def owned_agents(worker: WorkerProcess) -> set[str]:
    return set(worker.kpis(AS_OF)["windows"]["24h"]["agents"])


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_kafka_and_replay_give_identical_reports(namespace: Namespace, start_worker: Any,
                                                 tmp_path: Path, store: str) -> None:
    path = events_file(tmp_path)
    expected = replay(namespace, path)
    assert expected["windows"]["24h"]["overall"]["conversations_created"] > 0
    namespace.cli("produce", str(path), "--batch", "50")
    worker = start_worker("w1", SUPPORT_KPI_STORE=store).wait_ready()
    wait_equal([worker], expected, "the worker's report to equal replay")
    printed = namespace.cli("report", "--workers", worker.url, "--as-of", AS_OF, "--no-pretty")
    assert json.loads(printed) == expected
    for command in (["report"], ["queue", "--state", "open"]):
        refused = namespace.run(*command, "--workers", worker.url, "--as-of", "yesterday")
        said = refused.stderr.decode()
        assert refused.returncode == 2, said
        assert f"worker {worker.url} answered 400: as_of: 'yesterday'" in said
        assert "Are the workers running" not in said
    text = worker.metrics()
    live = expected["live"]["overall"]
    assert live["open"] + live["waiting_on_customer"] > 0
    for key in ("open", "waiting_on_customer", "unassigned", "awaiting_first_response"):
        assert f"support_overall_{key} {float(live[key])}" in text, key
    assert "support_processing_latency_seconds_count" in text


def test_survivor_takes_over_when_a_worker_stops(namespace: Namespace, start_worker: Any,
                                                 tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORT_KPI_TOKEN", OPERATOR_TOKEN)
    monkeypatch.setenv("SUPPORT_KPI_AGENT_SECRET", AGENT_SECRET)
    path = events_file(tmp_path, seed=11)
    expected = replay(namespace, path)
    first = start_worker("w1").wait_ready()
    second = start_worker("w2").wait_ready()
    namespace.cli("produce", str(path), "--batch", "20")
    wait_equal([first, second], expected, "two workers' merged report to equal replay")
    moved = owned_agents(second)
    assert moved and owned_agents(first), "both workers should own some agents"
    engine = replayed(path)
    check_queues(namespace, [first, second], engine)
    check_feedback([first, second], engine)
    check_refusals(namespace, [first, second], engine)
    second.stop(signal.SIGTERM)
    wait_equal([first], expected, "the survivor alone to equal replay", timeout_s=150)
    text = first.metrics()
    agent = sorted(moved)[0]
    assert f'agent="{agent}"' in text, "the survivor exports the moved agent's series"


def test_display_names_reach_the_report_the_metrics_and_the_queue(
        namespace: Namespace, start_worker: Any, tmp_path: Path) -> None:
    """Names from the configuration (issue 25 item 3): the worker's report carries them as
    replay's does, /metrics has an info series per team and agent, the queue table shows the
    name instead of the key."""
    config = tmp_path / "names.yaml"
    config.write_text("teams:\n  billing: {name: Billing EU}\n"
                      "agents:\n  agent-0001: {name: Ana Souza}\n")
    path = events_file(tmp_path, seed=5)
    expected = json.loads(namespace.cli("replay", str(path), "--as-of", AS_OF, "--no-pretty",
                                        "--config", str(config)))
    assert expected["names"] == {"teams": {"billing": "Billing EU"},
                                 "agents": {"agent-0001": "Ana Souza"}}
    namespace.cli("produce", str(path), "--batch", "50")
    worker = start_worker("w1", SUPPORT_KPI_CONFIG=str(config)).wait_ready()
    wait_equal([worker], expected, "the worker's named report to equal replay's")
    text = worker.metrics()
    assert 'support_team_info{name="Billing EU",team="billing"} 1.0' in text
    assert 'support_team_info{name="tech",team="tech"} 1.0' in text
    assert 'support_agent_info{agent="agent-0001",name="Ana Souza"} 1.0' in text
    table = namespace.cli("queue", "--workers", worker.url, "--state", "open", "--team",
                          "billing", "--as-of", AS_OF).decode()
    rows = table.splitlines()[2:]
    assert rows and all("Billing EU" in row for row in rows), table
    assert not any(" billing " in row for row in rows), table


def test_sigkill_mid_stream_then_restart(namespace: Namespace, start_worker: Any,
                                         tmp_path: Path) -> None:
    path = events_file(tmp_path, conversations=400, seed=3)
    expected = replay(namespace, path)
    lines = path.read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    (tmp_path / "first.jsonl").write_bytes(b"".join(lines[:half]))
    (tmp_path / "second.jsonl").write_bytes(b"".join(lines[half:]))
    namespace.cli("produce", str(tmp_path / "first.jsonl"), "--batch", "10")
    worker = start_worker("w1").wait_ready()
    wait_until(lambda: "support_events_total{" in worker.metrics(), 60,
               "the worker to process some events")
    namespace.cli("produce", str(tmp_path / "second.jsonl"), "--batch", "10")
    worker.stop(signal.SIGKILL)
    wait_until(lambda: asyncio.run(_group_members(namespace)) == 0, 60,
               "the killed worker's group membership to expire")
    restarted = start_worker("w1b").wait_ready()
    wait_equal([restarted], expected, "the restarted worker to equal replay", timeout_s=150)


def restored(worker: WorkerProcess) -> int:
    """Changelog records the worker has read into its tables since it started."""
    body = worker.readiness()
    assert body is not None, f"worker {worker.name} is not ready"
    return int(body["restored"])


def test_restart_with_kept_data_reads_no_changelog(namespace: Namespace, start_worker: Any,
                                                   tmp_path: Path) -> None:
    """A worker stopped and started again on its data directory (RocksDB) holds its state at
    once: it reads none of the changelogs again, applies the new events and equals replay; a
    worker on an empty directory restores the same state from the changelogs, read in bulk."""
    path = events_file(tmp_path, conversations=200, seed=13)
    lines = path.read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    (tmp_path / "first.jsonl").write_bytes(b"".join(lines[:half]))
    (tmp_path / "second.jsonl").write_bytes(b"".join(lines[half:]))
    rocksdb = {"SUPPORT_KPI_STORE": "rocksdb://"}
    namespace.cli("produce", str(tmp_path / "first.jsonl"), "--batch", "20")
    worker = start_worker("kept", **rocksdb).wait_ready()
    wait_equal([worker], replay(namespace, tmp_path / "first.jsonl"),
               "the worker to equal replay of the first half")
    worker.stop(signal.SIGTERM)
    again = start_worker("kept", **rocksdb).wait_ready()
    assert restored(again) == 0, "a kept data directory must not read the changelogs again"
    namespace.cli("produce", str(tmp_path / "second.jsonl"), "--batch", "20")
    expected = replay(namespace, path)
    wait_equal([again], expected, "the restarted worker to apply the new events")
    assert restored(again) == 0
    again.stop(signal.SIGTERM)
    assert "ERROR" not in (tmp_path / "kept.log").read_text(), "a clean stop logs no error"
    fresh = start_worker("empty", **rocksdb).wait_ready()
    assert restored(fresh) > 0
    wait_equal([fresh], expected, "a worker on an empty directory to restore the state")
    bulk = re.findall(r"tables restored in bulk: (\d+) changelog records",
                      (tmp_path / "empty.log").read_text())
    assert [int(n) for n in bulk] == [restored(fresh)], (
        "the changelogs are read in bulk, none of them record by record by faust")


def test_garbage_goes_to_dead_letters(namespace: Namespace, start_worker: Any,
                                      tmp_path: Path) -> None:
    path = events_file(tmp_path, conversations=80, seed=5)
    expected = replay(namespace, path)
    good = path.read_bytes().splitlines()
    garbage = [
        b"this is not json",
        b'{"id": "x1", "type": "conversation.created", "at": "2024-03-04T10:00:00"}',
        b'{"id": "x2", "type": "rating.submitted", "at": "2024-03-04T10:00:00Z", '
        b'"conversation_id": "c", "survey": "csat", "score": 9}',
        b'{"id": "x3", "type": "conversation.created", "at": "2024-03-04T10:00:00Z", '
        b'"conversation_id": "big", "pad": "' + b"x" * (MAX_MESSAGE_BYTES + 1) + b'"}',
    ]
    mixed = list(good)
    rnd = random.Random(1)
    for item in garbage:
        mixed.insert(rnd.randrange(len(mixed)), item)

    async def publish() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=namespace.bootstrap)
        await producer.start()
        try:
            for raw in mixed:
                try:
                    key = orjson.loads(raw).get("conversation_id") or orjson.loads(raw).get(
                        "agent_id")
                except orjson.JSONDecodeError:
                    key = None
                await producer.send(namespace.topic, raw, key=key.encode() if key else None)
            await producer.flush()
        finally:
            await producer.stop()

    worker = start_worker("w1").wait_ready()
    asyncio.run(publish())
    wait_equal([worker], expected, "good events around the garbage to count")

    letters = read_topic(namespace.bootstrap, namespace.dead_letter_topic, len(garbage), 40)
    reasons = sorted(dict(m.headers)["reason"].decode() for m in letters)
    assert reasons == ["invalid_event", "invalid_event", "invalid_json", "oversized"]
    assert {m.value for m in letters} == set(garbage)
    errors = {dict(m.headers)["error"].decode() for m in letters}
    assert any(e.startswith("at: Input should have timezone info") for e in errors)
    text = worker.metrics()
    assert 'support_events_rejected_total{reason="invalid_event"} 2.0' in text
    assert 'support_events_rejected_total{reason="oversized"} 1.0' in text

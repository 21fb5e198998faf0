"""Benchmark phases on a real Kafka broker: the raw consume ceiling, one worker's end-to-end
throughput, restore from the changelogs, two workers against one, and live latency.

Each phase gets its own app id and topics, so phases never see each other's data."""

import asyncio
import os
import statistics
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry, generate_latest

from service.config import config_from_env
from service.engine.report import merge_reports, report_differences
from service.metrics.collector import KpiCollector
from service.partitioning import event_key, partition_for
from service.processes import WorkerProcess, poll_until
from service.publish import Envelope, ensure_topics

__all__ = ["Namespace", "consume_rate", "latency", "metrics_scrape", "publish", "restart_run",
           "restore_run", "service_run"]

PARTITIONS = 4


@dataclass
class Namespace:
    bootstrap: str
    workdir: Path
    tag: str = ""

    def __post_init__(self) -> None:
        self.tag = self.tag or uuid.uuid4().hex[:8]

    @property
    def topic(self) -> str:
        return f"bench-{self.tag}-events"

    def env(self) -> dict[str, str]:
        return dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=self.bootstrap,
                    SUPPORT_KPI_APP_ID=f"bench-{self.tag}", SUPPORT_KPI_TOPIC=self.topic,
                    SUPPORT_KPI_DELTAS_TOPIC=f"bench-{self.tag}-deltas",
                    SUPPORT_KPI_DEAD_LETTER_TOPIC=f"bench-{self.tag}-dead",
                    SUPPORT_KPI_PARTITIONS=str(PARTITIONS))

    def worker(self, name: str) -> WorkerProcess:
        return WorkerProcess(name, self.env(), self.workdir / self.tag / name,
                             log=self.workdir / f"{self.tag}-{name}.log")


def _progress(label: str, done: int, total: int, started: float) -> None:
    rate = done / max(time.perf_counter() - started, 1e-9)
    print(f"\r  {label}: {done:,} / {total:,} events ({rate:,.0f}/s)   ", end="", flush=True)


async def _publish(bootstrap: str, topic: str, messages: list[Envelope]) -> float:
    await ensure_topics(bootstrap, [topic], PARTITIONS)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5,
                                max_batch_size=1 << 20, max_request_size=8 << 20)
    await producer.start()
    try:
        started = time.perf_counter()
        for partition, key, value, _ in messages:
            await producer.send(topic, value, key=key, partition=partition)
        await producer.flush()
        return time.perf_counter() - started
    finally:
        await producer.stop()


def publish(bootstrap: str, topic: str, messages: list[Envelope]) -> float:
    """Publish the envelopes; seconds from the first send to the last acknowledged."""
    return asyncio.run(_publish(bootstrap, topic, messages))


async def _consume(bootstrap: str, topic: str, messages: int) -> float:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, max_partition_fetch_bytes=8 << 20,
                                fetch_max_bytes=64 << 20)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
        await consumer.seek_to_beginning()
        seen = 0
        started = time.perf_counter()
        deadline = time.monotonic() + 300
        while seen < messages and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            seen += sum(len(records) for records in batches.values())
        if seen < messages:
            raise RuntimeError(f"raw consumer read {seen} of {messages} messages in 300 s")
        return time.perf_counter() - started
    finally:
        await consumer.stop()


def consume_rate(bootstrap: str, topic: str, messages: list[Envelope]) -> dict[str, Any]:
    """aiokafka reading the whole topic from the start (no consumer group, so no group join
    in the figure): the ceiling for a worker."""
    seconds = asyncio.run(_consume(bootstrap, topic, len(messages)))
    events = sum(m[3] for m in messages)
    return {"messages": len(messages), "events": events, "seconds": seconds,
            "messages_per_s": len(messages) / seconds, "events_per_s": events / seconds}


def wait_caught_up(workers: list[WorkerProcess], events: int, timeout_s: float,
                   label: str, halfway_rss: list[int] | None = None) -> float:
    """Poll /readyz until the workers processed ``events`` and no partition lags; the time.
    ``halfway_rss`` gets each worker's RSS (bytes) when half of the events are processed."""
    started = time.perf_counter()
    print_every = time.monotonic()

    def caught_up() -> bool:
        nonlocal print_every
        states = [w.readiness() for w in workers]
        if any(s is None for s in states):
            return False
        done = sum(s["events"] for s in states if s)
        if halfway_rss is not None and not halfway_rss and done >= events // 2:
            halfway_rss.extend(w.rss_bytes() for w in workers)
        if time.monotonic() >= print_every:
            _progress(label, done, events, started)
            print_every = time.monotonic() + 2
        lag = sum(sum(s["lag"].values()) for s in states if s)
        return done >= events and lag == 0

    poll_until(caught_up, timeout_s, f"{label}: every event processed", interval_s=0.2)
    print()
    return time.perf_counter()


def equal_to(workers: list[WorkerProcess], expected: dict[str, Any], as_of: str,
             timeout_s: float = 60) -> list[str]:
    """Differences between the workers' merged /kpis and ``expected`` (none once equal; the
    last ones seen after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = report_differences(merge_reports([w.kpis(as_of) for w in workers]), expected)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(1)


def service_run(namespace: Namespace, messages: list[Envelope], workers: int,
                expected: dict[str, Any], as_of: str, timeout_s: float) -> dict[str, Any]:
    """``workers`` fresh workers; publish everything; events/s until all of it is reflected.
    Returns the figures and leaves the workers running (``result["workers"]``)."""
    started_workers = [namespace.worker(f"w{n}").start() for n in range(1, workers + 1)]
    for worker in started_workers:
        worker.wait_ready(120)
    poll_until(lambda: _all_partitions_owned(started_workers), 60, "partitions assigned")
    events = sum(m[3] for m in messages)
    started = time.perf_counter()
    publish_s = publish(namespace.bootstrap, namespace.topic, messages)
    halfway_rss: list[int] = []
    finished = wait_caught_up(started_workers, events, timeout_s,
                              f"service ({workers} worker{'s' if workers > 1 else ''})",
                              halfway_rss)
    seconds = finished - started
    mismatch = equal_to(started_workers, expected, as_of)
    result: dict[str, Any] = {
        "workers": started_workers, "events": events, "messages": len(messages),
        "seconds": seconds, "publish_seconds": publish_s, "events_per_s": events / seconds,
        "equal_to_replay": not mismatch, "differences": mismatch[:10],
        "store": namespace.env().get("SUPPORT_KPI_STORE", "memory://"),
        "halfway_rss_mb": [rss / 2**20 for rss in halfway_rss]}
    if workers == 1:
        result["metrics"] = metrics_scrape(started_workers[0], as_of)
    return result


def _series(body: bytes) -> int:
    """Samples in an exposition: its non-comment lines."""
    return sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))


def metrics_scrape(worker: WorkerProcess, as_of: str, scrapes: int = 5) -> dict[str, Any]:
    """``scrapes`` real ``GET /metrics`` calls on a caught-up worker (the default per-agent KPI
    set): series, bytes, median and slowest seconds. /metrics reports as of now, so the
    dataset's windows (dated in the past) are mostly zeros there; the series the same worker
    would export with data in its windows, with the default and with every per-agent KPI, are
    counted from its report as of the dataset's end (in this process, no HTTP)."""
    times, body = [], b""
    for _ in range(scrapes):
        started = time.perf_counter()
        body = worker.get("/metrics", timeout_s=60)
        times.append(time.perf_counter() - started)
    report = worker.kpis(as_of)
    agents = set(report["live"]["agents"]).union(
        *(levels["agents"] for levels in report["windows"].values()))
    with_data = {}
    for name, agent_kpis in (("default", config_from_env().metrics.agent_kpis), ("all", None)):
        registry = CollectorRegistry(auto_describe=False)
        registry.register(KpiCollector(lambda: report, agent_kpis))
        started = time.perf_counter()
        exposition = generate_latest(registry)
        with_data[name] = {"series": _series(exposition), "bytes": len(exposition),
                           "render_seconds": time.perf_counter() - started}
    return {"agents": len(agents), "scrapes": scrapes,
            "series": _series(body),
            "agent_series": sum(1 for line in body.splitlines()
                                if line.startswith(b"support_agent_")),
            "bytes": len(body), "median_seconds": statistics.median(times),
            "max_seconds": max(times), "as_of_dataset": with_data}


def _all_partitions_owned(workers: list[WorkerProcess]) -> bool:
    """Every worker ready and the overall key owned by one of them: assignment settled."""
    states = [w.readiness() for w in workers]
    return all(states) and sum(s["owned"].get("overall", 0) for s in states if s) == 1


def restore_run(namespace: Namespace, expected: dict[str, Any], as_of: str,
                events: int) -> dict[str, Any]:
    """A worker with an empty data directory restores all state from the changelogs."""
    worker = namespace.worker("restored")
    started = time.perf_counter()
    worker.start().wait_ready(600)
    seconds = time.perf_counter() - started
    restored = (worker.readiness() or {}).get("restored")
    mismatch = equal_to([worker], expected, as_of)
    rss = worker.rss_bytes()
    worker.stop()
    return {"seconds_to_ready": seconds, "events_per_s": events / seconds,
            "restored_records": restored,
            "rss_mb": rss / 2**20, "equal_to_replay": not mismatch,
            "differences": mismatch[:10]}


def restart_run(namespace: Namespace, worker: WorkerProcess, expected: dict[str, Any],
                as_of: str, probe_at: str) -> dict[str, Any]:
    """Stop ``worker`` (SIGTERM) and start it again on its data directory: seconds until it is
    ready, the changelog records it restored, whether its report still equals ``expected``,
    and the seconds until one new event (a conversation created at ``probe_at``, after
    ``as_of``'s pane, so that the later phases' reports at ``as_of`` stay replay's) is applied."""
    worker.stop()
    again = namespace.worker(worker.name)
    started = time.perf_counter()
    again.start().wait_ready(600)
    ready_s = time.perf_counter() - started
    state = again.readiness() or {}
    mismatch = equal_to([again], expected, as_of)
    probe = {"id": "bench-restart-probe", "type": "conversation.created",
             "conversation_id": "bench-restart-probe", "team": "billing", "channel": "chat",
             "at": probe_at}
    value = orjson.dumps(probe)
    key = event_key(probe) or b""
    started = time.perf_counter()
    publish(namespace.bootstrap, namespace.topic,
            [(partition_for(key, PARTITIONS), key, value, 1)])

    def applied() -> bool:
        now = again.readiness()
        return bool(now and now["events"] >= 1 and sum(now["lag"].values()) == 0)

    poll_until(applied, 120, "the restarted worker to apply a new event", interval_s=0.05)
    applied_s = time.perf_counter() - started
    again.stop()
    return {"seconds_to_ready": ready_s, "restored_records": state.get("restored"),
            "equal_to_replay": not mismatch, "differences": mismatch[:10],
            "new_event_seconds": applied_s, "ready_and_applied_seconds": ready_s + applied_s}


async def _paced(bootstrap: str, topic: str, lines: list[bytes], rate: float) -> float:
    """Publish one event per message (live webhooks, no envelopes) at ``rate`` events/s;
    returns the seconds it took."""
    await ensure_topics(bootstrap, [topic], PARTITIONS)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1)
    await producer.start()
    try:
        started = time.perf_counter()
        sent = 0
        while sent < len(lines):
            due = min(len(lines), int((time.perf_counter() - started) * rate) + 1)
            for line in lines[sent:due]:
                key = event_key(orjson.loads(line)) or b""
                await producer.send(topic, line, key=key,
                                    partition=partition_for(key, PARTITIONS))
            sent = max(sent, due)
            await asyncio.sleep(0.005)
        await producer.flush()
        return time.perf_counter() - started
    finally:
        await producer.stop()


def latency(namespace: Namespace, path: Path, skip: int, rate: float,
            duration_s: float) -> dict[str, Any]:
    """Live traffic at a steady ``rate`` events/s through one worker (events of the dataset
    from ``skip`` on, past its ramp-up); quantiles of the worker's latency histogram (an
    event's Kafka timestamp, set when it is published, to its sync applied where the gauges
    read it), after a warm-up that is subtracted."""
    warm_up_s = min(10.0, duration_s / 4)
    lines = _lines(path, skip, int(rate * (warm_up_s + duration_s)))
    warm_up = int(rate * warm_up_s)
    worker = namespace.worker("latency").start()
    try:
        worker.wait_ready(120)
        asyncio.run(_paced(namespace.bootstrap, namespace.topic, lines[:warm_up], rate))
        before = _histogram(worker.metrics())
        seconds = asyncio.run(_paced(namespace.bootstrap, namespace.topic, lines[warm_up:],
                                     rate))
        poll_until(lambda: _drained(worker), 60, "the latency run to drain")
        after = _histogram(worker.metrics())
        buckets = [(bound, after[bound] - before.get(bound, 0.0)) for bound in after]
        events = len(lines) - warm_up
        return {"rate": rate, "events": events, "seconds": seconds,
                "achieved_rate": events / seconds,
                "p50_seconds": _quantile(buckets, 0.5), "p99_seconds": _quantile(buckets, 0.99),
                "samples": buckets[-1][1] if buckets else 0}
    finally:
        worker.stop()


def _lines(path: Path, skip: int, count: int) -> list[bytes]:
    out: list[bytes] = []
    with path.open("rb") as lines:
        for number, line in enumerate(lines):
            if number >= skip and line.strip():
                out.append(line.strip())
                if len(out) >= count:
                    break
    return out


def _drained(worker: WorkerProcess) -> bool:
    state = worker.readiness()
    return state is not None and sum(state["lag"].values()) == 0


def _histogram(text: str) -> dict[float, float]:
    """Cumulative bucket counts of support_processing_latency_seconds."""
    out: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("support_processing_latency_seconds_bucket{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            out[float("inf") if bound == "+Inf" else float(bound)] = float(line.rsplit(" ", 1)[1])
    return dict(sorted(out.items()))


def _quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Prometheus' histogram_quantile: linear interpolation inside the bucket."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = bound, count
    return lower

"""``support-kpi history sink``: the process that fills the history database from the history
topic, and answers the history's questions over HTTP (SPEC §8).

It reads every partition of the topic with one consumer of its own (no consumer group: where
it is lies in the database), from the offsets its last transaction stored. Each poll's records
are decoded (one that does not decode goes to the dead letters, reason
``undecodable_history``, and the sink goes on) and written with the offsets past them in one
transaction (:class:`~service.history.sink.HistorySink`), so a sink killed at any moment loses
and doubles nothing. The file is open only while a transaction runs or a question is answered,
so the ``history`` commands can read it in between (DuckDB allows one process to write); while
one of them holds it, the sink waits and says so.

HTTP (``SUPPORT_KPI_HISTORY_HOST``/``_PORT``, 127.0.0.1:8090; the operator token when set):

* ``GET /history/report?from&to[&by][&slice][&compare][&timezone][&format=csv]`` — the period
  report of ``support-kpi history report`` (SPEC §8's JSON);
* ``GET /history/conversations?from&to[&team&agent&channel&priority&customer][&format=csv]``
  — one row per conversation, as JSON ``{"conversations": [...]}`` or CSV;
* ``GET /healthz``; ``GET /readyz`` — ready once the sink has read up to the end of the topic
  it found at its start, with its position, lag and the history's as-of;
* ``GET /metrics`` — the sink's own metrics (:class:`SinkMetrics`).

A bad parameter is a 400 naming it; an unknown team or agent a 404 saying so.
"""

import asyncio
import csv
import io
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from service.access import given_token, token_matches
from service.config import KpiConfig
from service.engine.records import format_time
from service.history.changes import BadHistoryRecord, decode_history
from service.history.conversations import COLUMNS
from service.history.database import HistoryError, HistoryLocked, held_span, open_history
from service.history.queries import Refused, conversations_query, report_query
from service.history.sink import Delivered, HistorySink
from service.ingest import Rejection
from service.stream.dead_letters import Origin, dead_letter

__all__ = ["KafkaUnavailable", "SinkMetrics", "SinkService", "serve", "sink_app"]

log = logging.getLogger(__name__)

POLL_RECORDS = 50_000
POLL_TIMEOUT_MS = 1000
LOCK_RETRY_S = 1.0
LOCK_LOG_EVERY_S = 30.0
TOPIC_WAIT_LOG_EVERY_S = 30.0

T = TypeVar("T")


class KafkaUnavailable(Exception):
    """Kafka did not answer at the sink's start."""


class SinkMetrics:
    """The sink's own metrics, in a registry of their own: what it wrote, how long its
    transactions take, how far behind the topic and the events it is."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.records = Counter("support_history_records", "History records written",
                               registry=self.registry)
        self.facts = Counter("support_history_facts_written", "Facts set by the records written",
                             registry=self.registry)
        self.undecodable = Counter(
            "support_history_undecodable", "History records dead-lettered (reason "
            "undecodable_history)", registry=self.registry)
        self.transaction = Histogram(
            "support_history_transaction_seconds", "One poll's transaction, from opening the "
            "database to its commit", registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.lag = Gauge("support_history_lag_records", "Records of the history topic not "
                         "written yet (as of the last poll)", registry=self.registry)
        self.as_of = Gauge(
            "support_history_as_of_timestamp_seconds", "The history's as-of: complete up to this "
            "event time (0 before the first record)", registry=self.registry)


@dataclass
class SinkState:
    """What ``/readyz`` says: counts since the start, the position, the lag."""

    records: int = 0
    facts: int = 0
    undecodable: int = 0
    transactions: int = 0
    as_of_ms: int | None = None
    positions: dict[int, int] = field(default_factory=dict)
    highwaters: dict[int, int] = field(default_factory=dict)
    start_ends: dict[int, int] | None = None
    """The topic's end offsets when the sink started: ready once it has read that far."""

    @property
    def lag(self) -> int:
        return sum(max(0, end - self.positions.get(p, 0)) for p, end in self.highwaters.items())

    @property
    def ready(self) -> bool:
        return self.start_ends is not None and all(
            self.positions.get(p, 0) >= end for p, end in self.start_ends.items())


class SinkService:
    """The sink's consumer loop and its database, opened per transaction or question."""

    def __init__(self, path: Path, bootstrap: str, topic: str, dead_letter_topic: str,
                 config: KpiConfig) -> None:
        self.path = path
        self.bootstrap = bootstrap
        self.topic = topic
        self.dead_letter_topic = dead_letter_topic
        self.config = config
        self.state = SinkState()
        self.metrics = SinkMetrics()
        self.lock = asyncio.Lock()
        """Held while the file is open (a transaction or a question)."""

    async def with_database(self, work: Callable[[duckdb.DuckDBPyConnection], T],
                            read_only: bool = False) -> T:
        """``work`` on the database in a thread, the file open only meanwhile; waits while
        another process holds it. Raises HistoryError for a file it cannot use otherwise."""
        waited_since: float | None = None
        logged = 0.0
        async with self.lock:
            while True:
                try:
                    connection = open_history(self.path, read_only=read_only)
                    break
                except HistoryLocked as error:
                    now = time.monotonic()
                    waited_since = waited_since or now
                    if now - logged >= LOCK_LOG_EVERY_S:
                        log.warning("%s; waiting (%.0f s so far)", error, now - waited_since)
                        logged = now
                    await asyncio.sleep(LOCK_RETRY_S)
            try:
                return await asyncio.to_thread(work, connection)
            finally:
                connection.close()

    async def run(self, started: Callable[[], Awaitable[None]] | None = None) -> None:
        """Consume until cancelled; ``started`` once Kafka answered and the database opened.
        Raises KafkaUnavailable, or HistoryError for a database it cannot use."""
        config = self.config
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    max_partition_fetch_bytes=4 * 1_048_576)
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                    compression_type="gzip")
        try:
            try:
                await consumer.start()
                await producer.start()
            except KafkaError as error:
                raise KafkaUnavailable(str(error)) from None
            sink_positions = await self.with_database(
                lambda c: HistorySink(c, self.topic, config.history.retention_ms).positions())
            if started is not None:
                await started()
            partitions = await self._partitions()
            assigned = [TopicPartition(self.topic, p) for p in partitions]
            consumer.assign(assigned)
            for tp in assigned:
                if tp.partition in sink_positions:
                    consumer.seek(tp, sink_positions[tp.partition])
                else:
                    await consumer.seek_to_beginning(tp)
            ends = await consumer.end_offsets(assigned)
            self.state.start_ends = {tp.partition: end for tp, end in ends.items()}
            self.state.positions = {p: sink_positions.get(p, 0) for p in partitions}
            log.info("history sink: %s → %s, from %s", self.topic, self.path,
                     dict(sorted(self.state.positions.items())))
            while True:
                fetched = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS,
                                                 max_records=POLL_RECORDS)
                for tp in assigned:
                    highwater = consumer.highwater(tp)
                    if highwater is not None:
                        self.state.highwaters[tp.partition] = highwater
                if fetched:
                    await self._write(fetched, producer)
                self.metrics.lag.set(self.state.lag)
        finally:
            await consumer.stop()
            await producer.stop()

    async def _partitions(self) -> list[int]:
        """The topic's partitions, once it exists (the workers create it)."""
        from service.preflight import topic_partitions

        logged = 0.0
        while True:
            count = (await topic_partitions(self.bootstrap, [self.topic])).get(self.topic)
            if count:
                return list(range(count))
            if time.monotonic() - logged >= TOPIC_WAIT_LOG_EVERY_S:
                log.info("history sink: waiting for the topic %s (the workers create it)",
                         self.topic)
                logged = time.monotonic()
            await asyncio.sleep(1.0)

    async def _write(self, fetched: dict[TopicPartition, list[Any]],
                     producer: AIOKafkaProducer) -> None:
        delivered: list[Delivered] = []
        read_to: dict[int, int] = {}
        for tp, messages in fetched.items():
            for message in messages:
                try:
                    record = decode_history(message.value)
                except BadHistoryRecord as error:
                    self.state.undecodable += 1
                    self.metrics.undecodable.inc()
                    letter = dead_letter(
                        Rejection("undecodable_history", str(error), message.value or b""),
                        Origin(tp.topic, tp.partition, message.offset, message.key))
                    await producer.send_and_wait(self.dead_letter_topic, letter.value,
                                                 letter.key, headers=letter.headers)
                    continue
                delivered.append(Delivered(tp.partition, message.offset, record))
            if messages:
                read_to[tp.partition] = messages[-1].offset + 1
        config = self.config

        def write(connection: duckdb.DuckDBPyConnection) -> tuple[int, int | None]:
            batch = HistorySink(connection, self.topic,
                                config.history.retention_ms).apply(delivered, read_to)
            _, as_of = held_span(connection) if batch.watermark_ms is not None else (0, None)
            return len(batch.sets), as_of

        started = time.perf_counter()
        facts, as_of = await self.with_database(write)
        metrics = self.metrics
        metrics.transaction.observe(time.perf_counter() - started)
        metrics.records.inc(len(delivered))
        metrics.facts.inc(facts)
        if as_of is not None:
            metrics.as_of.set(as_of / 1000)
        state = self.state
        state.records += len(delivered)
        state.facts += facts
        state.transactions += 1
        state.positions.update(read_to)
        if as_of is not None:
            state.as_of_ms = as_of

    def readiness(self) -> dict[str, Any]:
        state = self.state
        return {"ready": state.ready, "lag": state.lag, "records": state.records,
                "facts_written": state.facts, "undecodable_history": state.undecodable,
                "transactions": state.transactions,
                "as_of": None if state.as_of_ms is None else format_time(state.as_of_ms),
                "positions": {str(p): o for p, o in sorted(state.positions.items())}}


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def sink_app(service: SinkService, token: str | None) -> web.Application:
    """The sink's HTTP API (module docstring)."""
    from service.history.output import report_csv
    from service.replay import report_json

    def allowed(request: web.Request) -> bool:
        if token is None:
            return True
        given = given_token(request.query.get("token"), request.headers.get("Authorization"))
        return token_matches(given, token)

    def refused() -> web.Response:
        return web.json_response({"error": "this needs the operator token (SUPPORT_KPI_TOKEN) "
                                  "as a bearer header or ?token="}, status=401)

    async def answer(request: web.Request,
                     ask: Callable[[duckdb.DuckDBPyConnection], Any],
                     render: Callable[[Any], web.Response]) -> web.Response:
        if not allowed(request):
            return refused()
        if request.query.get("format", "json") not in ("json", "csv"):
            return web.json_response({"error": "format: json or csv", "parameter": "format"},
                                     status=400)
        try:
            result = await service.with_database(ask, read_only=True)
        except Refused as error:
            return web.json_response({"error": str(error), "parameter": error.parameter},
                                     status=400)
        except HistoryError as error:
            status = 404 if str(error).startswith("no ") else 503
            return web.json_response({"error": str(error)}, status=status)
        return render(result)

    async def report(request: web.Request) -> web.Response:
        def render(result: Any) -> web.Response:
            body, note = result
            if request.query.get("format") == "csv":
                return web.Response(text=report_csv(body), content_type="text/csv")
            if note is not None:
                body = {**body, "note": note}
            return web.Response(body=report_json(body, False), content_type="application/json")

        return await answer(request, lambda c: report_query(c, request.query, service.config,
                                                             str), render)

    async def conversations(request: web.Request) -> web.Response:
        def render(result: Any) -> web.Response:
            rows, note = result
            if request.query.get("format") == "csv":
                return web.Response(text=_csv(rows, list(COLUMNS)), content_type="text/csv")
            body: dict[str, Any] = {"conversations": rows}
            if note is not None:
                body["note"] = note
            return web.json_response(body)

        return await answer(request, lambda c: conversations_query(
            c, request.query, service.config, str), render)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        body = service.readiness()
        return web.json_response(body, status=200 if body["ready"] else 503)

    async def metrics(request: web.Request) -> web.Response:
        if not allowed(request):
            return refused()
        return web.Response(body=generate_latest(service.metrics.registry),
                            content_type=CONTENT_TYPE_LATEST.split(";")[0])

    app = web.Application()
    app.router.add_get("/history/report", report)
    app.router.add_get("/history/conversations", conversations)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


async def serve(service: SinkService, token: str | None, host: str, port: int,
                started: Callable[[], Awaitable[None]] | None = None) -> None:
    """Run the HTTP API and the consumer until cancelled or the consumer fails (raises
    KafkaUnavailable, HistoryError)."""
    runner = web.AppRunner(sink_app(service, token), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        await service.run(started)
    finally:
        await runner.cleanup()

"""A worker: the faust app, its topics and tables, the two agents and their timers.

* ``conversations`` agent — input topic, keyed by conversation: the conversation stage
  (:mod:`service.stream.conversations`) applies a batch's events as replay does and sends the
  owners' deltas on the deltas topic.
* ``owners`` agent — deltas topic, keyed by owner: the owner stage
  (:mod:`service.stream.owners`) adds them into the owners' books and sends occupancy segments
  on to the owners that count them.

A batch runs the stages' protocol (:meth:`KpiService._deliver`): the rows that must come first
(an intent), then the messages and dead letters, then the rows, each acknowledged by the broker
before the next and before the input is; exactly once, see the stages' docstrings. Loading
partitions after a rebalance is :mod:`service.stream.recovery`, what HTTP reads is
:mod:`service.stream.reads` and :mod:`service.stream.web`, health :mod:`service.stream.health`
and :mod:`service.stream.progress`, faust's quirks :mod:`service.stream.faust_fixes`, the
crash-loop guard :mod:`service.stream.guarded`.
"""

import asyncio
import logging
import time
from collections.abc import Container, Sequence
from pathlib import Path
from typing import Any

import faust
from faust.types import EventT

from service.config import KpiConfig
from service.engine.deltas import OwnerDeltas
from service.engine.engine import DEFAULT_RETENTION_MS, CachedPolicy
from service.engine.owner_keys import Owner
from service.ingest import Rejection
from service.logs import install_repeat_filter
from service.names import UnknownName
from service.partitioning import partition_for
from service.runtime import release_free_memory
from service.settings import Settings
from service.stream import reads
from service.stream.batches import RecordBatches
from service.stream.conversations import ConversationStage, Message, StageResult
from service.stream.dead_letters import Origin, dead_letter
from service.stream.faust_fixes import (
    bound_recovery_samples,
    exit_stalled,
    finish_batches_before_stores_close,
    hold_streams_until_resumed,
    restore_before_recovery,
)
from service.stream.guarded import GuardedBatches
from service.stream.health import Health
from service.stream.messages import encode_deltas
from service.stream.owners import OwnerStage
from service.stream.progress import Progress, Verdict
from service.stream.reachability import PROBE_INTERVAL_S, KafkaReachability
from service.stream.recovery import Assignment
from service.stream.tables import TABLES, TableRows, changelog_topic, declare_table
from service.stream.web import register_routes

__all__ = ["KpiService"]

log = logging.getLogger(__name__)

INPUT_BATCH_MESSAGES = 1000
"""Input messages per batch: the larger the batch, the more of a conversation's events and an
owner's deltas coalesce (a backlog of batch envelopes fills it at once; live traffic waits at
most ``BATCH_WITHIN_S``)."""
DELTA_BATCH_MESSAGES = 500
BATCH_WITHIN_S = 0.05
SLICE_BYTES = 2_000_000
"""A batch is processed and delivered in slices of at most this many bytes of input (one
message at the least): what a slice holds in memory — decoded events, deltas, rows — stays
bounded however large the backlog's batches (1,000 envelopes of 200 events once made one
message of deltas larger than the broker takes)."""
MAX_DELTA_MESSAGE_BYTES = 100_000
"""Deltas messages are split below this (Kafka's default limit is 1 MB per record batch;
smaller messages keep the prefetched backlog small)."""
STREAM_BUFFER_MESSAGES = 1024
"""Messages prefetched per partition (faust's default, 4,096, holds gigabytes of a backlog)."""
PRODUCER_BATCH_BYTES = 900_000
REFRESH_INTERVAL_S = 0.5
"""How often a worker checks whether a rebalance left partitions to load (besides every
batch)."""
RELEASE_MEMORY_INTERVAL_S = 10.0
PROGRESS_INTERVAL_S = 5.0
RECOVERY_LOG_INTERVAL_S = 10.0
RECOVERY_WARN_AFTER_S = 30.0
"""A table recovery shorter than this is a rebalance's routine, logged at info level; a longer
one is logged as a warning from then on, and so is its end."""


def recovery_log_level(seconds: float) -> int:
    """The level of the recovery's progress lines after ``seconds`` of recovering."""
    return logging.WARNING if seconds >= RECOVERY_WARN_AFTER_S else logging.INFO


def _message(event: EventT) -> Message:
    m = event.message
    return Message(m.topic, m.partition, m.offset, m.key, m.value, int(m.timestamp * 1000))


def _slices(events: list[EventT], max_bytes: int) -> list[list[EventT]]:
    """``events`` in order, cut where their values pass ``max_bytes`` (:data:`SLICE_BYTES`)."""
    out: list[list[EventT]] = [[]]
    size = 0
    for event in events:
        value = event.message.value
        length = len(value) if value else 0
        if out[-1] and size + length > max_bytes:
            out.append([])
            size = 0
        out[-1].append(event)
        size += length
    return out


def _by_partition(events: list[EventT], held: Container[int]) -> dict[int, list[Message]]:
    """The messages of the partitions in ``held``, by partition; messages of a partition that
    went elsewhere in a rebalance are left to its new holder (fetched before the rebalance,
    they may still come in a batch)."""
    groups: dict[int, list[Message]] = {}
    for event in events:
        partition = event.message.partition
        if partition in held:
            groups.setdefault(partition, []).append(_message(event))
    return groups


class KpiService:
    """One worker: the faust app, its topics and tables, both stages and their timers."""

    def __init__(self, settings: Settings, config: KpiConfig) -> None:
        self.settings = settings
        self.config = config
        self.directory = config.directory()
        self.policy = CachedPolicy(config)
        self.partitions = settings.partitions
        self.app = faust.App(
            settings.app_id,
            broker=f"kafka://{settings.kafka_bootstrap_servers}",
            store=settings.store,
            datadir=str(settings.data_dir),
            topic_partitions=settings.partitions,
            processing_guarantee="at_least_once",
            table_standby_replicas=settings.standby_replicas,
            web_host=settings.http_host,
            web_bind=settings.http_host,
            web_port=settings.http_port,
            consumer_auto_offset_reset="earliest",
            broker_commit_every=5000,
            broker_commit_interval=1.0,
            stream_wait_empty=False,
            web_in_thread=False,
            web_tables_enabled=False,
            web_router_enabled=False,
            web_stats_enabled=False,
            web_graph_enabled=False,
            topic_disable_leader=True,
            producer_linger=0.005,
            producer_max_batch_size=PRODUCER_BATCH_BYTES,
            stream_buffer_maxsize=STREAM_BUFFER_MESSAGES,
            consumer_metadata_max_age_ms=10_000,
            broker_session_timeout=10.0,
            broker_heartbeat_interval=3.0,
        )
        raw: Any = {"key_serializer": "raw", "value_serializer": "raw"}
        self.events_topic = self.app.topic(settings.topic, partitions=self.partitions, **raw)
        self.deltas_topic = self.app.topic(settings.deltas_topic, partitions=self.partitions,
                                           internal=True, **raw)
        self.dead_letters = self.app.topic(settings.dead_letter_topic, partitions=self.partitions,
                                           **raw)
        conversation_table, owner_table = (
            declare_table(self.app, settings.app_id, name, self.partitions, self._recovered,
                          self._restored)
            for name in TABLES)
        self.conversation_rows = TableRows(
            conversation_table, changelog_topic(settings.app_id, "conversations"))
        self.owner_rows = TableRows(owner_table, changelog_topic(settings.app_id, "owners"))
        bound_recovery_samples(self.app)
        restore_before_recovery(self.app, settings.kafka_bootstrap_servers, self._restored)
        self._recoveries = 0
        self._owner_partitions: dict[Owner, int] = {}
        history = bool(settings.history_topic)
        if history:
            self.app.topic(settings.history_topic, partitions=self.partitions, **raw)
        self.conversations = ConversationStage(
            self.policy, DEFAULT_RETENTION_MS, self.partition_of, settings.conversation_cache,
            settings.max_message_bytes, history)
        self.owners = OwnerStage(self.policy, DEFAULT_RETENTION_MS, self.partition_of,
                                 history)
        self.assignment = Assignment(
            self.conversations, self.owners, self.conversation_rows, self.owner_rows,
            self.active_partitions, lambda: self.recovered, settings.topic,
            settings.deltas_topic, self._send_resync)
        finish_batches_before_stores_close(self.app, self.assignment.quiet)
        self.health = Health()
        self.kafka = KafkaReachability(settings.kafka_bootstrap_servers)
        self._batches: dict[str, RecordBatches] = {}
        self.guarded = GuardedBatches(
            Path(settings.data_dir), ("conversations", "owners"),
            lambda rejection, message: self._dead_letter(rejection, message,
                                                         self._outputs("guard")),
            self._flush_guard, lambda: self.kafka.up)
        self.progress = Progress()
        self.stalled_seconds = 0.0
        """Seconds input has waited with nothing applied, as of the last health update."""
        self.app.task(self._watch_kafka)
        self.app.task(self._watch_progress)
        self.app.task(self._report_recovery)
        self.app.task(self._keep_loaded)
        self.app.task(self._release_memory)
        self.app.agent(self.events_topic, name="conversations")(self._conversations_agent)
        self.app.agent(self.deltas_topic, name="owners")(self._owners_agent)
        hold_streams_until_resumed(self.app)
        register_routes(self.app, self, settings.token, config.metrics.agent_kpis,
                        config.team, settings.agent_secret)

    # -- timers ----------------------------------------------------------------------------------

    async def _watch_kafka(self) -> None:
        """Probe Kafka every few seconds for the health endpoints; started with the app, after
        the worker set up logging, so repeated errors are also held back from here on."""
        install_repeat_filter()
        while True:
            await self.kafka.probe()
            await asyncio.sleep(PROBE_INTERVAL_S)

    async def _report_recovery(self) -> None:
        """While the tables recover for longer than a few seconds, say so in the log with how
        many changelog records are left (faust logs it at info level, and a busy recovery
        otherwise looks like a silent worker): at info level for a rebalance's routine, as a
        warning once it has taken :data:`RECOVERY_WARN_AFTER_S`."""
        tables: Any = self.app.tables
        recovery = tables.recovery
        started: float | None = None
        total = 0
        while True:
            await asyncio.sleep(RECOVERY_LOG_INTERVAL_S)
            if not recovery.in_recovery:
                if started is not None:
                    took = time.monotonic() - started
                    log.log(recovery_log_level(took), "tables recovered in %.0f s", took)
                started, total = None, 0
                continue
            remaining = recovery.active_remaining_total()
            if started is None:
                started = time.monotonic() - RECOVERY_LOG_INTERVAL_S
            total = max(total, remaining)
            log.log(recovery_log_level(time.monotonic() - started),
                    "recovering the tables from their changelogs (a restart or a rebalance): "
                    "%d of %d records left to read", remaining, total)

    async def _watch_progress(self) -> None:
        """Check every few seconds that waiting input is applied (see
        :mod:`service.stream.progress`), also when nobody scrapes."""
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL_S)
            self.update_health()

    async def _keep_loaded(self) -> None:
        """Load the partitions of a new assignment once its tables are recovered, also when no
        batch comes (the read paths never load state)."""
        while True:
            if await self.assignment.refresh(self._recoveries):
                self.progress.applied()
            await asyncio.sleep(REFRESH_INTERVAL_S)

    async def _release_memory(self) -> None:
        """Return the C heap's free pages to the OS now and then (see
        :func:`~service.runtime.release_free_memory`)."""
        while True:
            await asyncio.sleep(RELEASE_MEMORY_INTERVAL_S)
            release_free_memory()

    def _outputs(self, stage: str) -> RecordBatches:
        """The record batches of one stage (``conversations``, ``owners``, ``guard``). Each
        has its own, so that a send waits for exactly that stage's records: the two agents run
        concurrently, and with one shared the other agent's send could carry a stage's records
        and acknowledge nothing of them to it, so that its rows were written before its
        messages were acknowledged, without their changelog offsets."""
        batches = self._batches.get(stage)
        if batches is None:
            producer: Any = self.app.producer
            batches = self._batches[stage] = RecordBatches(
                producer._ensure_producer(), frozenset({self.settings.dead_letter_topic}),
                PRODUCER_BATCH_BYTES)
        return batches

    # -- assignment and recovery ---------------------------------------------------------------

    def active_partitions(self, topic: str) -> frozenset[int]:
        return frozenset(tp.partition for tp in self.app.assignor.assigned_actives()
                         if tp.topic == topic)

    async def _recovered(self) -> None:
        """A table finished recovering after a rebalance (faust's on_recover callback)."""
        self._recoveries += 1

    def _restored(self, records: int) -> None:
        self.health.restored.inc(records)
        self.health.restored_total += records

    @property
    def recovered(self) -> bool:
        """Tables recovered at least once and not recovering now. (``app.rebalancing`` is not
        consulted: it is still set when the streams resume, and a batch must never be processed
        before the state of its partitions is loaded. A load started early is redone when the
        next recovery completes, since the recovery count is part of what is loaded.)"""
        app: Any = self.app
        return bool(app.tables.recovery.completed.is_set() and not app.in_recovery
                    and self._recoveries)

    async def _wait_loaded(self, timeout_s: float = 120) -> None:
        """Hold a batch until the state of the current assignment is loaded from the recovered
        tables: faust can hand a batch to an agent a moment before its recovery callbacks ran,
        and a batch processed on empty state would overwrite the real one."""
        deadline = time.monotonic() + timeout_s
        while not await self.assignment.refresh(self._recoveries):
            if time.monotonic() > deadline:
                raise RuntimeError(f"tables not recovered after {timeout_s:.0f} s")
            await asyncio.sleep(0.05)

    def partition_of(self, owner: Owner) -> int:
        """The deltas-topic partition that holds ``owner`` (Kafka's default partitioner on its
        code)."""
        partition = self._owner_partitions.get(owner)
        if partition is None:
            partition = self._owner_partitions[owner] = partition_for(owner.code.encode(),
                                                                      self.partitions)
        return partition

    # -- the two agents ------------------------------------------------------------------------

    async def _conversations_agent(self, stream: Any) -> None:
        async for events in stream.take_events(INPUT_BATCH_MESSAGES, BATCH_WITHIN_S):
            await self.guarded.run("conversations", events, self._conversation_batch)

    async def _owners_agent(self, stream: Any) -> None:
        async for events in stream.take_events(DELTA_BATCH_MESSAGES, BATCH_WITHIN_S):
            await self.guarded.run("owners", events, self._owner_batch)

    async def _conversation_batch(self, events: list[EventT]) -> None:
        await self._wait_loaded()
        async with self.assignment.conversations_lock:
            for piece in _slices(events, SLICE_BYTES):
                latest_ms = int((time.time() + self.settings.max_clock_skew_seconds) * 1000)
                results = [(partition, self.conversations.process(partition, messages,
                                                                  latest_ms))
                           for partition, messages in _by_partition(
                               piece, self.conversations.partitions).items()]
                await self._deliver(results, self.conversation_rows,
                                    self._outputs("conversations"))
                for _, result in results:
                    self.health.processed(result.types, result.duplicates, result.late,
                                          result.expired, result.forgotten)
                self.progress.applied()

    async def _owner_batch(self, events: list[EventT]) -> None:
        await self._wait_loaded()
        async with self.assignment.owners_lock:
            for piece in _slices(events, SLICE_BYTES):
                results = [(partition, self.owners.process(partition, messages))
                           for partition, messages in _by_partition(
                               piece, self.owners.partitions).items()]
                await self._deliver(results, self.owner_rows, self._outputs("owners"))
                now = time.time()
                for _, result in results:
                    if result.origin_ms is not None:
                        self.health.latency(now - result.origin_ms / 1000)
                self.progress.applied()

    async def _deliver(self, results: list[tuple[int, StageResult]], rows: TableRows,
                       batches: RecordBatches) -> None:
        """A batch's outputs in the stages' order, each acknowledged before the next: the rows
        that come first, the messages and dead letters, the rows. A failed send raises: the
        worker exits and the batch is delivered again."""
        if any(result.first for _, result in results):
            for partition, result in results:
                rows.append(partition, result.first, batches)
            rows.store(await batches.send())
        for _, result in results:
            for rejection, message in result.dead_letters:
                self._dead_letter(rejection, message, batches)
            self._append_deltas(result.deltas, batches)
            self._append_history(result.history, batches)
        await batches.send()
        for partition, result in results:
            rows.append(partition, result.writes, batches)
        rows.store(await batches.send())

    def _append_deltas(self, deltas: list[tuple[int, OwnerDeltas]],
                       batches: RecordBatches) -> None:
        topic = self.settings.deltas_topic
        for destination, message in deltas:
            for raw in encode_deltas(message, MAX_DELTA_MESSAGE_BYTES):
                batches.append(topic, destination, None, raw)

    def _append_history(self, records: list[tuple[int, bytes, bytes]],
                        batches: RecordBatches) -> None:
        topic = self.settings.history_topic
        for partition, record_key, value in records:
            batches.append(topic, partition, record_key, value)

    async def _send_resync(self, deltas: list[tuple[int, OwnerDeltas]]) -> None:
        """Segments an owner partition loaded after a rebalance sends again, to the team and
        overall owners and to the history (under the owner stage's lock: its batches)."""
        batches = self._outputs("owners")
        self._append_deltas(deltas, batches)
        history, self.owners.loaded_history = self.owners.loaded_history, []
        self._append_history(history, batches)
        await batches.send()

    async def _flush_guard(self) -> None:
        await self._outputs("guard").send()

    def _dead_letter(self, rejection: Rejection, message: Any, batches: RecordBatches) -> None:
        """Append the dead letter of ``rejection`` (read from ``message``); it is sent with the
        batch's other outputs."""
        self.health.rejected(rejection.reason, rejection.count)
        record = dead_letter(rejection, Origin(message.topic, message.partition,
                                               message.offset, message.key))
        batches.append(self.settings.dead_letter_topic, message.partition, record.key,
                            record.value, record.headers)

    # -- health and reads ----------------------------------------------------------------------

    @property
    def kafka_down_since(self) -> float | None:
        return self.kafka.down_since

    @property
    def undecodable_deltas(self) -> int:
        """Messages of the deltas topic dead-lettered because they did not decode."""
        return self.owners.undecodable

    def update_health(self) -> bool:
        """Refresh the gauges read at scrape time and every few seconds (readiness, Kafka, lag
        from the committed offsets, progress, owned keys); True when the worker is ready. A
        worker whose input has waited :data:`~service.stream.progress.STALL_EXIT_S` with
        nothing applied exits here (its supervisor restarts it)."""
        health = self.health
        kafka_up = self.kafka.up
        health.kafka_up.set(1 if kafka_up else 0)
        recovered = self.recovered
        if kafka_up:
            self._update_lag()
        else:
            health.lag_unknown()
        waiting = sum(health.lags.values()) if kafka_up else None
        self.stalled_seconds = self.progress.stalled_seconds(waiting, not recovered)
        health.stalled.set(self.stalled_seconds)
        verdict = self.progress.verdict(self.stalled_seconds)
        ready = (kafka_up and recovered and bool(self.app.assignor.assigned_actives())
                 and verdict is Verdict.OK)
        health.ready.set(1 if ready else 0)
        if verdict is Verdict.EXIT:
            exit_stalled(self.stalled_seconds, waiting or 0)
        return ready

    def _update_lag(self) -> None:
        health = self.health
        consumer: Any = self.app.consumer
        highwaters = {}
        sources = {self.settings.topic, self.settings.deltas_topic}
        for tp in self.app.assignor.assigned_actives():
            if tp.topic not in sources:
                continue
            try:
                highwaters[tp] = consumer.highwater(tp)
            except (KeyError, AssertionError, AttributeError):
                continue
        committed: Any = getattr(consumer, "_committed_offset", {})
        health.update_lag({tp: hw for tp, hw in highwaters.items() if hw is not None},
                          {tp: committed.get(tp) for tp in highwaters})
        for level, count in self.owner_summary().items():
            health.owned_keys.labels(level).set(count)

    def report(self, as_of_ms: int) -> dict[str, Any]:
        return reads.report_of(self.owners, as_of_ms, self.policy, self.config.at_risk_ratio,
                               self.config.weighted_score, DEFAULT_RETENTION_MS,
                               self.directory)

    def queue(self, state: str, as_of_ms: int, team: str | None, agent: str | None,
              limit: int) -> dict[str, Any]:
        return reads.queue_of(self.owners, state, as_of_ms, self.policy,
                              self.config.at_risk_ratio, team, agent, limit, self.directory)

    def feedback(self, level: str, key: str, as_of_ms: int) -> dict[str, Any] | None:
        return reads.feedback_of(self.owners, level, key, as_of_ms, self.config.weighted_score)

    def explain(self, kpi: str, level: str, key: str | None, window: str,
                as_of_ms: int) -> dict[str, Any]:
        return reads.explain_part(self.conversations, self.owners, kpi, level, key, window,
                                  as_of_ms)

    def owner_summary(self) -> dict[str, int]:
        return reads.owner_summary(self.owners)

    def known_names(self) -> dict[str, list[str]]:
        return reads.known_names(self.owners, self.config.teams)

    def unknown(self, named: Sequence[Owner]) -> UnknownName | None:
        return reads.unknown_name(self.owners, named, self.config.teams, DEFAULT_RETENTION_MS)

    def earliest_as_of_ms(self) -> int | None:
        return reads.earliest_as_of_ms(self.owners)

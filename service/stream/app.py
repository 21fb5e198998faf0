"""A worker: the faust app, its topics and tables, the two agents, recovery and reports.

* ``conversations`` agent — input topic, keyed by conversation: stage 1
  (:mod:`service.stream.stage1`) decodes each message once (bad input to the dead letters),
  applies the events to the conversations it holds, writes their rows to the
  ``conversations`` table and sends conversation updates to the facts topic, one message
  (split when large) per destination partition per batch.
* ``owners`` agent — facts topic, keyed by owner: stage 2 (:mod:`service.stream.stage2`)
  applies each update's owner syncs to the :class:`~service.engine.owners.OwnerBook`, writes
  the ``owners`` table, and sends agents' occupancy segments back through the facts topic to
  the team and overall owners.

At-least-once: a batch's outputs (syncs, changelog records, dead letters) are acknowledged by
the broker before its input is, and every output is idempotent (by fact id), so a
re-delivered batch changes nothing. In-memory state is loaded from the tables
(:mod:`service.stream.tables`) whenever the assignment changes, by the batches and a
background task, never by a read (/kpis, /metrics). Outputs bypass faust's per-record send path
(:class:`~service.stream.batches.RecordBatches`); faust's quirks are handled in
:mod:`service.stream.faust_fixes`, the crash-loop guard in :mod:`service.stream.guarded`, HTTP
in :mod:`service.stream.web`.
"""

import asyncio
import logging
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import faust
from faust.types import EventT

from service.config import KpiConfig
from service.engine.codec import owner_shares
from service.engine.engine import CachedPolicy
from service.engine.explain import explain
from service.engine.feedback import feedback_page
from service.engine.owners import OVERALL, owner_key, owner_level
from service.engine.queue import queue_listing
from service.ingest import Rejection
from service.logs import install_repeat_filter
from service.partitioning import partition_for
from service.runtime import release_free_memory
from service.settings import Settings
from service.stream.batches import RecordBatches
from service.stream.dead_letters import Origin, dead_letter
from service.stream.faust_fixes import (
    bound_recovery_samples,
    exit_stalled,
    hold_streams_until_resumed,
)
from service.stream.guarded import GuardedBatches
from service.stream.health import Health
from service.stream.outputs import StageOutputs
from service.stream.progress import Progress, Verdict
from service.stream.reachability import PROBE_INTERVAL_S, KafkaReachability
from service.stream.stage1 import ConversationsStage
from service.stream.stage2 import OwnersStage
from service.stream.tables import TABLES, TableWriter, declare_table
from service.stream.web import register_routes
from service.stream.wire import Outbox, encode_owner_messages

__all__ = ["KpiService"]

log = logging.getLogger(__name__)

INPUT_BATCH_MESSAGES = 1000
"""Input messages per stage-1 batch: the larger the batch, the more events of a conversation
share one update (a backlog of batch envelopes fills it at once; live traffic waits at most
``BATCH_WITHIN_S``)."""
FACTS_BATCH_MESSAGES = 500
BATCH_WITHIN_S = 0.05
MAX_OWNER_MESSAGE_BYTES = 100_000
"""Owner messages are split below this (Kafka's default limit is 1 MB per record batch; smaller
messages keep the prefetched backlog small)."""
STREAM_BUFFER_MESSAGES = 1024
"""Messages prefetched per partition (faust's default, 4,096, holds gigabytes of a backlog)."""
PRODUCER_BATCH_BYTES = 900_000
REFRESH_INTERVAL_S = 0.5
RELEASE_MEMORY_INTERVAL_S = 10.0
PROGRESS_INTERVAL_S = 5.0
RECOVERY_LOG_INTERVAL_S = 10.0
"""How often a worker checks whether a rebalance left state to load (besides every batch)."""


def _by_partition(events: list[EventT]) -> dict[int, list[EventT]]:
    groups: dict[int, list[EventT]] = {}
    for event in events:
        groups.setdefault(event.message.partition, []).append(event)
    return groups


class KpiService:
    """One worker: the faust app, its topics and tables, both stages, recovery and reports."""

    def __init__(self, settings: Settings, config: KpiConfig) -> None:
        self.settings = settings
        self.config = config
        self.policy = CachedPolicy(config)
        self.partitions = settings.partitions
        self.app = faust.App(
            settings.app_id,
            broker=f"kafka://{settings.kafka_bootstrap_servers}",
            store=settings.store,
            datadir=str(settings.data_dir),
            topic_partitions=settings.partitions,
            processing_guarantee="at_least_once",
            table_standby_replicas=0,
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
        self.facts_topic = self.app.topic(settings.facts_topic, partitions=self.partitions,
                                          internal=True, **raw)
        self.dead_letters = self.app.topic(settings.dead_letter_topic, partitions=self.partitions,
                                           **raw)
        conversation_table, owner_table = (
            declare_table(self.app, settings.app_id, name, self.partitions, self._recovered)
            for name in TABLES)
        tables = TableWriter(settings.app_id, lambda: self.batches)
        bound_recovery_samples(self.app)
        self._recoveries = 0
        self.health = Health()
        self.kafka = KafkaReachability(settings.kafka_bootstrap_servers)
        self._batches: RecordBatches | None = None
        self._owner_partitions: dict[str, int] = {}
        outputs = StageOutputs(self.health, tables, self._dead_letter, self.partition_of)
        self.stage1 = ConversationsStage(self.policy, settings, conversation_table, outputs)
        self.stage2 = OwnersStage(self.policy, owner_table, outputs, settings.conversation_cache)
        self.guarded = GuardedBatches(Path(settings.data_dir), ("conversations", "owners"),
                                      self._dead_letter, lambda: self.batches.send(),
                                      lambda: self.kafka.up)
        self._stage1_loaded: tuple[frozenset[int], int] | None = None
        self._stage2_loaded: tuple[frozenset[int], int] | None = None
        self.progress = Progress()
        self.stalled_seconds = 0.0
        """Seconds input has waited with nothing applied, as of the last health update."""
        self.app.task(self._watch_kafka)
        self.app.task(self._watch_progress)
        self.app.task(self._report_recovery)
        self.app.task(self._keep_loaded)
        self.app.task(self._release_memory)
        self.app.agent(self.events_topic, name="conversations")(self._conversations_agent)
        self.app.agent(self.facts_topic, name="owners")(self._owners_agent)
        hold_streams_until_resumed(self.app)
        register_routes(self.app, self, settings.token, config.metrics.agent_kpis,
                        config.team, settings.agent_secret)

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
        otherwise looks like a silent worker)."""
        tables: Any = self.app.tables
        recovery = tables.recovery
        started: float | None = None
        total = 0
        while True:
            await asyncio.sleep(RECOVERY_LOG_INTERVAL_S)
            if not recovery.in_recovery:
                if started is not None:
                    log.warning("tables recovered in %.0f s", time.monotonic() - started)
                started, total = None, 0
                continue
            remaining = recovery.active_remaining_total()
            if started is None:
                started = time.monotonic() - RECOVERY_LOG_INTERVAL_S
            total = max(total, remaining)
            log.warning("recovering the tables from their changelogs (a restart or a "
                        "rebalance): %d of %d records left to read", remaining, total)

    async def _watch_progress(self) -> None:
        """Check every few seconds that waiting input is applied (see
        :mod:`service.stream.progress`), also when nobody scrapes."""
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL_S)
            self.update_health()

    async def _keep_loaded(self) -> None:
        """Load the state of a new assignment once its tables are recovered, also when no
        batch comes (the read paths never load state)."""
        while True:
            self.refresh()
            await asyncio.sleep(REFRESH_INTERVAL_S)

    async def _release_memory(self) -> None:
        """Return the C heap's free pages to the OS now and then (see
        :func:`~service.runtime.release_free_memory`)."""
        while True:
            await asyncio.sleep(RELEASE_MEMORY_INTERVAL_S)
            release_free_memory()

    @property
    def batches(self) -> RecordBatches:
        if self._batches is None:
            producer: Any = self.app.producer
            self._batches = RecordBatches(
                producer._ensure_producer(), frozenset({self.settings.dead_letter_topic}),
                PRODUCER_BATCH_BYTES)
        return self._batches

    # -- assignment and recovery ---------------------------------------------------------------

    def active_partitions(self, topic: str) -> frozenset[int]:
        return frozenset(tp.partition for tp in self.app.assignor.assigned_actives()
                         if tp.topic == topic)

    async def _recovered(self) -> None:
        """A table finished recovering after a rebalance (faust's on_recover callback)."""
        self._recoveries += 1

    @property
    def recovered(self) -> bool:
        """Tables recovered at least once and not recovering now. (``app.rebalancing`` is not
        consulted: it is still set when the streams resume, and a batch must never be processed
        before the state of its partitions is loaded. A rebuild started early is redone when
        the next recovery completes, since the recovery count is part of what is loaded.)"""
        app: Any = self.app
        return bool(app.tables.recovery.completed.is_set() and not app.in_recovery
                    and self._recoveries)

    def refresh(self) -> None:
        """Rebuild in-memory state from the tables after each rebalance's recovery."""
        if not self.recovered:
            return
        active = self.active_partitions(self.settings.topic)
        if (active, self._recoveries) != self._stage1_loaded:
            count = self.stage1.load(list(self.stage1.table.items()), active)
            self._stage1_loaded = (active, self._recoveries)
            self.progress.applied()
            log.info("conversations loaded for partitions %s: %d", sorted(active), count)
        active = self.active_partitions(self.settings.facts_topic)
        if (active, self._recoveries) != self._stage2_loaded:
            count = self.stage2.load(list(self.stage2.table.items()), active)
            self._stage2_loaded = (active, self._recoveries)
            self.progress.applied()
            log.info("owners loaded for partitions %s: %d", sorted(active), count)

    async def _wait_loaded(self, timeout_s: float = 120) -> None:
        """Hold a batch until the state of the current assignment is loaded from the recovered
        tables: faust can hand a batch to an agent a moment before its recovery callbacks ran,
        and a batch processed on empty state would overwrite the real one."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.refresh()
            current = (self.active_partitions(self.settings.topic), self._recoveries)
            owners = (self.active_partitions(self.settings.facts_topic), self._recoveries)
            if self._recoveries and self._stage1_loaded == current \
                    and self._stage2_loaded == owners:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"tables not recovered after {timeout_s:.0f} s")
            await asyncio.sleep(0.05)

    def _loaded_owner_partitions(self) -> frozenset[int]:
        """The facts-topic partitions assigned here whose state is loaded."""
        loaded = self._stage2_loaded[0] if self._stage2_loaded else frozenset()
        return loaded & self.active_partitions(self.settings.facts_topic)

    def owned(self) -> set[str]:
        """The owner keys this worker exports (``o`` only on the worker that owns it). A read:
        state is loaded by the batches and :meth:`_keep_loaded`, never here."""
        active = self._loaded_owner_partitions()
        owners = {o for o in self.stage2.book.owners() if self.partition_of(o) in active}
        if self.partition_of(OVERALL) in active:
            owners.add(OVERALL)
        return owners

    def partition_of(self, owner: str) -> int:
        partition = self._owner_partitions.get(owner)
        if partition is None:
            partition = self._owner_partitions[owner] = partition_for(owner.encode(),
                                                                      self.partitions)
        return partition

    # -- the two agents ------------------------------------------------------------------------

    async def _conversations_agent(self, stream: Any) -> None:
        async for events in stream.take_events(INPUT_BATCH_MESSAGES, BATCH_WITHIN_S):
            await self.guarded.run("conversations", events,
                                   partial(self._batch, self.stage1, b"batch"))

    async def _owners_agent(self, stream: Any) -> None:
        async for events in stream.take_events(FACTS_BATCH_MESSAGES, BATCH_WITHIN_S):
            await self.guarded.run("owners", events,
                                   partial(self._batch, self.stage2, b"segments"))

    async def _batch(self, stage: ConversationsStage | OwnersStage, key: bytes,
                     events: list[EventT]) -> None:
        """One batch of a stage, partition by partition, once the state is loaded; its owner
        messages delivered with ``key``."""
        await self._wait_loaded()
        outbox = Outbox()
        for partition, group in _by_partition(events).items():
            stage.batch(partition, group, outbox)
        await self._deliver(outbox, key)
        self.progress.applied()

    def _dead_letter(self, rejection: Rejection, message: Any) -> None:
        """Append the dead letter of ``rejection`` (read from ``message``); it is sent with the
        batch's other outputs."""
        self.health.rejected(rejection.reason, rejection.count)
        record = dead_letter(rejection, Origin(message.topic, message.partition,
                                               message.offset, message.key))
        self.batches.append(self.settings.dead_letter_topic, message.partition, record.key,
                            record.value, record.headers)

    async def _deliver(self, outbox: Outbox, key: bytes) -> None:
        """Send the batch's messages and wait until Kafka has them (changelog records and dead
        letters included): only then may the input be acknowledged. A failed send raises, the
        worker exits and the batch is delivered again."""
        for partition, message in outbox.messages.items():
            for value in encode_owner_messages(message, MAX_OWNER_MESSAGE_BYTES):
                self.batches.append(self.settings.facts_topic, partition, key, value)
        await self.batches.send()

    # -- reports -------------------------------------------------------------------------------

    @property
    def kafka_down_since(self) -> float | None:
        return self.kafka.down_since

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
        sources = {self.settings.topic, self.settings.facts_topic}
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
        return self.stage2.book.report(as_of_ms, self.owned(), self.config.at_risk_ratio,
                                self.config.weighted_score)

    def queue(self, state: str, as_of_ms: int, team: str | None, agent: str | None,
              limit: int) -> dict[str, Any]:
        return queue_listing(self.stage1.router.stage.live_summaries(), state, as_of_ms,
                             self.policy, self.config.at_risk_ratio, team, agent, limit)

    def feedback(self, level: str, key: str, as_of_ms: int) -> dict[str, Any] | None:
        owner = owner_key(level, key)
        if self.partition_of(owner) not in self._loaded_owner_partitions():
            return None
        kpis = self.stage2.book.values_of(owner, "24h", as_of_ms, self.config.weighted_score)
        facts = self.stage2.book.feedback.get((level, key), {}).values()
        return feedback_page(level, key, facts, as_of_ms, kpis)

    def explain(self, kpi: str, level: str, key: str | None, window: str,
                as_of_ms: int) -> dict[str, Any] | None:
        owner = owner_key(level, key)
        if self.partition_of(owner) not in self._loaded_owner_partitions():
            return None
        book = self.stage2.book
        saved = owner_shares(self.stage2.table.items(), owner) if book.trimmed else ()
        return explain(kpi, level, key, window, as_of_ms, book.shares(owner, saved),
                       book.owner_segments(owner))

    def owner_summary(self) -> dict[str, int]:
        levels = Counter(owner_level(o)[0] for o in self.owned())
        return dict(levels)

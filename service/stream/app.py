"""The Faust topology (see README "How it works").

* ``conversations`` agent — input topic, keyed by conversation: decode (bad input to the dead
  letters), :class:`~service.engine.router.ConversationRouter` (the engine's stage 1), the
  conversation's state to the ``conversations`` table, and conversation updates to the facts
  topic, one message (split when large) per destination partition per batch.
* ``owners`` agent — facts topic, keyed by owner: each update's owner syncs applied to an
  :class:`~service.engine.owners.OwnerBook` (stage 2), the synced facts, presence and
  segments to the ``owners`` table; agent owners
  send their occupancy segments on to the team and overall owners.

At-least-once: a batch's outputs (syncs, changelog records, dead letters) are acknowledged by
the broker before its input is, and every output is an idempotent replace-sync, so a
re-delivered batch changes nothing. In-memory state is rebuilt from the tables whenever the
assignment changes.

Outputs bypass faust's per-record send path (about 100 µs a record): table values are set in the
store directly and their changelog records, like the owner messages, are appended to aiokafka
batches (:class:`~service.stream.batches.RecordBatches`) and sent once per input batch; faust
still recovers the tables from those changelogs.
"""

import asyncio
import contextlib
import logging
import os
import time
import weakref
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import faust
import orjson
from aiokafka.errors import KafkaError
from faust.streams import _current_event
from faust.types import EventT

from service.config import KpiConfig
from service.engine.engine import DEFAULT_FORGET_AFTER_MS, DEFAULT_RETENTION_MS, CachedPolicy
from service.engine.owners import (
    OVERALL,
    ConversationSync,
    OwnerBook,
    SegmentSync,
    owner_level,
    owner_syncs,
)
from service.engine.records import Record, to_record
from service.engine.router import ConversationRouter
from service.ingest import Decoded, Rejection, decode_message, shorten
from service.logs import install_repeat_filter
from service.publish import partition_for
from service.settings import Settings
from service.stream.batches import RecordBatches
from service.stream.crash_loop import CrashLoopGuard, Plan, ranges_of
from service.stream.dead_letters import Origin, dead_letter
from service.stream.health import Health
from service.stream.reachability import PROBE_INTERVAL_S, KafkaReachability
from service.stream.wire import (
    SEPARATOR,
    OwnerMessage,
    decode_facts,
    decode_live,
    decode_owner_message,
    decode_segments,
    dumps,
    encode_owner_messages,
    table_key,
)

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
TABLES = ("conversations", "owners")
RECOVERY_TIME_SAMPLES = 1000
CHANGELOG_TOPIC_CONFIG = {"cleanup.policy": "compact", "segment.bytes": str(16 << 20),
                          "min.cleanable.dirty.ratio": "0.2"}
"""Changelogs are compacted (every key is rewritten often): small segments let the broker's
cleaner keep them near one record per key, so a restore reads that and little more."""


def changelog_topic(app_id: str, table: str) -> str:
    """The changelog of a table. ``support-kpi worker`` creates it before faust starts: when
    faust creates it itself, a fresh worker can subscribe before the topic is in the cluster
    metadata, get no changelog partitions assigned, and crash on its first table write."""
    return f"{app_id}-{table}-changelog"


@contextlib.contextmanager
def _as_event(event: EventT) -> Iterator[None]:
    """Make ``event`` faust's current event, so table writes go to its partition (a batch
    mixes partitions; faust would otherwise use the batch's last event for all of them)."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def _processing_error(error: Exception, raw: bytes | None) -> Rejection:
    """SPEC §2: a message that cannot be processed is dead-lettered, naming the failure."""
    log.warning("a message could not be processed (%s); dead-lettered", type(error).__name__,
                exc_info=True)
    return Rejection("processing_error",
                     shorten(f"{type(error).__name__}: {error}", 500), raw or b"")


def _by_partition(events: list[EventT]) -> dict[int, list[EventT]]:
    groups: dict[int, list[EventT]] = {}
    for event in events:
        groups.setdefault(event.message.partition, []).append(event)
    return groups


class KpiService:
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
        self.conversation_table, self.owner_table = (self._table(name) for name in TABLES)
        self._changelogs = {name: changelog_topic(settings.app_id, name) for name in TABLES}
        self._bound_recovery_samples()
        self._recoveries = 0
        self.router = self._new_router()
        self.book = OwnerBook(self.policy, DEFAULT_RETENTION_MS)
        self.segment_holders: dict[str, frozenset[str]] = {}
        self.health = Health()
        self.kafka = KafkaReachability(settings.kafka_bootstrap_servers)
        self.app.task(self._watch_kafka)
        self._batches: RecordBatches | None = None
        self.guards = {stage: CrashLoopGuard(Path(settings.data_dir), stage)
                       for stage in ("conversations", "owners")}
        self._isolation = asyncio.Lock()
        """Held while a stage processes a suspect batch one message at a time: no other batch
        runs then, so a death is the noted message's."""
        self._in_flight = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._owner_partitions: dict[str, int] = {}
        self._forgotten: dict[int, set[str]] = {}
        self._stage1_loaded: tuple[frozenset[int], int] | None = None
        self._stage2_loaded: tuple[frozenset[int], int] | None = None
        self.app.agent(self.events_topic, name="conversations")(self._conversations_agent)
        self.app.agent(self.facts_topic, name="owners")(self._owners_agent)
        rebalance_complete: Any = self.app.on_rebalance_complete
        rebalance_complete.connect(self._hold_streams_until_resumed)
        from service.stream.web import register_routes

        register_routes(self)

    async def _watch_kafka(self) -> None:
        """Probe Kafka every few seconds for the health endpoints; started with the app, after
        the worker set up logging, so repeated errors are also held back from here on."""
        install_repeat_filter()
        while True:
            await self.kafka.probe()
            await asyncio.sleep(PROBE_INTERVAL_S)

    def _table(self, name: str) -> Any:
        """A bytes table; its changelog records are written by :meth:`_store` (acknowledged
        by the broker before the input is). ``acks=False`` is faust's consumer-side setting
        of changelogs: with it on, faust tracks every offset gap that compaction leaves in an
        interval tree and a restore slows to a crawl."""
        changelog = self.app.topic(
            changelog_topic(self.settings.app_id, name), partitions=self.partitions,
            key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
            compacting=True, internal=True, acks=False, config=CHANGELOG_TOPIC_CONFIG)
        return self.app.Table(name, default=None, partitions=self.partitions, key_type=bytes,
                              value_type=bytes, changelog_topic=changelog,
                              on_recover=self._recovered)

    def _bound_recovery_samples(self) -> None:
        """faust's recovery keeps the processing time of every changelog record it reads and
        takes ``statistics.mean`` of all of them every few seconds for its progress estimate:
        restoring a million records slows to a crawl. It needs 1,000 samples; keep those."""
        tables: Any = self.app.tables
        tables.recovery._processing_times = deque(maxlen=RECOVERY_TIME_SAMPLES)

    @property
    def batches(self) -> RecordBatches:
        if self._batches is None:
            producer: Any = self.app.producer
            self._batches = RecordBatches(
                producer._ensure_producer(), frozenset({self.settings.dead_letter_topic}),
                PRODUCER_BATCH_BYTES)
        return self._batches

    def _store(self, table: Any, partition: int, key: bytes, value: bytes | None) -> None:
        """Set (or, with None, delete) a table value and append its changelog record. Must run
        inside ``_as_event`` of an event of ``partition`` (the RocksDB store picks its
        partition database from the current event)."""
        if value is None:
            with contextlib.suppress(KeyError):
                del table.data[key]
        else:
            # orjson's output keeps its 4 KB working buffer; a table holding it verbatim
            # would cost 4 KB a key, so it keeps an exact-size copy.
            table.data[key] = bytes(memoryview(value))
        self.batches.append(self._changelogs[table.name], partition, key, value)

    def _new_router(self) -> ConversationRouter:
        return ConversationRouter(self.policy, DEFAULT_RETENTION_MS, DEFAULT_FORGET_AFTER_MS)

    # -- assignment ----------------------------------------------------------------------------

    def active_partitions(self, topic: str) -> frozenset[int]:
        return frozenset(tp.partition for tp in self.app.assignor.assigned_actives()
                         if tp.topic == topic)

    async def _hold_streams_until_resumed(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        """Suspend delivery into the stream queues until faust resumes the streams.

        faust's recovery turns the consumer's flow on to read the changelogs and leaves it on;
        when done, it resumes the stream partitions, awaits the seek to the committed offsets
        and only then calls ``flow_control.resume()``, which *clears* the stream queues.
        Records fetched in between would be dropped: never processed, never acknowledged and
        never fetched again (the fetch position is past them). Suspended here (faust sends
        this signal just before it resumes the stream partitions), the conductor waits in
        ``flow_control.acquire()`` and hands the records over after the clear."""
        self.app.flow_control.suspend()

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
            router = self._new_router()
            for key, value in list(self.conversation_table.items()):
                partition, state = orjson.loads(value)
                if partition in active:
                    router.load(key.decode(), state)
            self.router, self._stage1_loaded = router, (active, self._recoveries)
            log.info("conversations loaded for partitions %s: %d", sorted(active),
                     len(router.stage.conversations))
        active = self.active_partitions(self.settings.facts_topic)
        if (active, self._recoveries) != self._stage2_loaded:
            self._rebuild_book(active)
            self._stage2_loaded = (active, self._recoveries)

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

    def _rebuild_book(self, active: frozenset[int]) -> None:
        book = OwnerBook(self.policy, DEFAULT_RETENTION_MS)
        holders: dict[str, frozenset[str]] = {}
        for key, value in list(self.owner_table.items()):
            partition, kind, payload = orjson.loads(value)
            if partition not in active:
                continue
            parts = key.decode().split(SEPARATOR, 2)
            owner, rest = parts[0], parts[2] if len(parts) > 2 else ""
            if kind == "c":
                facts, live = payload
                book.apply_sync(ConversationSync(owner, rest, decode_facts(facts),
                                                 decode_live(live)))
            elif kind == "p":
                for record in payload:
                    book.add_presence(owner[2:], Record(*record))
            elif kind == "s":
                book.apply_segments(SegmentSync(owner, rest, decode_segments(payload)))
            else:
                holders[owner[2:]] = frozenset(payload)
        self.book, self.segment_holders = book, holders
        log.info("owners loaded for partitions %s: %d", sorted(active), len(book.owners()))

    def owned(self) -> set[str]:
        """The owner keys this worker exports (``o`` only on the worker that owns it)."""
        self.refresh()
        loaded = self._stage2_loaded[0] if self._stage2_loaded else frozenset()
        active = loaded & self.active_partitions(self.settings.facts_topic)
        owners = {o for o in self.book.owners() if self.partition_of(o) in active}
        if self.partition_of(OVERALL) in active:
            owners.add(OVERALL)
        return owners

    def partition_of(self, owner: str) -> int:
        partition = self._owner_partitions.get(owner)
        if partition is None:
            partition = self._owner_partitions[owner] = partition_for(owner.encode(),
                                                                      self.partitions)
        return partition

    # -- stage 1 -------------------------------------------------------------------------------

    async def _conversations_agent(self, stream: Any) -> None:
        async for events in stream.take_events(INPUT_BATCH_MESSAGES, BATCH_WITHIN_S):
            await self._guarded("conversations", events, self._conversations_batch)

    async def _guarded(self, stage: str, events: list[EventT],
                       process: Callable[[list[EventT]], Awaitable[None]]) -> None:
        """Process one batch under the stage's crash-loop guard
        (:mod:`service.stream.crash_loop`).

        A failure inside a faust take() batch would leave the agent wedged (restarted but
        never consuming again), and faust's take() acknowledges a failed batch all the same,
        so a graceful stop could commit it. A batch that raises makes the worker exit at once
        instead, without committing: the restarted worker reads the batch again from the last
        committed offsets. Bad input does not get here (it is dead-lettered per message); a
        failure of Kafka is not counted against the input."""
        guard = self.guards[stage]
        if self._isolation.locked():
            async with self._isolation:
                pass
        plan = guard.plan(ranges_of((e.message.topic, e.message.partition, e.message.offset)
                                    for e in events))
        try:
            if not plan.isolate:
                self._in_flight += 1
                self._quiet.clear()
                try:
                    await process(events)
                finally:
                    self._in_flight -= 1
                    if not self._in_flight:
                        self._quiet.set()
            else:
                async with self._isolation:
                    await self._quiet.wait()
                    await self._isolate(stage, events, plan, process)
        except asyncio.CancelledError:
            guard.clear()
            raise
        except Exception as error:
            if isinstance(error, KafkaError | TimeoutError | OSError):
                guard.clear()
            log.exception("%s batch failed; exiting without committing its offsets (restart "
                          "the worker: it re-reads the batch)", stage)
            logging.shutdown()
            os._exit(70)
        guard.done()

    async def _isolate(self, stage: str, events: list[EventT], plan: Plan,
                       process: Callable[[list[EventT]], Awaitable[None]]) -> None:
        """One message at a time, each noted first, while no other batch runs (so that a
        death names the message), and the message named by the last death dead-lettered."""
        guard = self.guards[stage]
        log.warning("%s: the worker died %d times in a row on this input; processing it one "
                    "message at a time", stage, plan.deaths)
        for event in events:
            message = event.message
            where = (message.topic, message.partition, message.offset)
            if where == plan.poison:
                await self._dead_letter_crashing(event, plan.deaths)
                continue
            guard.processing(where)
            await process([event])

    async def _dead_letter_crashing(self, event: EventT, deaths: int) -> None:
        message = event.message
        log.error("dead-lettering %s partition %d offset %d: the worker died %d times in a row "
                  "while processing it", message.topic, message.partition, message.offset,
                  deaths)
        self._dead_letter(Rejection(
            "processing_error", f"the worker died {deaths} times in a row while processing "
            "this message", event.value or b""), message)
        await self.batches.send()

    def _dead_letter(self, rejection: Rejection, message: Any) -> None:
        """Append the dead letter of ``rejection`` (read from ``message``); it is sent with the
        batch's other outputs."""
        self.health.rejected(rejection.reason)
        record = dead_letter(rejection, Origin(message.topic, message.partition,
                                               message.offset, message.key))
        self.batches.append(self.settings.dead_letter_topic, message.partition, record.key,
                            record.value, record.headers)

    async def _conversations_batch(self, events: list[EventT]) -> None:
        await self._wait_loaded()
        outbox: dict[int, OwnerMessage] = {}
        for partition, group in _by_partition(events).items():
            await self._conversation_batch(partition, group, outbox)
        await self._deliver(outbox, b"batch")

    async def _conversation_batch(self, partition: int, group: list[EventT],
                                  outbox: dict[int, OwnerMessage]) -> None:
        items = []
        sources: list[tuple[Any, Any]] = []
        types: Counter[str] = Counter()
        origin_ms = min(int(e.message.timestamp * 1000) for e in group)
        latest_ms = int((time.time() + self.settings.max_clock_skew_seconds) * 1000)
        for event in group:
            message = event.message
            self.health.observe_offset(message.topic, message.partition, message.offset)
            try:
                decoded = decode_message(event.value, self.settings.max_message_bytes,
                                         latest_ms)
            except Exception as error:
                decoded = Decoded([], [_processing_error(error, event.value)])
            for rejection in decoded.rejections:
                self._dead_letter(rejection, message)
            parsed: Any
            for index, parsed in enumerate(decoded.events):
                try:
                    record = to_record(parsed, (message.offset << 20) + index)
                except Exception as error:
                    self._dead_letter(_processing_error(error, parsed.model_dump_json().encode()),
                                      message)
                    continue
                types[parsed.type] += 1
                items.append((record, getattr(parsed, "conversation_id", None)))
                sources.append((message, parsed))
        out = self.router.process(items)
        for position, failure in out.failed:
            message, parsed = sources[position]
            types[parsed.type] -= 1
            self._dead_letter(_processing_error(failure, parsed.model_dump_json().encode()),
                              message)
        self.health.processed(types, out.duplicates, out.late, out.expired,
                              len(out.forgotten))
        self._forget(out.forgotten)
        partition_of = self.partition_of
        for update in out.updates:
            owners = update.owners
            destinations = {partition_of(owner) for owner in owners}
            for destination in destinations:
                here = owners if len(destinations) == 1 else tuple(
                    o for o in owners if partition_of(o) == destination)
                self._message_for(outbox, destination, origin_ms).updates.append(
                    update._replace(owners=here))
        for owner, record in out.presence:
            self._message_for(outbox, partition_of(owner), origin_ms).presence.append(
                (owner, record))
        conversations = self.router.stage.conversations
        table = self.conversation_table
        with _as_event(group[-1]):
            for cid in out.touched:
                conversation = conversations.get(cid)
                self._store(table, partition, cid.encode(), None if conversation is None
                            else orjson.dumps([partition, conversation.to_state()]))
            for cid in self._forgotten.pop(partition, ()):
                self._store(table, partition, cid.encode(), None)

    def _forget(self, conversation_ids: list[str]) -> None:
        """Note the table rows of conversations the router dropped past their retention
        horizon: each is deleted (with its changelog tombstone) by the next batch of its own
        partition, where the store can write it."""
        table = self.conversation_table.data
        for cid in conversation_ids:
            value = table.get(cid.encode())
            if value is not None:
                self._forgotten.setdefault(orjson.loads(value)[0], set()).add(cid)

    async def _deliver(self, outbox: dict[int, OwnerMessage], key: bytes) -> None:
        """Send the batch's messages and wait until Kafka has them (changelog records and dead
        letters included): only then may the input be acknowledged. A failed send raises, the
        agent crashes and the batch is delivered again."""
        for partition, message in outbox.items():
            for value in encode_owner_messages(message, MAX_OWNER_MESSAGE_BYTES):
                self.batches.append(self.settings.facts_topic, partition, key, value)
        await self.batches.send()

    def _message_for(self, outbox: dict[int, OwnerMessage], partition: int,
                     origin_ms: int | None) -> OwnerMessage:
        message = outbox.get(partition)
        if message is None:
            message = outbox[partition] = OwnerMessage(origin_ms)
        elif origin_ms is not None and (message.origin_ms is None
                                        or origin_ms < message.origin_ms):
            message.origin_ms = origin_ms
        return message

    # -- stage 2 -------------------------------------------------------------------------------

    async def _owners_agent(self, stream: Any) -> None:
        async for events in stream.take_events(FACTS_BATCH_MESSAGES, BATCH_WITHIN_S):
            await self._guarded("owners", events, self._owners_batch)

    async def _owners_batch(self, events: list[EventT]) -> None:
        await self._wait_loaded()
        outbox: dict[int, OwnerMessage] = {}
        for partition, group in _by_partition(events).items():
            self._owner_batch(partition, group, outbox)
        await self._deliver(outbox, b"segments")

    def _owner_batch(self, partition: int, group: list[EventT],
                     outbox: dict[int, OwnerMessage]) -> None:
        book = self.book
        changed_agents: set[str] = set()
        now = time.time()
        with _as_event(group[-1]):
            for event in group:
                self.health.observe_offset(event.message.topic, partition, event.message.offset)
                try:
                    message = decode_owner_message(event.value)
                except Exception as error:
                    self._dead_letter(_processing_error(error, event.value), event.message)
                    continue
                # Agents are re-synced on every input that concerns them, changed or not: a
                # redelivered batch must re-send segments that a crash may have lost.
                for update in message.updates:
                    for sync in owner_syncs(update):
                        if sync.owner.startswith("a:"):
                            changed_agents.add(sync.owner[2:])
                        if book.apply_sync(sync):
                            self._put(partition, sync.owner, "c", sync.conversation_id,
                                      [sync.facts, sync.live])
                for owner, record in message.presence:
                    agent = owner[2:]
                    changed_agents.add(agent)
                    if book.add_presence(agent, record):
                        self._put(partition, owner, "p", "", book.timeline(agent).presence)
                segment_sync: SegmentSync
                for segment_sync in message.segments:
                    if book.apply_segments(segment_sync):
                        self._put(partition, segment_sync.owner, "s", segment_sync.agent,
                                  segment_sync.segments)
                if message.origin_ms is not None:
                    self.health.latency(now - message.origin_ms / 1000)
            for agent in changed_agents:
                syncs, holders = book.segment_syncs(agent, self.segment_holders.get(agent, ()))
                for segments in syncs:
                    self._message_for(outbox, self.partition_of(segments.owner),
                                      None).segments.append(segments)
                merged = holders | self.segment_holders.get(agent, frozenset())
                if merged != self.segment_holders.get(agent):
                    self.segment_holders[agent] = merged
                    self._put(partition, f"a:{agent}", "h", "", sorted(merged))

    def _put(self, partition: int, owner: str, kind: str, name: str, payload: Any) -> None:
        """One owner-table record: ``[partition, kind, payload]`` under owner/kind/name."""
        self._store(self.owner_table, partition, table_key(owner, kind, name).encode(),
                    dumps([partition, kind, payload]))

    # -- reports -------------------------------------------------------------------------------

    def report(self, as_of_ms: int) -> dict[str, Any]:
        return self.book.report(as_of_ms, self.owned(), self.config.at_risk_ratio,
                                self.config.weighted_score)

    def owner_summary(self) -> dict[str, int]:
        levels = Counter(owner_level(o)[0] for o in self.owned())
        return dict(levels)

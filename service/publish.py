"""Putting events on the input topic: ``produce`` (JSON lines) and ``simulate`` (live traffic).

Keys follow SPEC §2: the ``conversation_id``, else the ``agent_id``, so Kafka's default
partitioner keeps a conversation on one partition. With ``batch > 1`` events are grouped per
partition into batch envelopes (JSON arrays): far fewer, larger messages.

An event counts as delivered only once the broker acknowledged it: the producer is idempotent
with ``acks=all``, so its retries neither lose nor duplicate a message and keep each
partition's order. Retries are bounded by ``timeout_s``: when the broker has not acknowledged
an event that long, publishing stops and the stats say what was not delivered.
"""

import asyncio
import contextlib
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError

from service import strict_json
from service.config import config_from_env
from service.desk import (
    CONVERSATIONS_PER_AGENT_HOUR,
    DeskShape,
    IncidentPlan,
    ResponseTargets,
    desk_events,
    per_agent_hour_for,
)
from service.partitioning import event_key, partition_for

__all__ = ["DEFAULT_TIMEOUT_S", "Envelope", "Envelopes", "PublishStats", "ensure_topics",
           "failure_report", "live_traffic", "produce", "simulate"]

DEFAULT_TIMEOUT_S = 60.0
"""How long the broker may leave an event unacknowledged before publishing gives up, seconds."""

_T = TypeVar("_T")


@dataclass
class PublishStats:
    """What a publishing run did. ``events`` and ``messages`` were handed to the producer;
    ``delivered`` and ``delivered_messages`` of them were acknowledged by the broker."""

    events: int = 0
    messages: int = 0
    skipped: int = 0
    delivered: int = 0
    delivered_messages: int = 0
    lines: int = 0
    """Input lines read (``produce``)."""
    first_undelivered_line: int | None = None
    """The lowest input line with an event that was not delivered (``produce``)."""
    error: str | None = None
    """Why publishing stopped before everything was delivered; None when it did not."""
    interrupted: bool = False
    """Stopped by Ctrl-C (task cancellation); what was handed over was still flushed."""
    exhausted: bool = False
    """The whole input was read (``produce``)."""

    @property
    def undelivered(self) -> int:
        """Events handed to the producer but not acknowledged."""
        return self.events - self.delivered

    @property
    def resume_line(self) -> int | None:
        """The input line to publish again from so that nothing is missing (``produce``); None
        when every line was read and delivered."""
        if self.first_undelivered_line is not None:
            return self.first_undelivered_line
        return None if self.exhausted else self.lines + 1


async def ensure_topics(bootstrap: str, topics: Iterable[str], partitions: int,
                        configs: Mapping[str, Mapping[str, str]] | None = None) -> None:
    """Create missing topics (with ``configs[topic]`` when given) and wait (bounded) until the
    cluster's metadata lists them, so a consumer subscribing right after sees every
    partition."""
    configs = configs or {}
    topics = list(topics) + [t for t in configs if t not in topics]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [NewTopic(t, partitions, 1, topic_configs=dict(configs.get(t, {})))
                  for t in topics if t not in existing]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
        deadline = time.monotonic() + 30
        while True:
            described = await admin.describe_topics(topics)
            if all(d.get("error_code", 0) == 0 and d.get("partitions") for d in described):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics {topics} not visible in the cluster metadata")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


Envelope = tuple[int, bytes, bytes, int]
"""(partition, key, value, events): a batch envelope ready to publish."""


class Envelopes:
    """Events grouped per partition into batch envelopes (JSON arrays) of up to ``batch``
    events, each keyed by its first event."""

    def __init__(self, partitions: int, batch: int) -> None:
        self.partitions, self.batch = partitions, batch
        self.pending: dict[int, list[tuple[bytes, bytes]]] = {}

    def add(self, key: bytes, value: bytes, partition: int | None = None) -> Envelope | None:
        """Add an encoded event (to ``partition`` when the caller computed it already); the
        envelope it completes, if any."""
        if partition is None:
            partition = partition_for(key, self.partitions)
        group = self.pending.setdefault(partition, [])
        group.append((key, value))
        return self._close(partition) if len(group) >= self.batch else None

    def drain(self) -> list[Envelope]:
        """The envelopes not full yet."""
        return [self._close(partition) for partition in list(self.pending)]

    def _close(self, partition: int) -> Envelope:
        group = self.pending.pop(partition)
        return partition, group[0][0], b"[" + b",".join(v for _, v in group) + b"]", len(group)


class _Stopped(Exception):
    """Publishing stopped: the reason is in ``PublishStats.error``."""


@dataclass
class _Sent:
    at: float
    future: "asyncio.Future[Any]"
    events: int
    line: int | None


class _KafkaLog(logging.Handler):
    """Keeps aiokafka's latest warning as the cause to report, instead of printing one per
    retry (every 0.1 s while the broker is down)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.last = record.getMessage()


class _Progress:
    """A status line rewritten in place on a terminal, at most 4 times a second."""

    def __init__(self, out: TextIO, label: str, stats: PublishStats,
                 waiting: Callable[[], float]) -> None:
        self.out, self.label, self.stats, self.waiting = out, label, stats, waiting
        self.started = time.monotonic()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            self.render()
            await asyncio.sleep(0.25)

    def render(self) -> None:
        stats = self.stats
        rate = stats.delivered / max(time.monotonic() - self.started, 1e-3)
        line = f"{self.label}: {stats.delivered:,} events delivered ({rate:,.0f}/s)"
        if stats.lines:
            line += f", line {stats.lines:,}"
        waited = self.waiting()
        if waited >= 2:
            line += f"; waiting {waited:.0f} s for Kafka to acknowledge"
        print(f"\r\x1b[K{line}", end="", file=self.out, flush=True)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        print("\r\x1b[K", end="", file=self.out, flush=True)


class _Publisher:
    """Sends events (or batch envelopes), keeps each send's delivery future and counts the
    acknowledged ones into ``stats``. Raises ``_Stopped`` from ``add`` and ``bounded`` once a
    send failed or an event waited ``timeout_s`` for its acknowledgement."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, partitions: int, batch: int,
                 timeout_s: float, stats: PublishStats, log: _KafkaLog) -> None:
        self.producer, self.topic, self.partitions, self.batch = producer, topic, partitions, batch
        self.timeout_s, self.stats, self.log = timeout_s, stats, log
        self.envelopes = Envelopes(partitions, batch)
        self.envelope_lines: dict[int, int | None] = {}
        self.pending: deque[_Sent] = deque()
        self.stopped = False

    async def add(self, key: bytes | None, value: bytes, line: int | None = None) -> None:
        """Hand one encoded event over; it is counted delivered once acknowledged."""
        if self.stopped:
            raise _Stopped
        self.stats.events += 1
        if self.batch <= 1 or key is None:
            await self._send(None, key, value, 1, line)
            return
        partition = partition_for(key, self.partitions)
        self.envelope_lines.setdefault(partition, line)
        envelope = self.envelopes.add(key, value, partition)
        if envelope is not None:
            await self._send_envelope(envelope)

    async def bounded(self, make: Callable[[], Awaitable[_T]]) -> _T:
        """``await make()``, but raise ``_Stopped`` when an event's acknowledgement is overdue
        meanwhile. ``make`` is called again after each check, so it must be safe to cancel."""
        while True:
            self._reap()
            remaining = self._remaining()
            try:
                return await asyncio.wait_for(make(), remaining)
            except TimeoutError:
                self._reap()
                if self._overdue():
                    self._stop(self._timeout_reason())
                    raise _Stopped from None

    def waiting(self) -> float:
        """Seconds the oldest unacknowledged event has been waiting; 0 when none."""
        self._reap()
        return time.monotonic() - self.pending[0].at if self.pending else 0.0

    async def close(self) -> None:
        """Send the open envelopes and wait, bounded, for every acknowledgement; give up on the
        rest when one is overdue. Afterwards every event handed over is counted either way."""
        for envelope in self.envelopes.drain():
            if self.stopped:
                self._failed(self.envelope_lines.pop(envelope[0], None))
                continue
            with contextlib.suppress(_Stopped):
                await self._send_envelope(envelope)
        with contextlib.suppress(_Stopped):
            while self._reap():
                await self.bounded(lambda: asyncio.wait([self.pending[0].future]))
        if any(not sent.future.done() for sent in self.pending):
            await _abandon(self.producer, KafkaTimeoutError(self.stats.error or "abandoned"))
        else:
            await self.producer.stop()
        self._reap()
        for sent in self.pending:
            self._failed(sent.line)
        self.pending.clear()

    async def _send_envelope(self, envelope: Envelope) -> None:
        partition, key, value, events = envelope
        await self._send(partition, key, value, events, self.envelope_lines.pop(partition, None))

    async def _send(self, partition: int | None, key: bytes | None, value: bytes, events: int,
                    line: int | None) -> None:
        self._reap()
        if self._overdue():
            self._stop(self._timeout_reason())
        if self.stopped:
            self._failed(line)
            raise _Stopped
        try:
            future = await self.producer.send(self.topic, value, key=key, partition=partition)
        except KafkaError as error:
            self._failed(line)
            self._stop(f"{type(error).__name__}: {error}")
            raise _Stopped from error
        self.stats.messages += 1
        self.pending.append(_Sent(time.monotonic(), future, events, line))
        if self.stopped:
            raise _Stopped

    def _reap(self) -> bool:
        """Count the completed sends at the front; whether any send is still pending."""
        pending = self.pending
        while pending and pending[0].future.done():
            sent = pending.popleft()
            error = None if sent.future.cancelled() else sent.future.exception()
            if error is None and not sent.future.cancelled():
                self.stats.delivered += sent.events
                self.stats.delivered_messages += 1
            else:
                self._failed(sent.line)
                if not self.stopped:
                    self._stop(f"{type(error).__name__}: {error}" if error else "cancelled")
        return bool(pending)

    def _remaining(self) -> float | None:
        if not self.pending:
            return None
        return max(self.pending[0].at + self.timeout_s - time.monotonic(), 0.0)

    def _overdue(self) -> bool:
        return bool(self.pending) and self._remaining() == 0.0

    def _timeout_reason(self) -> str:
        cause = f" (last error: {self.log.last})" if self.log.last else ""
        return f"Kafka did not acknowledge an event within {self.timeout_s:g} s{cause}"

    def _stop(self, reason: str) -> None:
        self.stopped = True
        if self.stats.error is None:
            self.stats.error = reason

    def _failed(self, line: int | None) -> None:
        first = self.stats.first_undelivered_line
        if line is not None and (first is None or line < first):
            self.stats.first_undelivered_line = line


async def _abandon(producer: AIOKafkaProducer, error: Exception) -> None:
    """Stop ``producer`` without waiting for its unacknowledged batches, failing their futures
    with ``error``. aiokafka's idempotent producer retries a batch until the broker takes it and
    its ``stop()`` waits for every batch, so this reaches into its sender and accumulator
    (aiokafka 0.11 to 0.14): a re-enqueued batch goes back into the in-flight set, whose
    done-callback removes it, and the failed waiters are marked retrieved."""
    sender_task = producer._sender.sender_task
    if sender_task is not None and not sender_task.done():
        sender_task.cancel()
        await asyncio.wait([sender_task], timeout=producer._request_timeout_ms / 1000)
    accumulator = producer._message_accumulator
    queued = [batch for queue in accumulator._batches.values() for batch in queue]
    batches = queued + list(accumulator._pending_batches)
    accumulator._pending_batches.update(batch for batch in queued if batch.retry_count)
    accumulator.fail_all(error)
    for batch in batches:
        for waiter in (batch.future, batch._drain_waiter):
            if waiter.done() and not waiter.cancelled():
                waiter.exception()
    await producer.stop()


async def _start_producer(bootstrap: str, timeout_s: float) -> AIOKafkaProducer:
    """An idempotent producer (``acks=all``), started within ``timeout_s`` seconds.

    Raises: KafkaError or TimeoutError when the broker cannot be reached."""
    request_timeout_ms = int(max(1.0, min(timeout_s, 30.0)) * 1000)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5,
                                max_batch_size=1 << 20, compression_type=None,
                                enable_idempotence=True, acks="all",
                                request_timeout_ms=request_timeout_ms)
    try:
        await asyncio.wait_for(producer.start(), timeout_s)
    except BaseException:
        await producer.stop()
        raise
    return producer


@contextlib.asynccontextmanager
async def _publishing(bootstrap: str, topic: str, partitions: int, batch: int, timeout_s: float,
                      stats: PublishStats, progress: TextIO | None,
                      label: str) -> AsyncIterator[_Publisher]:
    """A started publisher; on exit (Ctrl-C included) everything handed over is flushed or
    counted undelivered, within ``timeout_s``."""
    log = _KafkaLog()
    kafka_logger = logging.getLogger("aiokafka")
    kafka_logger.addHandler(log)
    try:
        await ensure_topics(bootstrap, [topic], partitions)
        producer = await _start_producer(bootstrap, timeout_s)
        publisher = _Publisher(producer, topic, partitions, batch, timeout_s, stats, log)
        meter = _Progress(progress, label, stats, publisher.waiting) if progress else None
        if meter is not None:
            meter.start()
        try:
            yield publisher
        except _Stopped:
            pass
        except asyncio.CancelledError:
            stats.interrupted = True
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        finally:
            try:
                await publisher.close()
            finally:
                if meter is not None:
                    await meter.stop()
    finally:
        kafka_logger.removeHandler(log)


class _ThreadedLines:
    """Reads ``lines`` on a thread, so that a slow pipe does not stall the event loop (and with
    it the producer's network I/O), and hands them over in chunks of up to ``limit`` lines."""

    def __init__(self, lines: Iterable[bytes], limit: int = 4096) -> None:
        self.lines, self.limit = lines, limit
        self.loop = asyncio.get_running_loop()
        self.cond = threading.Condition()
        self.buffer: list[bytes] = []
        self.done = False
        self.closed = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.thread = threading.Thread(target=self._read, name="produce-input", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for line in self.lines:
                with self.cond:
                    while len(self.buffer) >= self.limit and not self.closed:
                        self.cond.wait()
                    if self.closed:
                        return
                    self.buffer.append(line)
                    self._wake()
        except BaseException as error:
            with self.cond:
                self.error = error
        finally:
            with self.cond:
                self.done = True
                self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.closed:
            waiter, self.waiter = self.waiter, None
            self.loop.call_soon_threadsafe(_resolve, waiter)

    async def chunk(self) -> list[bytes] | None:
        """The lines read since the last call, waiting for at least one; None at the end.

        Raises: whatever reading the lines raised (OSError, FileNotFoundError, ...)."""
        while True:
            with self.cond:
                if self.buffer:
                    taken, self.buffer = self.buffer, []
                    self.cond.notify()
                    return taken
                if self.error is not None:
                    raise self.error
                if self.done:
                    return None
                waiter = self.waiter = self.loop.create_future()
            await waiter

    def close(self) -> None:
        """Stop reading (the thread ends at its next line)."""
        with self.cond:
            self.closed = True
            self.cond.notify()


def _resolve(waiter: "asyncio.Future[None]") -> None:
    if not waiter.done():
        waiter.set_result(None)


async def produce(lines: Iterable[bytes], bootstrap: str, topic: str, partitions: int,
                  batch: int = 1, errors: TextIO = sys.stderr,
                  timeout_s: float = DEFAULT_TIMEOUT_S, progress: TextIO | None = None,
                  stats: PublishStats | None = None) -> PublishStats:
    """Publish JSON lines (an event, or an array of events, per line) and wait for the broker
    to acknowledge them.

    Stops reading when a send fails or an event waited ``timeout_s`` seconds for its
    acknowledgement, and on cancellation (Ctrl-C): the returned stats (``stats`` when given,
    also filled in when a second Ctrl-C aborts the flush) then say what was delivered, the
    reason (``error``) and where to resume (``resume_line``). ``progress``: a terminal for a
    status line.

    Raises: KafkaError or TimeoutError when Kafka cannot be reached at the start; whatever
    reading ``lines`` raises (FileNotFoundError, OSError).
    """
    stats = stats if stats is not None else PublishStats()
    reader: _ThreadedLines | None = None
    try:
        async with _publishing(bootstrap, topic, partitions, batch, timeout_s, stats, progress,
                               "produce") as publisher:
            reader = _ThreadedLines(lines)
            number = 0
            while (chunk := await publisher.bounded(reader.chunk)) is not None:
                for raw in chunk:
                    number += 1
                    await _produce_line(publisher, raw, number, stats, errors)
                    stats.lines = number
            stats.exhausted = True
    finally:
        if reader is not None:
            reader.close()
    return stats


async def _produce_line(publisher: _Publisher, raw: bytes, number: int, stats: PublishStats,
                        errors: TextIO) -> None:
    line = raw.strip()
    if not line:
        return
    try:
        parsed = strict_json.loads(line)
    except strict_json.StrictJsonError as error:
        stats.skipped += 1
        print(f"line {number}: not JSON ({error}); skipped", file=errors)
        return
    for event in parsed if isinstance(parsed, list) else [parsed]:
        if not isinstance(event, dict):
            stats.skipped += 1
            print(f"line {number}: not an event object; skipped", file=errors)
            continue
        await publisher.add(event_key(event), orjson.dumps(event), number)


def live_traffic(rate: float | None, agents: int, seed: int = 0, backfill_s: float = 0,
                 incident: IncidentPlan | None = None) -> AsyncIterator[dict[str, Any]]:
    """The simulator's canonical events (:mod:`service.desk`: ``agents`` on shifts that staff
    every team at every hour, taking conversations only while available and within their
    concurrency limit), stamped with the current time and released as the wall clock reaches
    them (endless). Customers write in at a rate sized to the staff on shift, unless ``rate``
    (events/s, averaged over a day) says otherwise: more than the staff can serve makes a desk
    whose queues grow. ``incident``: when a team goes offline (None: never). Ids carry the
    start time, so a second run never repeats the first's. ``backfill_s``: the traffic starts
    that many seconds in the past and what is already due goes out at once."""
    now_ms = int(time.time() * 1000)
    shape = DeskShape(start_ms=now_ms - int(backfill_s * 1000), agents=agents,
                      per_agent_hour=(CONVERSATIONS_PER_AGENT_HOUR if rate is None
                                      else per_agent_hour_for(rate, agents)),
                      incident=None if incident is None else incident.at(now_ms),
                      targets=ResponseTargets.from_config(config_from_env()),
                      id_prefix=f"sim{now_ms:x}-")
    return _released(desk_events(shape, seed=seed))


async def _released(events: Iterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """``events`` (in ``at`` order), each as the wall clock reaches its time; past ones at
    once."""
    for event in events:
        delay = _ms(event["at"]) / 1000 - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield event


def _ms(text: str) -> int:
    from datetime import datetime

    from service.engine.records import to_epoch_ms

    return to_epoch_ms(datetime.fromisoformat(text))


async def simulate(bootstrap: str, topic: str, partitions: int, rate: float | None,
                   agents: int, duration_s: float | None = None, seed: int = 0, batch: int = 1,
                   progress: TextIO | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                   stats: PublishStats | None = None, backfill_s: float = 0,
                   incident: IncidentPlan | None = None) -> PublishStats:
    """Live traffic (see :func:`live_traffic`: ``rate`` events/s, None: sized to the staff),
    stamped with the current time, for ``duration_s`` seconds (None: until cancelled, i.e.
    Ctrl-C); the ``backfill_s`` seconds before now first.

    Stops early when a send fails or an event waited ``timeout_s`` seconds for its
    acknowledgement; the returned stats (``stats`` when given) say what was delivered and, in
    ``error``, why not everything. ``progress``: a terminal for a status line.

    Raises: KafkaError or TimeoutError when Kafka cannot be reached at the start.
    """
    stats = stats if stats is not None else PublishStats()
    async with _publishing(bootstrap, topic, partitions, batch, timeout_s, stats, progress,
                           "simulate") as publisher:
        started = time.monotonic()
        async for event in live_traffic(rate, agents, seed, backfill_s, incident):
            if duration_s is not None and time.monotonic() - started >= duration_s:
                break
            await publisher.add(event_key(event), orjson.dumps(event))
    return stats


def failure_report(command: str, stats: PublishStats, bootstrap: str,
                   source: str | None = None) -> str:
    """The message for a run that did not deliver everything (or, for ``produce``, did not read
    everything): counts, the reason and what to do next. ``source``: the input file of
    ``produce`` (``-`` for stdin)."""
    head = (f"support-kpi {command}: {stats.delivered:,} of {stats.events:,} events delivered; "
            f"{stats.undelivered:,} not delivered")
    if stats.interrupted:
        head += " (interrupted)"
    if stats.error:
        head += f": {stats.error}"
    head += "."
    if command != "produce":
        return (head + f" Check that Kafka at {bootstrap} is up (`python deploy/kafka/"
                "local_kafka.py run` starts one locally) and run it again.")
    resume = stats.resume_line
    if resume is None:
        return head
    read = (" and the rest of the input was not read" if not stats.exhausted else "")
    again = (f"`tail -n +{resume} {source} | support-kpi produce -`"
             if source and source != "-" else f"the input from its line {resume:,} on")
    return (head + f" Lines before {resume:,} were delivered{read}. Once Kafka at {bootstrap} "
            f"is reachable, publish {again}; events sent twice carry the same id and the "
            "service counts them once.")

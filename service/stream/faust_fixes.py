"""Workarounds for faust-streaming 0.15.3, each with the behaviour it answers: the one place to
revisit when faust is upgraded (every one reaches into faust's private state).

1. :func:`as_event` — a ``take()`` batch mixes partitions, and faust writes a table value to
   the partition of the *last* event of the batch: table writes must name their event.
2. :func:`hold_streams_until_resumed` — after a table recovery faust clears the stream queues
   it already filled: records fetched in between were never processed nor fetched again.
3. :func:`bound_recovery_samples` — faust's recovery keeps the time of every changelog record
   it reads and averages all of them every few seconds: a large restore slows to a crawl.
4. :func:`exit_without_commit` — ``take()`` acknowledges a batch that raised (a graceful stop
   would commit it), and an agent that raised inside ``take()`` is restarted but never consumes
   again: a failed batch must end the process instead.
5. :func:`exit_stalled` — after a table recovery faust now and then leaves a worker ready with
   no input ever delivered to its agents; only a new process consumes again.
6. :func:`partition_db` and :func:`persist_offset` — the stages read and write a table's rows
   themselves (:mod:`service.stream.tables`): one partition's RocksDB database (faust's
   private ``_db_for_partition``; its ``memory://`` store is one dict), and the rows of a batch
   in one RocksDB write batch with the changelog offset they reach, under faust's own offset
   key, so that its recovery reads the changelog from there (faust persists an offset only
   through its own table writes, which the worker bypasses: every restart re-read the whole
   changelog since the first restore).

7. :func:`finish_batches_before_stores_close` — with ``stream_wait_empty`` off (faust's wait
   counts every prefetched message), faust closes a table's partition databases on a rebalance
   or a stop while an agent's batch is still running: the batch's rows then met a closed
   database, the worker died, and even a clean stop left the last batch's rows to be read from
   the changelog again. The stores now close once the running batches are done, and a batch
   for a partition that went elsewhere writes its rows to the changelog only.

8. :func:`restore_before_recovery` — faust's recovery reads a changelog record by record
   through its stream machinery (about 60 µs a record; 280 s for the changelogs of a million
   events): the worker reads the active changelog partitions in bulk first, and faust's
   recovery starts where that read ended.

Two more are settings, applied where the tables are declared
(:mod:`service.stream.tables`): changelogs are declared ``acks=False`` (with acknowledgements
on, faust tracks every offset gap compaction leaves in an interval tree and a restore slows
2.7×), and they are created before faust starts (a fresh worker can otherwise subscribe
before the topic is in the cluster metadata, get no changelog partition and crash on its
first table write).
"""

import contextlib
import logging
import os
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NoReturn

from faust.streams import _current_event
from faust.types import EventT

from service.stream.restore import ChangelogPartition, restore_changelogs

__all__ = ["FAUST_VERSION", "as_event", "bound_recovery_samples", "exit_stalled",
           "exit_without_commit", "finish_batches_before_stores_close",
           "hold_streams_until_resumed", "partition_db", "persist_offset",
           "restore_before_recovery"]

FAUST_VERSION = "0.15.3"
"""The faust-streaming release these workarounds were written against (pyproject pins it)."""

RECOVERY_TIME_SAMPLES = 1000

log = logging.getLogger("service.stream")


@contextlib.contextmanager
def as_event(event: EventT) -> Iterator[None]:
    """Make ``event`` faust's current event, so table writes go to its partition (the RocksDB
    store also picks its partition database from it)."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def hold_streams_until_resumed(app: Any) -> None:
    """Suspend delivery into the stream queues until faust resumes the streams.

    faust's recovery turns the consumer's flow on to read the changelogs and leaves it on;
    when done, it resumes the stream partitions, awaits the seek to the committed offsets and
    only then calls ``flow_control.resume()``, which *clears* the stream queues. Records
    fetched in between would be dropped: never processed, never acknowledged and never
    fetched again (the fetch position is past them). Suspended when faust signals
    ``on_rebalance_complete`` (just before it resumes the stream partitions), the conductor
    waits in ``flow_control.acquire()`` and hands the records over after the clear."""
    async def suspend(sender: Any, *args: Any, **kwargs: Any) -> None:
        app.flow_control.suspend()

    app.on_rebalance_complete.connect(suspend)


def bound_recovery_samples(app: Any) -> None:
    """Keep the last 1,000 changelog record timings, all faust's progress estimate needs."""
    app.tables.recovery._processing_times = deque(maxlen=RECOVERY_TIME_SAMPLES)


def exit_without_commit(stage: str) -> NoReturn:
    """End the worker at once, without committing the failed batch's offsets: the restarted
    worker reads the batch again (and the crash-loop guard isolates a message that keeps
    killing it, :mod:`service.stream.crash_loop`)."""
    log.exception("%s batch failed; exiting without committing its offsets (restart the "
                  "worker: it re-reads the batch)", stage)
    logging.shutdown()
    os._exit(70)


def exit_stalled(stalled_s: float, waiting: int) -> NoReturn:
    """End a worker whose consumer stopped delivering (:mod:`service.stream.progress`): only
    a new process gets faust's fetcher going again, and its supervisor starts one."""
    log.error("no input applied for %.0f s while %d messages wait; exiting so that the "
              "supervisor restarts the worker", stalled_s, waiting)
    logging.shutdown()
    os._exit(70)


def finish_batches_before_stores_close(
        app: Any, running: Callable[[], contextlib.AbstractAsyncContextManager[None]]) -> None:
    """Close the tables' stores on a rebalance or a stop only once the agents' running batches
    are done: ``running()`` is entered (it waits for them and holds new ones back) around
    faust's store revocation in a rebalance, and from the stop on for good."""
    tables = app.tables
    rebalance, stop = tables.on_rebalance, tables.on_stop

    async def on_rebalance(*args: Any, **kwargs: Any) -> None:
        async with running():
            await rebalance(*args, **kwargs)

    async def on_stop() -> None:
        await running().__aenter__()
        await stop()

    tables.on_rebalance = on_rebalance
    tables.on_stop = on_stop


def partition_db(table: Any, partition: int) -> Any:
    """The storage of one partition of ``table``: a RocksDB database (``rocksdict.Rdict``,
    raw bytes), or the ``memory://`` store's dict of every partition."""
    store = table.data
    db_for = getattr(store, "_db_for_partition", None)
    return store.data if db_for is None else db_for(partition)


def persist_offset(table: Any, partition: int, writes: Mapping[bytes, bytes | None],
                   offset: int | None) -> bool:
    """``writes`` (None deletes) into the partition's storage, with ``offset`` (the changelog
    offset they reach) as faust's persisted offset, in one RocksDB write batch. False when the
    partition's database is no longer open here (nothing written)."""
    store = table.data
    db_for = getattr(store, "_db_for_partition", None)
    if db_for is None:
        data = store.data
        for key, value in writes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        return True
    if partition not in store._dbs:
        log.info("%s partition %d is no longer held here; its rows are in the changelog only",
                 table.name, partition)
        return False
    import rocksdict

    batch = rocksdict.WriteBatch(raw_mode=True)
    for key, value in writes.items():
        if value is None:
            batch.delete(key)
        else:
            batch.put(key, value)
    if offset is not None:
        batch.put(store.offset_key, str(offset).encode())
    db_for(partition).write(batch)
    return True


def restore_before_recovery(app: Any, bootstrap: str, on_restored: Callable[[int], None]
                            ) -> None:
    """Read the active changelog partitions in bulk (:mod:`service.stream.restore`) when
    faust's recovery starts, before it reads them record by record: in the step that builds
    its start offsets (``Recovery._build_offsets``), once the stores are open and the
    highwaters known, so that it starts at what the bulk read reached. RocksDB stores only
    (``memory://`` has no persisted offset to start from); bounded by half of faust's
    ``broker_request_timeout``, which that step runs under (faust stops the recovery when it
    is exceeded). A failed bulk read is logged and left to faust."""
    recovery = app.tables.recovery
    build_offsets = recovery._build_offsets

    async def restore(tps: Any, destination: Any) -> None:
        wanted: dict[ChangelogPartition, tuple[Any, Any]] = {}
        for tp in tps:
            table = app.tables._changelogs.get(tp.topic)
            highwater = recovery.active_highwaters.get(tp)
            if (table is None or highwater is None
                    or getattr(table.data, "_db_for_partition", None) is None):
                continue
            held = destination.get(tp)
            first = 0 if held is None else held + 1
            wanted[ChangelogPartition(tp.topic, tp.partition, first, highwater)] = (table, tp)

        restored = 0

        def write(part: ChangelogPartition, rows: dict[bytes, bytes | None], offset: int,
                  records: int) -> None:
            nonlocal restored
            table, tp = wanted[part]
            if persist_offset(table, part.partition, rows, offset):
                destination[tp] = offset
                restored += records
                on_restored(records)

        started = time.monotonic()
        try:
            done = await restore_changelogs(bootstrap, wanted, write,
                                            app.conf.broker_request_timeout / 2)
        except Exception as error:
            log.warning("restoring the tables in bulk failed (%s: %s); faust's recovery reads "
                        "the changelogs instead", type(error).__name__, error)
            return
        if done:
            log.warning("tables restored in bulk: %d changelog records of %d partitions in "
                        "%.1f s", restored, len(done), time.monotonic() - started)

    async def build(consumer: Any, tps: Any, destination: Any, title: str) -> None:
        if title == "active" and tps:
            await restore(tps, destination)
        await build_offsets(consumer, tps, destination, title)

    recovery._build_offsets = build

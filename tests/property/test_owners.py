"""Hypothesis: the streaming topology, simulated without Kafka, gives replay's report.

Stage 1 routers (one per input partition) turn batches into owner syncs; the syncs go to the
worker owning each owner key; the workers' reports, merged, must equal the in-process engine's
report, also when syncs are delivered twice or batches are re-processed (at-least-once).
"""

import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streams import _as_of, config, report_of, stream

from service.engine.codec import (
    conversation_row,
    conversation_state,
    load_book,
    load_router,
    presence_row,
    saved_share,
    share_key,
    sync_row,
)
from service.engine.engine import DEFAULT_FORGET_AFTER_MS, DEFAULT_RETENTION_MS, KpiEngine
from service.engine.owners import (
    OVERALL,
    ConversationUpdate,
    OwnerBook,
    SegmentSync,
    owner_syncs,
)
from service.engine.records import to_record
from service.engine.report import merge_reports
from service.engine.router import ConversationRouter
from service.partitioning import partition_for
from service.stream.wire import OwnerMessage, decode_owner_message, encode_owner_message

PARTITIONS = 4


def _over_the_wire(update: ConversationUpdate) -> ConversationUpdate:
    """The update as the facts topic carries it (JSON: tuples come back as lists)."""
    message = OwnerMessage()
    message.updates.append(update)
    [decoded] = decode_owner_message(encode_owner_message(message)).updates
    return decoded


def run_topology(events: list[Any], workers: int, rnd: random.Random, redeliver: bool,
                 as_of_ms: int, scrapes: bool = False, idle_limit: int | None = None,
                 restart_after: int | None = None) -> dict[str, Any]:
    """The merged report of the workers at ``as_of_ms``.

    Every stage writes its table rows as a worker does (:mod:`service.engine.codec`; dicts
    here). With ``scrapes``, the workers also report along the way at as-ofs up to 30 h before
    it (a report keeps running window sums and values for the next one: they must not change
    the final numbers). With ``idle_limit``, stage 1 keeps that many idle conversations
    decoded and each book that many idle shares, and they read the others back from their
    tables. With ``restart_after``, every router and book is thrown away after that many
    batches and loaded again from the rows (a worker's recovery)."""
    conversation_rows: list[dict[bytes, bytes]] = [{} for _ in range(PARTITIONS)]
    owner_rows: list[dict[bytes, bytes]] = [{} for _ in range(workers)]

    def new_router(partition: int) -> ConversationRouter:
        rows = conversation_rows[partition]

        def saved(cid: str) -> Any:
            value = rows.get(cid.encode())
            return None if value is None else conversation_state(value)[1]

        return ConversationRouter(config(), DEFAULT_RETENTION_MS, DEFAULT_FORGET_AFTER_MS,
                                  saved=None if idle_limit is None else saved,
                                  idle_limit=idle_limit)

    def new_book(worker: int) -> OwnerBook:
        rows = owner_rows[worker]

        def saved(owner: str, cid: str) -> Any:
            value = rows.get(share_key(owner, cid))
            return None if value is None else saved_share(value)

        return OwnerBook(config(), DEFAULT_RETENTION_MS,
                         loader=None if idle_limit is None else saved, idle_limit=idle_limit)

    routers = [new_router(p) for p in range(PARTITIONS)]
    books = [new_book(w) for w in range(workers)]

    def restart() -> None:
        for partition in range(PARTITIONS):
            routers[partition] = new_router(partition)
            load_router(routers[partition], conversation_rows[partition].items(),
                        frozenset({partition}))
        for worker in range(workers):
            books[worker] = new_book(worker)
            load_book(books[worker], owner_rows[worker].items(), frozenset({worker}))

    def worker_of(owner: str) -> int:
        return partition_for(owner.encode(), PARTITIONS) % workers

    by_partition: dict[int, list[tuple[Any, str | None]]] = {p: [] for p in range(PARTITIONS)}
    for seq, event in enumerate(events, 1):
        key = getattr(event, "conversation_id", None) or event.agent_id
        by_partition[partition_for(key.encode(), PARTITIONS)].append(
            (to_record(event, seq), getattr(event, "conversation_id", None)))
    touched_agents: set[str] = set()
    batches = 0
    for partition, items in by_partition.items():
        position = 0
        while position < len(items):
            size = rnd.randint(1, 40)
            batch = items[position:position + size]
            rounds = 2 if redeliver and rnd.random() < 0.2 else 1
            for _ in range(rounds):
                out = routers[partition].process(batch)
                stage, rows = routers[partition].stage, conversation_rows[partition]
                for cid in out.touched:
                    conversation = stage.conversations.get(cid)
                    if conversation is None:
                        rows.pop(cid.encode(), None)
                    else:
                        key, value = conversation_row(partition, conversation)
                        rows[key] = value
                for cid in out.forgotten:
                    rows.pop(cid.encode(), None)
                if idle_limit is not None:
                    assert len(stage.conversations) <= len(stage.active) + max(
                        idle_limit, len(out.touched))
                for update in out.updates:
                    by_worker: dict[int, list[str]] = {}
                    for owner in update.owners:
                        by_worker.setdefault(worker_of(owner), []).append(owner)
                    for worker, owners in by_worker.items():
                        share = _over_the_wire(update._replace(owners=tuple(owners)))
                        for _ in range(2 if redeliver and rnd.random() < 0.1 else 1):
                            for sync in owner_syncs(share):
                                if books[worker].apply_sync(sync):
                                    key, value = sync_row(worker, books[worker], sync)
                                    owner_rows[worker][key] = value
                    touched_agents.update(o[2:] for o in update.owners if o.startswith("a:"))
                for owner, record in out.presence:
                    worker = worker_of(owner)
                    if books[worker].add_presence(owner[2:], record):
                        key, value = presence_row(worker, books[worker], owner[2:])
                        owner_rows[worker][key] = value
                    touched_agents.add(owner[2:])
            for book in books:
                book.trim()
                book.expire()  # a worker expires hourly; every batch is the harder test
                if scrapes and rnd.random() < 0.2:
                    book.report(as_of_ms - rnd.randrange(30 * 3_600_000), book.owners(),
                                config().at_risk_ratio, config().weighted_score)
            position += size
            batches += 1
            if batches == restart_after:
                restart()
    held: dict[str, frozenset[str]] = {}
    for agent in sorted(touched_agents):
        book = books[worker_of(f"a:{agent}")]
        syncs, held[agent] = book.segment_syncs(agent)
        for sync in syncs:
            books[worker_of(sync.owner)].apply_segments(SegmentSync(*sync))
    reports = []
    for index, book in enumerate(books):
        owned = {o for o in book.owners() if worker_of(o) == index}
        if worker_of(OVERALL) == index:
            owned.add(OVERALL)
        reports.append(book.report(as_of_ms, owned, config().at_risk_ratio,
                                   config().weighted_score))
    return merge_reports(reports)


slow = settings(max_examples=20, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@slow
@given(st.integers(0, 3), st.integers(1, 3), st.randoms(use_true_random=False), st.booleans(),
       st.booleans(), st.sampled_from([None, 0, 1, 5]))
def test_topology_equals_replay(seed: int, workers: int, rnd: random.Random,
                                redeliver: bool, scrapes: bool, idle_limit: int | None) -> None:
    events = list(stream(seed))
    expected = report_of(events)
    rnd.shuffle(events)
    assert run_topology(events, workers, rnd, redeliver, _as_of(expected), scrapes,
                        idle_limit) == expected


@slow
@given(st.integers(0, 3), st.integers(1, 2), st.randoms(use_true_random=False), st.booleans(),
       st.sampled_from([None, 0, 5]), st.integers(1, 25))
def test_restart_from_the_table_rows_equals_replay(
        seed: int, workers: int, rnd: random.Random, shuffle: bool, idle_limit: int | None,
        restart_after: int) -> None:
    """Routers and books thrown away mid-stream and loaded from the rows the stages wrote
    (the one persisted form, :mod:`service.engine.codec`) go on to replay's report."""
    events = list(stream(seed))
    expected = report_of(events)
    if shuffle:
        rnd.shuffle(events)
    assert run_topology(events, workers, rnd, False, _as_of(expected),
                        idle_limit=idle_limit, restart_after=restart_after) == expected


def test_idle_conversations_leave_memory_and_come_back() -> None:
    """With no idle conversation kept, every resolved one is read back when an event (a
    rating after the resolution, a reopen) comes, and the report is still replay's."""
    events = list(stream(2))
    expected = report_of(events)
    assert run_topology(events, 1, random.Random(0), False, _as_of(expected),
                        idle_limit=0) == expected


def test_in_order_single_worker_equals_replay() -> None:
    events = list(stream(1))
    expected = report_of(events)
    assert run_topology(events, 1, random.Random(0), False, _as_of(expected)) == expected


def test_engine_is_the_reference() -> None:
    engine = KpiEngine(config())
    assert engine.report(0)["windows"]["1h"]["overall"]["conversations_created"] == 0

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

from service.engine.engine import DEFAULT_FORGET_AFTER_MS, DEFAULT_RETENTION_MS, KpiEngine
from service.engine.owners import (
    OVERALL,
    ConversationUpdate,
    OwnerBook,
    SegmentSync,
    merge_reports,
    owner_syncs,
)
from service.engine.records import to_record
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
                 as_of_ms: int, scrapes: bool = False) -> dict[str, Any]:
    """The merged report of the workers at ``as_of_ms``; with ``scrapes``, the workers also
    report along the way at as-ofs up to 30 h before it (a report keeps running window sums
    and values for the next one: they must not change the final numbers)."""
    routers = [ConversationRouter(config(), DEFAULT_RETENTION_MS, DEFAULT_FORGET_AFTER_MS)
               for _ in range(PARTITIONS)]
    books = [OwnerBook(config(), DEFAULT_RETENTION_MS) for _ in range(workers)]

    def worker_of(owner: str) -> int:
        return partition_for(owner.encode(), PARTITIONS) % workers

    by_partition: dict[int, list[tuple[Any, str | None]]] = {p: [] for p in range(PARTITIONS)}
    for seq, event in enumerate(events, 1):
        key = getattr(event, "conversation_id", None) or event.agent_id
        by_partition[partition_for(key.encode(), PARTITIONS)].append(
            (to_record(event, seq), getattr(event, "conversation_id", None)))
    touched_agents: set[str] = set()
    for partition, items in by_partition.items():
        position = 0
        while position < len(items):
            size = rnd.randint(1, 40)
            batch = items[position:position + size]
            rounds = 2 if redeliver and rnd.random() < 0.2 else 1
            for _ in range(rounds):
                out = routers[partition].process(batch)
                for update in out.updates:
                    by_worker: dict[int, list[str]] = {}
                    for owner in update.owners:
                        by_worker.setdefault(worker_of(owner), []).append(owner)
                    for worker, owners in by_worker.items():
                        share = _over_the_wire(update._replace(owners=tuple(owners)))
                        for _ in range(2 if redeliver and rnd.random() < 0.1 else 1):
                            for sync in owner_syncs(share):
                                books[worker].apply_sync(sync)
                    touched_agents.update(o[2:] for o in update.owners if o.startswith("a:"))
                for owner, record in out.presence:
                    books[worker_of(owner)].add_presence(owner[2:], record)
                    touched_agents.add(owner[2:])
            for book in books:
                book.expire()  # a worker expires hourly; every batch is the harder test
                if scrapes and rnd.random() < 0.2:
                    book.report(as_of_ms - rnd.randrange(30 * 3_600_000), book.owners(),
                                config().at_risk_ratio, config().weighted_score)
            position += size
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
       st.booleans())
def test_topology_equals_replay(seed: int, workers: int, rnd: random.Random,
                                redeliver: bool, scrapes: bool) -> None:
    events = list(stream(seed))
    expected = report_of(events)
    rnd.shuffle(events)
    assert run_topology(events, workers, rnd, redeliver, _as_of(expected), scrapes) == expected


def test_in_order_single_worker_equals_replay() -> None:
    events = list(stream(1))
    expected = report_of(events)
    assert run_topology(events, 1, random.Random(0), False, _as_of(expected)) == expected


def test_engine_is_the_reference() -> None:
    engine = KpiEngine(config())
    assert engine.report(0)["windows"]["1h"]["overall"]["conversations_created"] == 0

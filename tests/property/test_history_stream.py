"""Hypothesis: the history the sink writes from the workers' records equals the history replay
writes from the same events (SPEC §8), whatever the arrival order, the workers' crashes (SIGKILL
at any send or write: records sent twice, in part, or again as a snapshot), rebalances, and how
the sink cuts the topic into transactions.

The workers are the topology of :mod:`test_topology` (the real stage code over in-memory stores
and topics); the sink is :class:`~service.history.sink.HistorySink` over an in-memory DuckDB.
Over less than the 25 h retention (so no event is ever dropped as late: each topology judges
that by its own watermarks, which the workers' partitions move on at their own pace), both
databases hold the same facts (by id, value and
conversation), the same attributes, the same team marks, and the same logged-in time per agent,
team and busy flag, and a period report over all of it is the same. With events of any
lateness, the report over the last day is.
"""

import random
from pathlib import Path
from typing import Any

import duckdb
from fixtures.history import history_tables
from hypothesis import given
from hypothesis import strategies as st
from streams import _as_of, config, report_of, stream
from test_arrival_order import hard_stream, shuffled_keeping_ties
from test_topology import PARTITIONS, _run, slow

from service.engine.engine import KpiEngine
from service.history.changes import decode_history
from service.history.database import HistoryWriter, held_span, open_history
from service.history.ledger import Ledger
from service.history.periods import Period
from service.history.report import period_report
from service.history.sink import Delivered, HistorySink
from service.replay import replay_lines

TOPIC = "support.history"


def sink_history(topology: Any, rnd: random.Random) -> duckdb.DuckDBPyConnection:
    """The topology's history topic through a sink, in transactions of random sizes taken from
    the partitions in turn (each partition in order), as a consumer would read them."""
    connection = open_history(Path(":memory:"))
    sink = HistorySink(connection, TOPIC, config().history.retention_ms)
    position = dict.fromkeys(range(PARTITIONS), 0)
    while True:
        waiting = [p for p in range(PARTITIONS) if position[p] < len(topology.history[p])]
        if not waiting:
            return connection
        batch: list[Delivered] = []
        for partition in rnd.sample(waiting, rnd.randint(1, len(waiting))):
            start = position[partition]
            for message in topology.history[partition][start:start + rnd.randint(1, 40)]:
                batch.append(Delivered(partition, message.offset, decode_history(message.value)))
                position[partition] = message.offset + 1
        sink.apply(batch, dict(position))
        assert sink.positions() == position


def replay_history(events: list[Any], as_of_ms: int) -> duckdb.DuckDBPyConnection:
    """Replay's history of every event, complete up to ``as_of_ms`` (the sink's: the latest
    watermark, which may lag the latest event)."""
    connection = open_history(Path(":memory:"))
    ledger, writer = Ledger(), HistoryWriter(connection)
    replay_lines(KpiEngine(config()), (e.model_dump_json().encode() for e in events), None,
                 ledger=ledger, writer=writer)
    writer.finish(ledger, as_of_ms, config().history.retention_ms)
    return connection


def last_hours(events: list[Any], hours: int) -> list[Any]:
    """The events of the last ``hours`` of ``events``."""
    last = max(e.at for e in events).timestamp()
    return [e for e in events if e.at.timestamp() > last - hours * 3600]


def day_report(connection: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    _, as_of_ms = held_span(connection)
    day = Period(as_of_ms - 86_400_000, as_of_ms)
    return period_report(connection, day, [day], None, [], config().weighted_score)


def check(events: list[Any], rnd: random.Random, workers: int, crash_rate: float,
          rebalances: int, idle_limit: int | None, whole: bool = True) -> None:
    """``whole``: the databases are the same; else, their reports over the last day."""
    expected_report = report_of(events)
    topology = _run(events, rnd, workers, crash_rate, rebalances, idle_limit,
                    _as_of(expected_report))
    sunk = sink_history(topology, rnd)
    _, as_of_ms = held_span(sunk)
    replayed = replay_history(events, as_of_ms)
    (facts,) = sunk.execute("SELECT count(*) FROM facts").fetchone() or (0,)
    (ids,) = sunk.execute("SELECT count(DISTINCT fact_id) FROM facts").fetchone() or (0,)
    assert facts == ids, "a fact held twice"
    assert day_report(sunk) == day_report(replayed)
    if not whole:
        return
    got, expected = history_tables(sunk), history_tables(replayed)
    assert expected["facts"] and expected["segments"]
    for name in expected:
        assert got[name] == expected[name], name
    first = min(start for _, _, _, start, _ in expected["segments"])
    whole = Period(first - first % 86_400_000, as_of_ms)
    assert period_report(sunk, whole, [whole], None, ["channel"], config().weighted_score) == \
        period_report(replayed, whole, [whole], None, ["channel"], config().weighted_score)


@slow
@given(st.integers(0, 3), st.integers(1, 3), st.integers(0, 2**32),
       st.sampled_from([0.0, 0.02, 0.05]), st.integers(0, 3), st.sampled_from([None, 0, 5]))
def test_sunk_history_equals_replayed_history(seed: int, workers: int, run: int,
                                              crash_rate: float, rebalances: int,
                                              idle_limit: int | None) -> None:
    rnd = random.Random(run)
    events = last_hours(list(stream(seed)), 20)
    events += rnd.sample(events, len(events) // 10)
    rnd.shuffle(events)
    check(events, rnd, workers, crash_rate, rebalances, idle_limit)


@slow
@given(st.integers(0, 3), st.integers(0, 2**32), st.sampled_from([0.0, 0.03]))
def test_sunk_history_equals_replayed_history_over_a_day_and_more(seed: int, run: int,
                                                                   crash_rate: float) -> None:
    """Team changes, packing, expiry and events more than a day late (the hard streams)."""
    rnd = random.Random(run)
    events = list(hard_stream(seed))
    check(shuffled_keeping_ties(events, rnd), rnd, 2, crash_rate, 1, 3, whole=False)


def test_crashes_send_snapshots_and_the_history_still_equals_replays() -> None:
    events = last_hours(list(stream(0)), 20)
    random.Random(3).shuffle(events)
    check(events, random.Random(3), 2, 0.05, 2, 0)
    topology = _run(events, random.Random(3), 2, 0.05, 2, 0, _as_of(report_of(events)))
    records = [decode_history(m.value) for queue in topology.history for m in queue]
    assert topology.crashes > 5
    assert any(getattr(r, "snapshot", False) for r in records), "no snapshot was sent"

"""Hypothesis: a history report over a live window's span equals the live report's ``24h``
values at that as-of (SPEC §8), whatever the arrival order, duplicates and the as-of: counts,
sums, means, ratios, presence times and the weighted score exactly, quantiles within the live
sketch's 1% (history's are exact)."""

import random
from itertools import pairwise
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streams import _ms, config, stream

from service.engine.engine import KpiEngine
from service.engine.kpis import WINDOW_KPIS
from service.engine.panes import MINUTE_MS, WINDOWS
from service.history.database import HistoryWriter, open_history
from service.history.ledger import Ledger
from service.history.periods import Period
from service.history.report import period_report
from service.replay import replay_lines

seeds = st.integers(0, 3)
slow = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
(DAY,) = [w for w in WINDOWS if w.name == "24h"]


def _differences(live: Any, history: Any, path: str = "") -> list[str]:
    if isinstance(live, dict) and isinstance(history, dict):
        return [d for key in sorted(set(live) | set(history))
                for d in _differences(live.get(key), history.get(key), f"{path}.{key}")]
    if path.endswith((".p50", ".p90")) and isinstance(live, float) and isinstance(history,
                                                                                    float):
        close = abs(live - history) <= 0.01 * max(abs(live), abs(history))
        return [] if close else [f"{path}: live {live}, history {history}"]
    return [] if live == history else [f"{path}: live {live!r}, history {history!r}"]


@slow
@given(seeds, st.randoms(use_true_random=False), st.floats(0.0, 0.3), st.integers(5, 100),
       st.sampled_from([1, 13, 10**9]))
def test_history_of_the_24h_span_equals_the_live_24h_values(
        seed: int, rnd: random.Random, share: float, percent: int, flush_every: int) -> None:
    """``flush_every``: the ledger is written to the database whenever that many facts are
    pending, so a fact may be written, replaced and removed again across transactions."""
    events = list(stream(seed))
    events += rnd.sample(events, int(len(events) * share))
    rnd.shuffle(events)
    first, last = min(_ms(e.at) for e in events), max(_ms(e.at) for e in events)
    moment = first + (last - first) * percent // 100
    as_of = moment - moment % MINUTE_MS + MINUTE_MS
    engine, ledger = KpiEngine(config()), Ledger()
    connection = open_history(Path(":memory:"))
    writer = HistoryWriter(connection)
    replay_lines(engine, (e.model_dump_json().encode() for e in events), as_of, ledger=ledger,
                 writer=writer, flush_every=flush_every)
    writer.finish(ledger, as_of, config().history.retention_ms)
    live = engine.report(as_of)["windows"]["24h"]
    span = Period(*DAY.span(as_of))
    history = period_report(connection, span, [span], None, [],
                            config().weighted_score)["periods"][0]["levels"]
    assert live["overall"]["conversations_created"] or live["agents"]
    assert _differences(live, history) == []


@slow
@given(seeds, st.randoms(use_true_random=False),
       st.lists(st.integers(1, 99), min_size=1, max_size=5))
def test_counts_over_cut_periods_add_up_to_the_whole(seed: int, rnd: random.Random,
                                                     percents: list[int]) -> None:
    """Every fact lies in exactly one period: the counts of periods that cut a span add up to
    the span's, at every level (KPI keys of kind ``count`` from the registry)."""
    events = list(stream(seed))
    rnd.shuffle(events)
    first, last = min(_ms(e.at) for e in events), max(_ms(e.at) for e in events)
    as_of = last - last % MINUTE_MS + MINUTE_MS
    engine, ledger = KpiEngine(config()), Ledger()
    connection = open_history(Path(":memory:"))
    writer = HistoryWriter(connection)
    replay_lines(engine, (e.model_dump_json().encode() for e in events), as_of, ledger=ledger,
                 writer=writer)
    writer.finish(ledger, as_of, config().history.retention_ms)
    cuts = sorted({first + (as_of - first) * p // 100 for p in percents})
    bounds = [first, *cuts, as_of]
    parts = [Period(a, b) for a, b in pairwise(bounds) if a < b]
    span = Period(first, as_of)
    weights = config().weighted_score
    whole = period_report(connection, span, [span], None, [], weights)["periods"][0]["levels"]
    pieces = [p["levels"] for p in period_report(connection, span, parts, None, [],
                                                 weights)["periods"]]
    counted = [spec.key for spec in WINDOW_KPIS if spec.kind == "count"]
    for level in ("teams", "agents"):
        for key, values in whole[level].items():
            for kpi in counted:
                if kpi in values:
                    assert values[kpi] == sum(p[level].get(key, {}).get(kpi, 0)
                                              for p in pieces), (level, key, kpi)
    for kpi in counted:
        assert whole["overall"][kpi] == sum(p["overall"][kpi] for p in pieces), kpi
    assert whole["overall"]["conversations_created"] > 0

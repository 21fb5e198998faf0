"""Hypothesis: the report does not depend on arrival order, duplicates or restarts.

Events of one conversation are given distinct times (SPEC §2: ties go by arrival order, so
only distinct times make arrival order irrelevant); everything else is drawn at random.
"""

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streams import _as_of, _ms, config, report_of, stream

from service.engine.engine import KpiEngine

seeds = st.integers(0, 3)
slow = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@slow
@given(seeds, st.randoms(use_true_random=False))
def test_shuffled_arrival_gives_the_same_report(seed: int, rnd: random.Random) -> None:
    events = list(stream(seed))
    expected = report_of(events)
    rnd.shuffle(events)
    assert report_of(events, _as_of(expected)) == expected


@slow
@given(seeds, st.randoms(use_true_random=False), st.floats(0.01, 0.5))
def test_duplicates_change_nothing(seed: int, rnd: random.Random, share: float) -> None:
    events = list(stream(seed))
    expected = report_of(events)
    noisy = list(events)
    for event in rnd.sample(events, max(1, int(len(events) * share))):
        noisy.insert(rnd.randrange(len(noisy) + 1), event)
    rnd.shuffle(noisy)
    assert report_of(noisy, _as_of(expected)) == expected


@slow
@given(seeds, st.integers(0, 200))
def test_report_at_past_as_of_equals_replay_of_the_prefix(seed: int, minutes: int) -> None:
    """Replay leaves out events at or after --as-of: the report then depends only on them."""
    events = list(stream(seed))
    first_ms = _ms(events[0].at)
    as_of = first_ms - first_ms % 60_000 + minutes * 60_000
    prefix = [e for e in events if _ms(e.at) < as_of]
    assert report_of(prefix, as_of) == report_of(reversed(prefix), as_of)


@slow
@given(seeds, st.randoms(use_true_random=False),
       st.lists(st.integers(-5, 110), min_size=1, max_size=8))
def test_reports_along_the_way_change_no_report(seed: int, rnd: random.Random,
                                                 percents: list[int]) -> None:
    """A report keeps running window sums and the values computed from them (issue 12): reports
    at as-ofs moving back and forth over the stream's time span (``percents`` of it) while
    events arrive and panes expire give what a book that never reported gives, then and at the
    end."""
    events = list(stream(seed))
    expected = report_of(events)
    end_ms = _as_of(expected)
    first_ms = min(_ms(e.at) for e in events)
    rnd.shuffle(events)
    engine = KpiEngine(config())
    cuts = sorted(rnd.choices(range(len(events) + 1), k=len(percents)))
    done = 0
    for cut, percent in zip(cuts, percents, strict=True):
        for event in events[done:cut]:
            engine.process(event)
        done = cut
        as_of = first_ms + (end_ms - first_ms) * percent // 100 + rnd.randrange(60_000)
        assert engine.report(as_of) == report_of(events[:cut], as_of)
    for event in events[done:]:
        engine.process(event)
    assert engine.report(end_ms) == expected

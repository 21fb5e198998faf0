"""The pane layout the KPI specs declare: slots allocated by the registry, fact → entries."""

import random

import pytest

from service.engine.aggregates import Totals
from service.engine.facts import (
    F_BUSY,
    F_FIRST_RESPONSE,
    F_RATING,
    F_RESOLVED,
    Busy,
    Rating,
    Resolved,
    Response,
)
from service.engine.feeds import SKETCH_BASE, Count, Distribution, PaneLayout
from service.engine.kpis import PANES, WINDOW_KPIS, window_values


def test_every_feed_has_its_own_place() -> None:
    slots = [feed.slot for feed in PANES.counters]
    indexes = [feed.index for feed in PANES.distributions]
    assert slots == list(range(len(slots)))
    assert indexes == list(range(len(indexes)))


def test_every_pane_kpi_declares_what_it_reads() -> None:
    """A windowed KPI computed from panes names its feeds; only the presence ones (logged-in
    and busy time come from timelines) and the score have none."""
    for spec in WINDOW_KPIS:
        if spec.compute is None or spec.key in ("logged_in_seconds", "busy_seconds",
                                                "occupancy_ratio"):
            assert not spec.feeds, spec.key
        else:
            assert spec.feeds, spec.key


def test_a_pane_kpi_reads_only_the_feeds_it_declares() -> None:
    """A report computes a value again only when one of its feeds changed: every other counter
    and sketch changed, each value stays what it was."""
    rng = random.Random(7)
    for spec in WINDOW_KPIS:
        if spec.compute is None or not spec.feeds:
            continue
        mine = {PANES.place(feed) for feed in spec.feeds}
        totals, other = Totals(), Totals()
        for place in range(len(PANES.counters)):
            totals.counters[place] = rng.randrange(1, 50)
            other.counters[place] = (totals.counters[place] if place in mine
                                     else rng.randrange(1, 50))
        for index in range(len(PANES.distributions)):
            place = len(PANES.counters) + index
            for _ in range(5):
                value = rng.randrange(1, 10**7)
                totals.sketches[index].add(value)
                other.sketches[index].add(value if place in mine else rng.randrange(1, 10**7))
        assert spec.compute(totals) == spec.compute(other), spec.key


def test_a_new_kpi_is_one_feed_and_one_formula() -> None:
    """A layout of a new counter: the registry gives it a slot and facts of its kind feed it."""
    long_first = Count("slow_first_responses", (F_FIRST_RESPONSE,),
                       lambda f: int(f.ms > 60_000))
    layout = PaneLayout([long_first])
    fast = Response("f1", F_FIRST_RESPONSE, 0, "t", "a", 30_000, 30_000, 1)
    slow = Response("f2", F_FIRST_RESPONSE, 0, "t", "a", 90_000, 90_000, 0)
    assert layout.entries(fast) == ()
    assert layout.entries(slow) == ((long_first.slot, 1),)


def test_two_feeds_of_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="two pane feeds are named 'x'"):
        PaneLayout([Count("x", (F_RATING,)), Count("x", (F_RATING,))])


def test_busy_time_feeds_no_pane() -> None:
    with pytest.raises(ValueError, match="not a pane fact"):
        PANES.entries(Busy("b", F_BUSY, 0, "t", "a", 0, 1))


def test_a_resolution_feeds_count_sla_fcr_and_three_distributions() -> None:
    """SPEC §3: a first resolution counts as resolved, is judged against the SLA, counts for
    FCR when it had a human response, and carries its resolution time and open wait."""
    fact = Resolved("r", F_RESOLVED, 0, "t", "a", 120_000, 60_000, 0, 90_000, 1, 45_000)
    totals = Totals(dict(PANES.entries(fact)))
    values = window_values(totals, "agents", {})
    assert values["conversations_resolved"] == 1
    assert values["sla"]["resolution"] == {"achieved": 0, "breached": 1, "achieved_ratio": 0.0}
    assert values["fcr_ratio"] == 1.0
    assert values["resolution_seconds"]["avg"] == 120
    assert values["resolution_business_seconds"]["avg"] == 60
    assert values["wait_seconds"]["avg"] == 90
    assert values["wait_business_seconds"]["avg"] == 45


@pytest.mark.parametrize(("about", "agent_responses"), [("agent", 1), ("unspecified", 1),
                                                         ("product", 0)])
def test_csat_about_the_agent_or_unspecified_only(about: str, agent_responses: int) -> None:
    """SPEC §3: ``csat`` counts ratings about the agent or unspecified, ``csat_all`` every
    one; a score of 4 or more is positive."""
    rating = Rating("c", F_RATING, 0, "t", "a", "csat", 4, about, None)
    values = window_values(Totals(dict(PANES.entries(rating))), "teams", {})
    assert values["csat"]["responses"] == agent_responses
    assert values["csat"]["positive"] == agent_responses
    assert values["csat_all"] == {"responses": 1, "positive": 1, "positive_ratio": 1.0,
                                  "avg": 4.0}


def test_distribution_values_land_above_the_counters() -> None:
    feed = Distribution("d", (F_FIRST_RESPONSE,), lambda f: f.ms)
    layout = PaneLayout([feed])
    [(key, _)] = layout.entries(Response("f", F_FIRST_RESPONSE, 0, None, None, 5, 5, 1))
    assert key >= SKETCH_BASE

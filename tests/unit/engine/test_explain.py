"""Explain a number (SPEC §6): the facts behind one windowed value, each with what it adds and
the clock behind it, so that count and sum give the value. Expected listings are worked out by
hand from the events (times in minutes after Monday 2024-03-04 10:00Z, see test_rules)."""

from __future__ import annotations

from typing import Any

import pytest
from test_rules import assigned, at, created, feed, ms, presence, rating, reply, status

from service.config import KpiConfig
from service.engine.explain import ExplainError, explain, merge_explains
from service.engine.owner_keys import fact_owners, owner_for

AS_OF = ms(101)
PAUSING = KpiConfig.model_validate(
    {"defaults": {"sla": {"first_response": {"pause_while": ["pending"]}}}})


def desk():  # type: ignore[no-untyped-def]
    """c1 waits pending 10:10–11:30 (paused for the 3600 s first-response SLA) and is answered
    by a1 at 11:40: 6000 s, 4800 paused, 1200 counted → achieved. c2 is snoozed instead (not a
    pause): 6000 s counted → breached. c3 is answered by a1 after 10 min and resolved at 10:40
    (1200 s). a9 is logged in 10:00–11:00, busy 10:30–10:45; a8 (team t2) 10:00–10:10."""
    return feed([
        created("c1", 0), assigned("c1", 0, "a1"), status("c1", 10, "pending"),
        status("c1", 90, "open"), reply("c1", 100, "a1"),
        created("c2", 0), assigned("c2", 0, "a2"), status("c2", 10, "snoozed"),
        status("c2", 90, "open"), reply("c2", 100, "a2"),
        created("c3", 20), assigned("c3", 21, "a1"), reply("c3", 30, "a1"),
        status("c3", 40, "resolved", agent_id="a1"),
        rating("c3", 50, "csat", 5, about="agent"), rating("c3", 55, "csat", 2, about="product"),
        rating("c3", 56, "nps", 9),
        presence(0, "a9", "available"), presence(30, "a9", "busy"),
        presence(45, "a9", "available"), presence(60, "a9", "offline"),
        presence(0, "a8", "available", team="t2"), presence(10, "a8", "offline", team="t2"),
    ], PAUSING)


def t(minutes: float) -> str:
    """The report's form of a time: milliseconds shown."""
    return at(minutes).replace("Z", ".000Z")


def adds(listing: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(f["conversation_id"], f["fact"], f["adds"]) for f in listing["facts"]]


def test_a_distribution_lists_each_clock_and_its_count_and_sum_give_the_value() -> None:
    listing = desk().explain("first_response_seconds", "overall", None, "24h", AS_OF)
    assert adds(listing) == [("c3", "first_response", {"first_response_seconds": 600.0}),
                             ("c1", "first_response", {"first_response_seconds": 6000.0}),
                             ("c2", "first_response", {"first_response_seconds": 6000.0})]
    c1 = listing["facts"][1]
    assert {k: c1[k] for k in ("start", "stop", "seconds", "business_seconds",
                               "paused_seconds", "sla_achieved", "agent", "team", "pane")} == {
        "start": t(0), "stop": t(100), "seconds": 6000.0, "business_seconds": 6000.0,
        "paused_seconds": 4800.0, "sla_achieved": True, "agent": "a1", "team": "t1",
        "pane": t(90)}
    assert listing["facts"][2]["paused_seconds"] == 0.0
    assert listing["facts"][2]["sla_achieved"] is False
    assert listing["totals"] == {"first_response_seconds": {"count": 3, "sum": 12600.0}}
    assert listing["value"]["count"] == 3 and listing["value"]["avg"] == 4200.0
    report = desk().report(AS_OF)["windows"]["24h"]["overall"]["first_response_seconds"]
    assert listing["value"] == report


def test_the_one_hour_window_lists_only_its_panes() -> None:
    """At 11:41 the 1h window starts at 10:42: c3's response at 10:30 is out."""
    listing = desk().explain("first_response_seconds", "agent", "a1", "1h", AS_OF)
    assert listing["from"] == t(42) and listing["as_of"] == t(101)
    assert adds(listing) == [("c1", "first_response", {"first_response_seconds": 6000.0})]


def test_sla_results_list_the_counters_each_fact_adds_to() -> None:
    listing = desk().explain("sla", "agent", "a1", "24h", AS_OF)
    assert adds(listing) == [
        ("c3", "first_response", {"sla_first_response_achieved": 1}),
        ("c3", "resolved", {"sla_resolution_achieved": 1}),
        ("c1", "first_response", {"sla_first_response_achieved": 1})]
    assert listing["totals"]["sla_first_response_achieved"] == {"count": 2, "sum": 2}
    assert listing["totals"]["sla_first_response_breached"] == {"count": 0, "sum": 0}
    assert listing["value"]["first_response"] == {"achieved": 2, "breached": 0,
                                                  "achieved_ratio": 1.0}
    assert listing["value"]["resolution"]["achieved"] == 1


def test_ratings_about_the_product_count_for_csat_all_only() -> None:
    engine = desk()
    csat = engine.explain("csat", "team", "t1", "24h", AS_OF)
    assert [(f["survey"], f["score"], f["about"]) for f in csat["facts"]] == [
        ("csat", 5, "agent")]
    assert csat["value"] == {"responses": 1, "positive": 1, "positive_ratio": 1.0, "avg": 5.0}
    every = engine.explain("csat_all", "team", "t1", "24h", AS_OF)
    assert every["value"] == {"responses": 2, "positive": 1, "positive_ratio": 0.5, "avg": 3.5}
    assert engine.explain("nps", "overall", None, "24h", AS_OF)["value"] == {
        "responses": 1, "promoters": 1, "detractors": 0, "score": 100.0}
    with pytest.raises(ExplainError, match="level"):
        engine.explain("csat_all", "agent", "a1", "24h", AS_OF)


def test_presence_kpis_list_the_logged_in_stretches_clipped_to_the_window() -> None:
    """1h window 10:42–11:41: a9 logged in 10:42–11:00 (1080 s), busy 10:42–10:45 (180 s)."""
    listing = desk().explain("occupancy_ratio", "agent", "a9", "1h", AS_OF)
    assert [(p["start"], p["stop"], p["busy"], p["logged_in_seconds"], p["busy_seconds"])
            for p in listing["presence"]] == [(t(42), t(45), True, 180.0, 180.0),
                                              (t(45), t(60), False, 900.0, 0.0)]
    assert listing["totals"] == {"logged_in_seconds": 1080.0, "busy_seconds": 180.0}
    assert listing["value"] == pytest.approx(180 / 1080)
    team = desk().explain("logged_in_seconds", "team", "t1", "24h", AS_OF)
    assert {p["agent"] for p in team["presence"]} == {"a9"}
    assert team["value"] == 3600.0


@pytest.mark.parametrize(("kpi", "level", "key", "window", "field"), [
    ("first_response", "agent", "a1", "1h", "kpi"),
    ("weighted_score", "agent", "a1", "1h", "kpi"),
    ("first_response_seconds", "agents", "a1", "1h", "level"),
    ("first_response_seconds", "agent", None, "1h", "key"),
    ("first_response_seconds", "agent", "a1", "2h", "window"),
    ("handed_off", "agent", "a1", "1h", "level"),
])
def test_a_wrong_request_names_its_field(kpi: str, level: str, key: str | None, window: str,
                                         field: str) -> None:
    with pytest.raises(ExplainError) as raised:
        desk().explain(kpi, level, key, window, AS_OF)
    assert raised.value.field == field and str(raised.value).startswith(f"{field}: ")


@pytest.mark.parametrize(("kpi", "level", "key", "window"), [
    ("first_response_seconds", "agent", "a1", "24h"), ("csat_all", "team", "t1", "24h"),
    ("busy_seconds", "overall", None, "1h"), ("sla", "team", "t1", "24h"),
])
def test_the_workers_parts_merge_into_the_whole(kpi: str, level: str, key: str | None,
                                                window: str) -> None:
    """Each worker lists the facts of its own conversations and, where it holds the owner, the
    presence stretches; merged (one listing twice, as during a rebalance), the parts give the
    listing, totals and value of the whole."""
    engine = desk()
    whole = engine.explain(kpi, level, key, window, AS_OF)
    owner = owner_for(level, key)
    facts = {cid: tuple(f for f in c.facts(engine.conversations.policy).values()
                        if owner in fact_owners(f))
             for cid, c in engine.conversations.conversations.items()}
    segments = list(engine.book.owner_segments(owner))
    first = explain(kpi, level, key, window, AS_OF, [(c, facts[c]) for c in ("c1", "c3")],
                    segments)
    second = explain(kpi, level, key, window, AS_OF, [(c, facts[c]) for c in ("c2", "c3")],
                     ())
    merged = merge_explains([first, second])
    assert merged == whole
    assert (merged["facts"] or merged["presence"]) and merged["value"] is not None


def test_the_command_prints_the_value_the_totals_and_one_line_per_fact() -> None:
    from service.cli import _explain_text

    listing = desk().explain("first_response_seconds", "agent", "a1", "24h", AS_OF)
    lines = _explain_text(listing).splitlines()
    assert lines[0].startswith("first_response_seconds of agent a1, window 24h [")
    assert lines[1] == "  first_response_seconds: count 2, sum 6600"
    assert lines[2].split() == ["at", "conversation", "fact", "agent", "team", "adds", "clock"]
    assert [line.split()[1] for line in lines[3:]] == ["c3", "c1"]
    assert lines[4].endswith("6000 s (6000 business, 4800 paused, SLA achieved)")

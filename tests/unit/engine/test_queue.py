"""The conversations behind the live counts (SPEC §6): which conversations, most urgent first,
with deadline and seconds left. Expected values are worked out by hand from SPEC §3–§5 (the
arithmetic is in the comments); the last tests check that every listing has as many
conversations as the live count of the same state."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from test_rules import assigned, at, created, customer, feed, reply, status

from service.config import KpiConfig
from service.engine.engine import KpiEngine
from service.engine.queue import QUEUE_STATES, merge_queues
from service.replay import replay_lines
from service.synthetic import TrafficShape, generate_events
from service.timefmt import parse_as_of

AS_OF = at(50)  # Monday 10:50Z
LIVE_KEY = {"breaching": "sla_breaching", "at_risk": "sla_at_risk"}


def desk() -> KpiEngine:
    """Default targets (first response 3600 s, next response 14400 s, wall clock), at-risk 0.8."""
    return feed([
        created("c1", at(-120)),                      # 08:00, never answered
        created("c2", at(0), channel="email"), assigned("c2", at(1), "a1"),
        created("c3", at(40), team="t2"),
        created("c4", at(-10)), assigned("c4", at(-9), "a1"), reply("c4", at(-5), "a1"),
        status("c4", at(-4), "pending"),
        created("c5", at(-30)), assigned("c5", at(-25), "a2"), reply("c5", at(-20), "a2"),
        customer("c5", at(10)),
        created("c6", at(-60)), reply("c6", at(-55), "a1"), status("c6", at(-50), "resolved"),
    ])


def ids(listing: dict[str, Any]) -> list[str]:
    return [entry["conversation_id"] for entry in listing["conversations"]]


def test_breaching_lists_the_conversation_with_its_deadline_and_overdue_seconds() -> None:
    listing = desk().queue("breaching", parse_as_of(AS_OF))
    # c1: created 08:00, first-response target 1 h → deadline 09:00; at 10:50 it is
    # 170 min = 10,200 s into a 3,600 s target: 6,600 s overdue.
    assert listing["total"] == 1
    assert listing["conversations"] == [{
        "conversation_id": "c1", "team": "t1", "agent": None, "priority": "normal",
        "channel": "chat", "status": "open", "created_at": "2024-03-04T08:00:00.000Z",
        "clock": "first_response", "clock_started_at": "2024-03-04T08:00:00.000Z",
        "deadline": "2024-03-04T09:00:00.000Z", "seconds_left": -6600.0}]


def test_at_risk_is_past_the_at_risk_share_and_not_breaching() -> None:
    (entry,) = desk().queue("at_risk", parse_as_of(AS_OF))["conversations"]
    # c2: 50 min of 60 → 3,000 s > 0.8 × 3,600 = 2,880 s; 600 s left, deadline 11:00.
    assert (entry["conversation_id"], entry["seconds_left"], entry["deadline"],
            entry["agent"], entry["channel"]) == ("c2", 600.0, "2024-03-04T11:00:00.000Z",
                                                  "a1", "email")


def test_most_urgent_first_and_clockless_conversations_last() -> None:
    engine = desk()
    as_of = parse_as_of(AS_OF)
    # open (status open): c1 −6,600 s, c2 600 s, c3 (10:40) 3,000 s, c5's next response
    # (customer at 10:10, 4 h target) 14,400 − 2,400 = 12,000 s.
    listing = engine.queue("open", as_of)
    assert ids(listing) == ["c1", "c2", "c3", "c5"]
    assert [e["seconds_left"] for e in listing["conversations"]] == [-6600, 600, 3000, 12000]
    assert listing["conversations"][3]["clock"] == "next_response"
    assert listing["conversations"][3]["deadline"] == "2024-03-04T14:10:00.000Z"
    assert ids(engine.queue("awaiting_first_response", as_of)) == ["c1", "c2", "c3"]
    assert ids(engine.queue("unassigned", as_of)) == ["c1", "c3"]
    (waiting,) = engine.queue("waiting_on_customer", as_of)["conversations"]
    assert (waiting["conversation_id"], waiting["status"], waiting["clock"],
            waiting["deadline"], waiting["seconds_left"]) == ("c4", "pending", None, None, None)


def test_filters_and_limit() -> None:
    engine = desk()
    as_of = parse_as_of(AS_OF)
    assert ids(engine.queue("awaiting_first_response", as_of, team="t2")) == ["c3"]
    assert ids(engine.queue("open", as_of, agent="a1")) == ["c2"]
    limited = engine.queue("open", as_of, limit=2)
    assert ids(limited) == ["c1", "c2"] and limited["total"] == 4


def test_business_hours_deadline_skips_the_weekend() -> None:
    config = KpiConfig.model_validate(
        {"teams": {"biz": {"sla": {"first_response": {"business_hours": True}}}}})
    engine = feed([created("c7", "2024-03-08T16:30:00Z", team="biz")], config)  # Friday
    (entry,) = engine.queue("awaiting_first_response",
                            parse_as_of("2024-03-09T12:00:00Z"))["conversations"]
    # Mon–Fri 09:00–17:00: Friday 16:30–17:00 counts 30 min of the hour; the other 30 min are
    # Monday 09:00–09:30.
    assert entry["seconds_left"] == 1800.0
    assert entry["deadline"] == "2024-03-11T09:30:00.000Z"


def test_a_paused_clock_has_no_deadline_and_a_resumed_one_moves_its_deadline() -> None:
    config = KpiConfig.model_validate(
        {"defaults": {"sla": {"first_response": {"pause_while": ["pending"]}}}})
    engine = feed([
        created("c8", at(0)), status("c8", at(20), "pending"),
        created("c9", at(0)), status("c9", at(10), "pending"), status("c9", at(30), "open"),
    ], config)
    as_of = parse_as_of(AS_OF)
    (paused,) = engine.queue("waiting_on_customer", as_of)["conversations"]
    # c8 counted 10:00–10:20 and is pending since: 40 min left, no deadline while paused.
    assert (paused["conversation_id"], paused["seconds_left"], paused["deadline"]) == (
        "c8", 2400.0, None)
    (resumed,) = engine.queue("open", as_of)["conversations"]
    # c9 counted 10:00–10:10 and 10:30–10:50 = 30 min: 30 min left from 10:50 → 11:20.
    assert (resumed["conversation_id"], resumed["seconds_left"], resumed["deadline"]) == (
        "c9", 1800.0, "2024-03-04T11:20:00.000Z")


def test_an_unknown_state_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="breaching, at_risk"):
        desk().queue("late", parse_as_of(AS_OF))


def test_merging_workers_keeps_each_conversation_once_most_urgent_first() -> None:
    def entry(cid: str, left: float | None, created_at: str) -> dict[str, Any]:
        return {"conversation_id": cid, "seconds_left": left, "created_at": created_at}

    first = {"as_of": AS_OF, "state": "open", "total": 3, "conversations": [
        entry("a", -5, "2024-03-04T09:00:00.000Z"), entry("b", None, "2024-03-04T08:00:00.000Z"),
        entry("moving", 10, "2024-03-04T09:30:00.000Z")]}
    second = {"as_of": AS_OF, "state": "open", "total": 2, "conversations": [
        entry("moving", 10, "2024-03-04T09:30:00.000Z"),
        entry("c", -50, "2024-03-04T10:00:00.000Z")]}
    merged = merge_queues([first, second], limit=3)
    assert [e["conversation_id"] for e in merged["conversations"]] == ["c", "a", "moving"]
    assert merged["total"] == 4


@pytest.mark.parametrize("seed", [3, 8])
def test_every_listing_counts_what_the_live_state_counts(seed: int) -> None:
    """On a simulated morning cut off mid-traffic, each state's listing (overall and per team)
    has exactly the live count of the report at the same as-of."""
    as_of = parse_as_of("2024-03-04T12:00:00Z")
    engine = KpiEngine(KpiConfig())
    events = [e for e in generate_events(TrafficShape(conversations=400, agents=12,
                                                      conversations_per_minute=4), seed=seed)
              if e["at"] < "2024-03-04T11:30"]
    replay_lines(engine, (orjson.dumps(e) for e in events), as_of)
    live = engine.report(as_of)["live"]
    assert live["overall"]["open"] > 0
    for state in QUEUE_STATES:
        key = LIVE_KEY.get(state, state)
        listing = engine.queue(state, as_of)
        assert listing["total"] == live["overall"][key], state
        for team, values in live["teams"].items():
            assert engine.queue(state, as_of, team=team)["total"] == values[key], (state, team)
        for entry in engine.queue(state, as_of, limit=None)["conversations"]:
            if state == "breaching":
                assert entry["seconds_left"] < 0
            if entry["deadline"] is not None and entry["seconds_left"] is not None:
                assert (entry["seconds_left"] <= 0) == (entry["deadline"] <= listing["as_of"])

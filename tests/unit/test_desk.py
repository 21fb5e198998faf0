"""The live simulator's desk (issue 25: the demo showed a desk in crisis, always: 8,200
conversations an hour for 40 agents, offline agents holding 145 open conversations).

Expected values come from the desk's stated rules, not from running it: an agent is assigned
only while available and below the concurrency limit and answers only while logged in;
arrivals per hour are ``per_agent_hour`` times the agents on the staffing plan (Poisson, so
within a few standard deviations); a staffed desk resolves what it receives and meets the
configured first-response targets (deploy/simulated.yaml: 15 minutes for vip and for urgent
conversations, an hour otherwise); the incident's team is offline for its whole duration and
its clocks then pass the target, which the engine itself reports as breaching.
"""

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from service.config import load_config
from service.desk import (
    CONVERSATIONS_PER_AGENT_HOUR,
    SHIFTS,
    WIND_DOWN_MS,
    DeskShape,
    Incident,
    IncidentPlan,
    desk_events,
    per_agent_hour_for,
    scheduled_agents,
)
from service.engine.engine import KpiEngine
from service.ingest import decode_message
from service.synthetic import SIMULATED_CONFIG

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
START = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp() * 1000)  # a Monday, 00:00 UTC
LOGGED_IN = {"available", "busy", "after_work"}
CONFIG = load_config(SIMULATED_CONFIG)


def _ms(event: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(event["at"]).timestamp() * 1000)


def _human_response(event: dict[str, Any]) -> bool:
    return (event["type"] == "message.created" and event.get("author") == "agent"
            and not event.get("automated") and not event.get("internal"))


@pytest.fixture(scope="module")
def three_days() -> list[dict[str, Any]]:
    """Three simulated days of the default desk (40 agents), no incident."""
    return list(desk_events(DeskShape(start_ms=START), seed=1, until_ms=START + 3 * DAY))


def test_events_are_valid_in_at_order_with_unique_ids(three_days: list[dict[str, Any]]) -> None:
    times = [_ms(e) for e in three_days]
    assert times == sorted(times)
    assert len({e["id"] for e in three_days}) == len(three_days)
    decoded = decode_message(orjson.dumps(three_days[:5000]))
    assert decoded.rejections == []
    assert {"conversation.created", "conversation.assigned", "message.created",
            "conversation.status_changed", "agent.status_changed", "rating.submitted",
            "conversation.abandoned", "conversation.handed_off",
            "review.submitted"} <= {e["type"] for e in three_days}


def test_agents_take_work_only_while_available_and_below_capacity(
        three_days: list[dict[str, Any]]) -> None:
    """Replaying the stream: at every assignment the agent's presence is ``available`` and it
    holds fewer than ``capacity`` unresolved conversations; every human response comes from
    the conversation's assignee while logged in."""
    capacity = DeskShape(start_ms=START).capacity
    status: dict[str, str] = {}
    holder: dict[str, str] = {}
    held: dict[str, set[str]] = {}
    violations: list[tuple[str, str, str]] = []
    most = 0
    for event in three_days:
        kind, cid = event["type"], event.get("conversation_id")
        if kind == "agent.status_changed":
            status[event["agent_id"]] = event["status"]
        elif kind == "conversation.assigned":
            agent = event["agent_id"]
            if status.get(agent) != "available":
                violations.append((event["at"], agent, f"assigned while {status.get(agent)}"))
            if cid in holder:
                held[holder[cid]].discard(cid)
            if len(held.setdefault(agent, set())) >= capacity:
                violations.append((event["at"], agent, "assigned beyond capacity"))
            held[agent].add(cid)
            most = max(most, len(held[agent]))
            holder[cid] = agent
        elif kind == "conversation.unassigned" or kind == "conversation.abandoned" or (
                kind == "conversation.status_changed" and event["status"] == "resolved"):
            if cid in holder:
                held[holder.pop(cid)].discard(cid)
        elif _human_response(event):
            if holder.get(cid) != event["agent_id"]:
                violations.append((event["at"], event["agent_id"], "answers unassigned"))
            if status.get(event["agent_id"]) not in LOGGED_IN:
                violations.append((event["at"], event["agent_id"], "answers logged out"))
    assert violations == []
    assert most == capacity, "busy hours should fill some agent's slots"


def test_staffing_plan_covers_every_team_at_every_hour() -> None:
    plan = scheduled_agents(DeskShape(start_ms=START))
    assert len(plan) == 40
    for team in ("billing", "tech", "sales", "vip"):
        shifts = Counter(shift.name for _, t, shift in plan if t == team)
        assert shifts == {"night": 2, "early": 3, "day": 3, "late": 2}, team
    # Consecutive shifts overlap (by half an hour, minus the ±15 minutes of a start).
    for shift in SHIFTS:
        follower = min(SHIFTS, key=lambda s: (s.start_hour - shift.start_hour - 1) % 24)
        gap = (follower.start_hour - shift.start_hour) % 24
        assert shift.hours - gap >= 0.5, (shift, follower)


def test_arrivals_follow_the_staffing_curve(three_days: list[dict[str, Any]]) -> None:
    """Created per team and hour over three days ≈ per_agent_hour × the agents taking work
    then (on shift, not winding down), each hour within five standard deviations of Poisson,
    and the day's total within 5%."""
    taking_work: Counter[tuple[str, int]] = Counter()
    created: Counter[tuple[str, int]] = Counter()
    shift_of = {agent: (team, shift) for agent, team, shift in
                scheduled_agents(DeskShape(start_ms=START))}
    on_since: dict[str, int] = {}
    for event in three_days:
        at = _ms(event)
        if event["type"] == "conversation.created":
            created[event["team"], (at - START) // HOUR] += 1
        elif event["type"] == "agent.status_changed":
            agent = event["agent_id"]
            if event["status"] == "offline" and agent in on_since:
                _count_minutes(taking_work, shift_of[agent][0], on_since.pop(agent),
                               at - WIND_DOWN_MS)
            elif event["status"] != "offline" and agent not in on_since:
                on_since[agent] = at
    hours = range(1, 3 * 24 - 10)  # shifts under way at the start begin then, not at their start
    for team in ("billing", "tech", "sales", "vip"):
        for hour in hours:
            expected = CONVERSATIONS_PER_AGENT_HOUR * taking_work[team, hour] / 60
            assert abs(created[team, hour] - expected) <= 5 * expected ** 0.5 + 1, (team, hour)
    total = sum(created[t, h] for t in ("billing", "tech", "sales", "vip") for h in hours)
    expected_total = sum(CONVERSATIONS_PER_AGENT_HOUR * taking_work[t, h] / 60
                         for t in ("billing", "tech", "sales", "vip") for h in hours)
    assert total == pytest.approx(expected_total, rel=0.05)
    day = [sum(created[t, h] for t in ("billing", "tech", "sales", "vip")) for h in range(24, 48)]
    assert max(day) > 2 * min(day), "a daily curve, not a flat rate"


def _count_minutes(into: Counter[tuple[str, int]], team: str, begin: int, end: int) -> None:
    """Agent-minutes from ``begin`` to ``end`` (ms), per hour since START."""
    for minute in range((begin - START) // MINUTE, (end - START) // MINUTE):
        into[team, minute // 60] += 1


def test_the_staff_keeps_up(three_days: list[dict[str, Any]]) -> None:
    """Steady state: resolved (with abandoned and bot resolutions) ≈ created each day, and
    every first response meets the configured target (the desk answers within minutes)."""
    created_at: dict[str, tuple[int, str, str]] = {}
    first: dict[str, int] = {}
    ended: set[str] = set()
    per_day: Counter[tuple[str, int]] = Counter()
    for event in three_days:
        cid, at = event.get("conversation_id", ""), _ms(event)
        if event["type"] == "conversation.created":
            created_at[cid] = (at, event["team"], event["priority"])
            per_day["created", (at - START) // DAY] += 1
        elif cid not in ended and (event["type"] == "conversation.abandoned" or (
                event["type"] == "conversation.status_changed"
                and event["status"] == "resolved")):
            ended.add(cid)
            per_day["ended", (at - START) // DAY] += 1
        if _human_response(event) and cid not in first:
            first[cid] = at
    for day in (1, 2):
        assert per_day["ended", day] == pytest.approx(per_day["created", day], rel=0.1), day
    late = []
    for cid, answered in first.items():
        at, team, priority = created_at[cid]
        target = CONFIG.team(team).sla_target("first_response", priority)[0]
        if answered - at > target:
            late.append((cid, team, priority, (answered - at) / 1000))
    assert late == []
    waits = sorted(first[c] - created_at[c][0] for c in first)
    assert waits[len(waits) * 9 // 10] <= 10 * MINUTE


def _breaching_per_minute(shape: DeskShape, begin: int, end: int) -> dict[int, dict[str, int]]:
    """The engine's live ``breaching`` listing per team, each minute from ``begin`` to
    ``end`` (ms), fed the desk's events in order (the engine, not the desk, judges)."""
    engine = KpiEngine(CONFIG)
    out: dict[int, dict[str, int]] = {}
    check = begin
    for event in desk_events(shape, seed=4, until_ms=end):
        while _ms(event) >= check:
            teams = Counter(c["team"] for c in
                            engine.queue("breaching", check)["conversations"])
            out[(check - begin) // MINUTE] = dict(teams)
            check += MINUTE
        for valid in decode_message(orjson.dumps(event)).events:
            engine.process(valid)
    return out


@pytest.mark.parametrize("hour", [3, 14])  # vip's night shift (two agents), its busiest hours
def test_the_incident_team_goes_offline_and_its_clocks_breach_then_recover(hour: int) -> None:
    incident = Incident("vip", START + DAY + hour * HOUR, 20 * MINUTE)
    shape = DeskShape(start_ms=START + DAY + (hour - 3) * HOUR, incident=incident)
    status: dict[str, str] = {}
    for event in desk_events(shape, seed=4, until_ms=incident.end_ms + 30 * MINUTE):
        at = _ms(event)
        if event["type"] == "agent.status_changed":
            status[event["agent_id"]] = event["status"]
        if incident.start_ms <= at < incident.end_ms and event.get("team") == "vip":
            assert event["type"] != "conversation.assigned", event
            assert event["type"] != "agent.status_changed" or event["status"] == "offline"
    breaching = _breaching_per_minute(shape, incident.start_ms - 30 * MINUTE,
                                      incident.end_ms + 30 * MINUTE)
    before = [minute for minute, teams in breaching.items() if teams and minute < 30]
    assert before == [], "calm before the incident"
    during = {minute - 30: teams.get("vip", 0) for minute, teams in breaching.items()
              if 30 <= minute < 50}
    # The burst's clocks start in the incident's first two minutes; the target is 15 minutes.
    assert all(during[m] == 0 for m in range(0, 15)), during
    assert all(during[m] > 0 for m in range(17, 20)), during
    assert {team for teams in breaching.values() for team in teams} == {"vip"}
    after = [minute - 50 for minute, teams in breaching.items() if minute >= 50 and teams]
    assert after == [] or max(after) < 10, "vip works its queue off within 10 minutes"


def test_incident_plan_is_relative_to_the_start_of_live_traffic() -> None:
    plan = IncidentPlan("tech", starts_after_s=-14 * 60, duration_s=20 * 60)
    assert plan.at(START) == Incident("tech", START - 14 * MINUTE, 20 * MINUTE)
    assert plan.at(START).end_ms == START + 6 * MINUTE


@pytest.mark.parametrize("rate", [0.1, 0.2])
def test_an_explicit_rate_sets_the_events_per_second(rate: float) -> None:
    """``--rate``: the day's events per second, while the staff keeps up (40 agents serve
    about 0.14/s at the sized rate, more with queues)."""
    shape = DeskShape(start_ms=START, per_agent_hour=per_agent_hour_for(rate, 40))
    events = list(desk_events(shape, seed=2, until_ms=START + DAY))
    assert len(events) / 86_400 == pytest.approx(rate, rel=0.15)

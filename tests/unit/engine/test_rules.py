"""One focused test per KPI rule of SPEC §3 and §4, through the public engine API.

Every test builds events as dicts, validates them with ``schemas.event_adapter``, feeds them to
``KpiEngine(config).process`` in a given arrival order and asserts on ``engine.report(as_of)``.
Expected numbers are worked out by hand from the SPEC (the arithmetic is in the comments).

Time base: Monday 2024-03-04 10:00:00Z (inside the default Mon–Fri 09:00–17:00 UTC business
hours); ``at(m, s)`` is that instant plus ``m`` minutes and ``s`` seconds.

Unless a test says otherwise, only events before the report's as-of are fed: that is how offline
replay calls the engine (``replay --as-of T`` leaves out events at or after T), and the live
state is "the state at t".
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import event_adapter
from service.config import KpiConfig
from service.engine.engine import KpiEngine

BASE = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)  # a Monday
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

When = float | str


# -- time helpers -------------------------------------------------------------------------------


def at(minutes: float = 0, seconds: float = 0) -> str:
    """ISO time ``minutes`` (+ ``seconds``) after BASE."""
    moment = BASE + timedelta(minutes=minutes, seconds=seconds)
    return moment.isoformat().replace("+00:00", "Z")


def _iso(when: When) -> str:
    return when if isinstance(when, str) else at(when)


def ms(when: When) -> int:
    """Epoch milliseconds of a time given as minutes after BASE or as an ISO string."""
    moment = datetime.fromisoformat(_iso(when).replace("Z", "+00:00"))
    return (moment - EPOCH) // timedelta(milliseconds=1)


# -- event builders -----------------------------------------------------------------------------

_ids = itertools.count(1)


def _event(kind: str, when: When, **fields: Any) -> dict[str, Any]:
    event = {"id": f"ev-{next(_ids)}", "type": kind, "at": _iso(when)}
    event.update({k: v for k, v in fields.items() if v is not None})
    return event


def created(cid: str, when: When, team: str | None = "t1", **kw: Any) -> dict[str, Any]:
    return _event("conversation.created", when, conversation_id=cid, team=team,
                  channel=kw.pop("channel", "chat"), **kw)


def assigned(cid: str, when: When, agent: str, **kw: Any) -> dict[str, Any]:
    return _event("conversation.assigned", when, conversation_id=cid, agent_id=agent, **kw)


def unassigned(cid: str, when: When) -> dict[str, Any]:
    return _event("conversation.unassigned", when, conversation_id=cid)


def reply(cid: str, when: When, agent: str, **kw: Any) -> dict[str, Any]:
    """A human response (author agent, not automated, not internal) unless kw says otherwise."""
    return _event("message.created", when, conversation_id=cid, author="agent", agent_id=agent,
                  **kw)


def customer(cid: str, when: When) -> dict[str, Any]:
    return _event("message.created", when, conversation_id=cid, author="customer")


def bot(cid: str, when: When) -> dict[str, Any]:
    return _event("message.created", when, conversation_id=cid, author="bot")


def status(cid: str, when: When, new: str, by: str = "agent", **kw: Any) -> dict[str, Any]:
    return _event("conversation.status_changed", when, conversation_id=cid, status=new, by=by,
                  **kw)


def abandoned(cid: str, when: When) -> dict[str, Any]:
    return _event("conversation.abandoned", when, conversation_id=cid)


def rating(cid: str, when: When, survey: str, score: int, about: str | None = None
           ) -> dict[str, Any]:
    return _event("rating.submitted", when, conversation_id=cid, survey=survey, score=score,
                  about=about)


def review(when: When, agent: str, score: float, cid: str | None = None,
           team: str | None = None) -> dict[str, Any]:
    return _event("review.submitted", when, agent_id=agent, reviewer_id="lead", score=score,
                  conversation_id=cid, team=team)


def presence(when: When, agent: str, state: str, team: str | None = "t1") -> dict[str, Any]:
    return _event("agent.status_changed", when, agent_id=agent, status=state, team=team)


# -- engine helpers -----------------------------------------------------------------------------


def feed(events: list[dict[str, Any]], config: KpiConfig | None = None,
         engine: KpiEngine | None = None) -> KpiEngine:
    """Validate each event and process it, in list (arrival) order."""
    if engine is None:
        engine = KpiEngine(config if config is not None else KpiConfig())
    for raw in events:
        engine.process(event_adapter.validate_python(raw))
    return engine


def kpis(report: dict[str, Any], level: str = "overall", name: str | None = None,
         window: str = "24h") -> dict[str, Any]:
    levels = report["live"] if window == "live" else report["windows"][window]
    return levels["overall"] if level == "overall" else levels[level][name]


def dist(values: dict[str, Any], key: str) -> tuple[int, float | None]:
    """(count, avg) of a distribution KPI: both exact by the SPEC."""
    return values[key]["count"], values[key]["avg"]


def approx(value: float) -> Any:
    """Quantiles may be approximate within 1% relative error (SPEC §3)."""
    return pytest.approx(value, rel=0.01)


def exact(value: float) -> Any:
    """A float computed by division: equal up to rounding."""
    return pytest.approx(value, rel=1e-9, abs=1e-12)


# == first response =============================================================================


def test_first_response_counts_only_human_replies() -> None:
    """created → first human response. The auto-reply (author agent, automated), the bot
    message and the internal note before it are not responses: the clock runs to 10:10."""
    events = [
        created("c1", 0),
        assigned("c1", 1, "a1"),
        reply("c1", 2, "a1", automated=True),
        bot("c1", 3),
        reply("c1", 4, "a1", internal=True),
    ]
    engine = feed(events)
    before = engine.report(ms(5))
    assert before["windows"]["24h"]["overall"]["first_response_seconds"]["count"] == 0
    assert before["live"]["overall"]["awaiting_first_response"] == 1

    feed([reply("c1", 10, "a1")], engine=engine)
    report = engine.report(ms(11))
    for level, name in (("overall", None), ("teams", "t1"), ("agents", "a1")):
        values = kpis(report, level, name)
        assert dist(values, "first_response_seconds") == (1, 600.0)
        assert values["first_response_seconds"]["p50"] == approx(600)
        assert values["first_response_seconds"]["p90"] == approx(600)
        # 10:00–10:10 Monday is inside 09:00–17:00 UTC
        assert dist(values, "first_response_business_seconds") == (1, 600.0)
        assert values["sla"]["first_response"] == {
            "achieved": 1, "breached": 0, "achieved_ratio": 1.0}
    assert report["live"]["overall"]["awaiting_first_response"] == 0


def test_first_response_not_measured_for_agent_initiated_conversation() -> None:
    """initiator=agent: no first response, not awaiting one; the customer's answer to the
    agent's outreach starts a next-response clock (the agent message is a human response)."""
    events = [
        created("c1", 0, initiator="agent"),
        assigned("c1", 0, "a1"),
    ]
    engine = feed(events)
    live = engine.report(ms(2))["live"]["overall"]
    assert live["open"] == 1
    assert live["awaiting_first_response"] == 0
    assert live["oldest_awaiting_first_response_seconds"] is None

    feed([reply("c1", 5, "a1"), customer("c1", 10), reply("c1", 20, "a1")], engine=engine)
    overall = kpis(engine.report(ms(21)))
    assert dist(overall, "first_response_seconds") == (0, None)
    assert overall["sla"]["first_response"] == {
        "achieved": 0, "breached": 0, "achieved_ratio": None}
    assert dist(overall, "next_response_seconds") == (1, 600.0)


def test_first_response_attributed_to_responder_and_team_at_stop() -> None:
    """Created in t1, transferred to a2 in team t2, answered by a1 (no longer the assignee):
    the first response is a1's, in team t2 (the conversation's team at the stop)."""
    events = [
        created("c1", 0, team="t1"),
        assigned("c1", 1, "a1", team="t1"),
        assigned("c1", 5, "a2", team="t2"),
        reply("c1", 10, "a1"),
    ]
    report = feed(events).report(ms(11))
    assert dist(kpis(report), "first_response_seconds") == (1, 600.0)
    assert dist(kpis(report, "agents", "a1"), "first_response_seconds") == (1, 600.0)
    assert dist(kpis(report, "agents", "a2"), "first_response_seconds") == (0, None)
    assert dist(kpis(report, "teams", "t2"), "first_response_seconds") == (1, 600.0)
    assert dist(kpis(report, "teams", "t1"), "first_response_seconds") == (0, None)
    assert kpis(report, "teams", "t1")["conversations_created"] == 1


# == next response ==============================================================================


def test_next_response_clock() -> None:
    """NR starts at the first customer message after a human response (a later customer message
    does not restart it) and stops at the next human response; bots, auto-replies and notes do
    not stop it. A resolution cancels it, and a customer message while resolved starts none.

    NR values: 10:10→10:30 = 1200 s (a1), 10:40→10:50 = 600 s (a2), 11:30→11:40 = 600 s (a1).
    """
    events = [
        created("c1", 0),
        customer("c1", 1),            # before any human response: no NR clock
        reply("c1", 5, "a1"),          # first response, 300 s
        customer("c1", 10),           # NR starts
        customer("c1", 15),           # does not restart it
        bot("c1", 20),
        reply("c1", 21, "a1", automated=True),
        reply("c1", 30, "a1"),         # NR 1200 s
        customer("c1", 40),           # NR starts
        reply("c1", 45, "a1", internal=True),
        reply("c1", 50, "a2"),         # NR 600 s, a2's
        customer("c1", 60),           # NR starts ...
        status("c1", 70, "resolved"),  # ... and is cancelled
        customer("c1", 75),           # resolved: no clock
        status("c1", 80, "open", by="customer"),
        reply("c1", 85, "a1"),         # no clock runs: no NR
        customer("c1", 90),           # NR starts
        reply("c1", 100, "a1"),        # NR 600 s
    ]
    report = feed(events).report(ms(101))
    overall = kpis(report)
    assert dist(overall, "first_response_seconds") == (1, 300.0)
    assert dist(overall, "next_response_seconds") == (3, 800.0)  # (1200 + 600 + 600) / 3
    assert overall["next_response_seconds"]["p50"] == approx(600)
    assert dist(overall, "next_response_business_seconds") == (3, 800.0)
    assert overall["sla"]["next_response"] == {
        "achieved": 3, "breached": 0, "achieved_ratio": 1.0}
    assert dist(kpis(report, "agents", "a1"), "next_response_seconds") == (2, 900.0)
    assert dist(kpis(report, "agents", "a2"), "next_response_seconds") == (1, 600.0)


@pytest.mark.parametrize("ending", ["resolved", "closed"])
def test_next_response_cancelled_by_resolution_or_close(ending: str) -> None:
    """A running NR clock is cancelled by a resolution or a close: the reply after it is not a
    next response, and no SLA result is recorded."""
    events = [
        created("c1", 0),
        assigned("c1", 1, "a1"),
        reply("c1", 5, "a1"),
        customer("c1", 10),
        status("c1", 20, ending),
        reply("c1", 30, "a1"),
    ]
    report = feed(events).report(ms(31))
    overall = kpis(report)
    assert dist(overall, "next_response_seconds") == (0, None)
    assert overall["sla"]["next_response"] == {
        "achieved": 0, "breached": 0, "achieved_ratio": None}
    assert overall["conversations_resolved"] == 1
    assert report["live"]["overall"]["sla_breaching"] == 0
    assert report["live"]["overall"]["sla_at_risk"] == 0


# == resolution, time to close, wait ============================================================


def test_resolution_time_to_close_and_wait_seconds() -> None:
    """resolution 10:00→11:30 = 5400 s; close 10:00→12:00 = 7200 s; wait counts only status
    open: 10:00–10:10, 10:30–10:40, 11:00–11:30 = 3000 s (pending and snoozed excluded).
    A close by the system after a human response is a close, not an abandonment."""
    events = [
        created("c1", 0),
        assigned("c1", 1, "a1"),
        reply("c1", 5, "a1"),
        status("c1", 10, "pending"),
        status("c1", 30, "open", by="customer"),
        status("c1", 40, "snoozed"),
        status("c1", 60, "open", by="system"),
        status("c1", 90, "resolved", agent_id="a1"),
        status("c1", 120, "closed", by="system"),
    ]
    report = feed(events).report(ms(121))
    for level, name in (("overall", None), ("teams", "t1"), ("agents", "a1")):
        values = kpis(report, level, name)
        assert values["conversations_resolved"] == 1
        assert values["conversations_closed"] == 1
        assert values["abandoned"] == 0
        assert dist(values, "resolution_seconds") == (1, 5400.0)
        assert dist(values, "resolution_business_seconds") == (1, 5400.0)
        assert dist(values, "time_to_close_seconds") == (1, 7200.0)
        assert dist(values, "wait_seconds") == (1, 3000.0)
        assert values["wait_seconds"]["p50"] == approx(3000)
        assert values["sla"]["resolution"] == {
            "achieved": 1, "breached": 0, "achieved_ratio": 1.0}


@pytest.mark.parametrize(
    ("assignee", "responder", "status_agent", "expected"),
    [
        ("a1", "a1", "a2", "a2"),   # agent_id of the status change wins
        ("a1", "a1", None, "a1"),   # else the current assignee
        (None, "a3", None, None),   # else team only (the responder is not the resolver)
    ],
)
def test_resolving_agent(assignee: str | None, responder: str, status_agent: str | None,
                         expected: str | None) -> None:
    """Resolution and close are attributed to the status change's agent_id, else the current
    assignee, else to the team only."""
    events = [created("c1", 0)]
    if assignee:
        events.append(assigned("c1", 1, assignee))
    events += [
        reply("c1", 5, responder),
        status("c1", 10, "resolved", agent_id=status_agent),
        status("c1", 20, "closed", agent_id=status_agent),
    ]
    report = feed(events).report(ms(21))
    team = kpis(report, "teams", "t1")
    assert team["conversations_resolved"] == 1
    assert dist(team, "resolution_seconds") == (1, 600.0)
    assert dist(team, "time_to_close_seconds") == (1, 1200.0)
    for agent, values in report["windows"]["24h"]["agents"].items():
        mine = agent == expected
        assert values["conversations_resolved"] == int(mine), agent
        assert values["conversations_closed"] == int(mine), agent
        assert dist(values, "resolution_seconds") == ((1, 600.0) if mine else (0, None)), agent
        assert dist(values, "time_to_close_seconds") == ((1, 1200.0) if mine else (0, None))
    if expected is not None:
        assert expected in report["windows"]["24h"]["agents"]


# == transfers and FCR ==========================================================================


def test_transfers_and_fcr() -> None:
    """fcr_ratio (one-touch): among first resolutions with a human response, the share with
    exactly one human response and one distinct agent ever assigned or responding.

    c1 a1 alone, one reply            → one-touch (a1)
    c2 a1 → a2 transfer, a2 replies   → not (two agents assigned; resolver a2)
    c3 a1 replies twice               → not (two responses; a1)
    c4 bot only, resolved by a bot    → no human response: not in the ratio (team only)
    c5 assigned a1, a2 replies        → not (two agents; resolver a1, the assignee)
    c6 a1, unassigned, a1 again       → one-touch (one distinct agent; a1)
    a1: 2/4, a2: 0/1, team and overall: 2/5. Assignments: a1 6 (c6 twice), a2 1.
    """
    events = [
        created("c1", 0), assigned("c1", 1, "a1", method="pull"), reply("c1", 2, "a1"),
        status("c1", 3, "resolved"),
        created("c2", 0), assigned("c2", 1, "a1"), assigned("c2", 2, "a2"), reply("c2", 3, "a2"),
        status("c2", 4, "resolved"),
        created("c3", 0), assigned("c3", 1, "a1"), reply("c3", 2, "a1"), customer("c3", 3),
        reply("c3", 4, "a1"), status("c3", 5, "resolved"),
        created("c4", 0), bot("c4", 1), status("c4", 2, "resolved", by="bot"),
        created("c5", 0), assigned("c5", 1, "a1"), reply("c5", 2, "a2"),
        status("c5", 3, "resolved"),
        created("c6", 0), assigned("c6", 1, "a1"), unassigned("c6", 2), assigned("c6", 3, "a1"),
        reply("c6", 4, "a1"), status("c6", 5, "resolved"),
    ]
    report = feed(events).report(ms(6))
    overall, team = kpis(report), kpis(report, "teams", "t1")
    a1, a2 = kpis(report, "agents", "a1"), kpis(report, "agents", "a2")
    assert overall["conversations_resolved"] == team["conversations_resolved"] == 6
    assert overall["abandoned"] == 0
    assert overall["fcr_ratio"] == team["fcr_ratio"] == exact(0.4)
    assert a1["conversations_resolved"] == 4
    assert a1["fcr_ratio"] == exact(0.5)
    assert a2["conversations_resolved"] == 1
    assert a2["fcr_ratio"] == 0.0
    assert a1["assigned"] == 6
    assert a1["pulled"] == 1
    assert a2["assigned"] == 1
    assert overall["assigned"] == team["assigned"] == 7


# == reopen =====================================================================================


def test_reopen_counts_and_only_first_resolution_counts() -> None:
    """Two reopenings (resolved → open). Only the first resolution (10:20) counts in
    conversations_resolved, resolution_seconds (1200 s), wait_seconds, the SLA and FCR. FCR:
    one reply by one agent made it one-touch at 10:20, but SPEC §3 says a later reopen turns a
    one-touch first resolution into a non-one-touch one: 0 of 1. The final close counts once
    (4800 s)."""
    events = [
        created("c1", 0),
        assigned("c1", 1, "a1"),
        reply("c1", 10, "a1"),
        status("c1", 20, "resolved"),
        status("c1", 30, "open", by="customer"),
        customer("c1", 31),
        reply("c1", 40, "a1"),
        status("c1", 50, "resolved"),
        status("c1", 60, "open", by="customer"),
        status("c1", 70, "resolved"),
        status("c1", 80, "closed"),
    ]
    report = feed(events).report(ms(81))
    for level, name in (("overall", None), ("agents", "a1")):
        values = kpis(report, level, name)
        assert values["reopened"] == 2
        assert values["conversations_resolved"] == 1
        assert dist(values, "resolution_seconds") == (1, 1200.0)
        assert dist(values, "wait_seconds") == (1, 1200.0)
        assert values["sla"]["resolution"] == {
            "achieved": 1, "breached": 0, "achieved_ratio": 1.0}
        assert values["fcr_ratio"] == 0.0
        assert values["conversations_closed"] == 1
        assert dist(values, "time_to_close_seconds") == (1, 4800.0)
        assert dist(values, "next_response_seconds") == (1, 540.0)  # 10:31 → 10:40


def test_a_reopen_in_another_window_retracts_one_touch_fcr_in_the_resolutions_pane() -> None:
    """SPEC §3: a later reopen turns a one-touch first resolution into a non-one-touch one,
    retracted and re-added in the first resolution's pane. Resolved at 10:20 after one reply by
    one agent (one-touch); reopened at 11:45. Before the reopen the 24h fcr_ratio is 1/1. After
    it: 0/1 in the 24h window; the 1h window at 12:00 ([11:00, 12:00)) holds the reopen but no
    resolution, so its fcr_ratio stays null (nothing moved into the reopen's pane)."""
    events = [
        created("c1", 0),
        assigned("c1", 1, "a1"),
        customer("c1", 2),
        reply("c1", 10, "a1"),
        status("c1", 20, "resolved"),
        status("c1", 105, "open", by="customer"),
    ]
    before = feed(events[:-1]).report(ms(70))
    assert kpis(before)["fcr_ratio"] == 1.0
    after = feed(events).report(ms(120))
    assert kpis(after)["fcr_ratio"] == 0.0
    assert kpis(after, "agents", "a1")["fcr_ratio"] == 0.0
    assert kpis(after, window="1h")["fcr_ratio"] is None
    assert kpis(after, window="1h")["reopened"] == 1
    assert kpis(after)["conversations_resolved"] == 1
    shuffled = feed(list(reversed(events))).report(ms(120))
    assert kpis(shuffled)["fcr_ratio"] == 0.0


def test_full_resolution_is_replaced_by_a_later_resolution() -> None:
    """SPEC §3 full_resolution_seconds: created → the latest resolution; a reopen followed by a
    new resolution replaces the earlier value (retracted, re-added at the new stop); a reopen
    alone retracts nothing. created 10:00, resolved 10:20 (1200 s), reopened 10:30, resolved
    again 11:50 (6600 s), closed 11:55 (not a resolution: resolved → closed). Inside business
    hours (Monday), so the business values are the same."""
    events = [
        created("c1", 0), assigned("c1", 1, "a1"), reply("c1", 5, "a1"),
        status("c1", 20, "resolved"),
        status("c1", 30, "open", by="customer"),
        status("c1", 110, "resolved"),
        status("c1", 115, "closed"),
    ]
    reopened_only = feed(events[:5]).report(ms(40))
    assert dist(kpis(reopened_only), "full_resolution_seconds") == (1, 1200.0)
    report = feed(events).report(ms(120))
    day, hour = kpis(report), kpis(report, window="1h")
    for values in (day, kpis(report, "agents", "a1")):
        assert dist(values, "full_resolution_seconds") == (1, 6600.0)
        assert dist(values, "full_resolution_business_seconds") == (1, 6600.0)
        assert dist(values, "resolution_seconds") == (1, 1200.0)
    assert dist(hour, "full_resolution_seconds") == (1, 6600.0)  # [11:00, 12:00) holds 11:50
    earlier = feed(events).report(ms(60))  # [10:00, 11:00): the 10:20 value was replaced
    assert dist(kpis(earlier, window="1h"), "full_resolution_seconds") == (0, None)
    assert dist(kpis(feed(list(reversed(events))).report(ms(120))),
                "full_resolution_seconds") == (1, 6600.0)


def test_wait_business_seconds_counts_open_business_hours_only() -> None:
    """SPEC §3 wait_seconds (+ _business): only the seconds in status open before the first
    resolution; the business variant only those inside business hours (default Mon–Fri
    09:00–17:00 UTC). Created Monday 16:30, pending 18:00, open again Tuesday 08:00, resolved
    09:30. Open: 16:30–18:00 and 08:00–09:30 = 10,800 s; in business hours 16:30–17:00 and
    09:00–09:30 = 3,600 s."""
    events = [
        created("c1", 390), assigned("c1", 391, "a1"), reply("c1", 400, "a1"),
        status("c1", 480, "pending"),
        status("c1", 1320, "open", by="customer"),
        status("c1", 1410, "resolved"),
    ]
    values = kpis(feed(events).report(ms(1420)))
    assert dist(values, "wait_seconds") == (1, 10800.0)
    assert dist(values, "wait_business_seconds") == (1, 3600.0)


# == bots and handoffs ==========================================================================


def handed_off(cid: str, when: When, team: str | None = None) -> dict[str, Any]:
    return _event("conversation.handed_off", when, conversation_id=cid, team=team)


def test_a_handoff_starts_the_after_handoff_clock_whatever_the_arrival_order() -> None:
    """SPEC §3: first_response_after_handoff_seconds runs from the first handoff to the next
    human response; first_response_seconds is unchanged. created 10:00, a bot answers 10:01,
    hands off 10:05, a1 replies 10:12: after handoff 420 s, first response 720 s; handed_off 1
    at team and overall. The handoff may arrive before created."""
    events = [created("c1", 0), bot("c1", 1), handed_off("c1", 5), reply("c1", 12, "a1")]
    for arrival in (events, [events[2], events[3], events[0], events[1]]):
        report = feed(arrival).report(ms(20))
        for level, name in (("overall", None), ("teams", "t1")):
            values = kpis(report, level, name)
            assert values["handed_off"] == 1
            assert dist(values, "first_response_after_handoff_seconds") == (1, 420.0)
            assert dist(values, "first_response_seconds") == (1, 720.0)
        a1 = kpis(report, "agents", "a1")
        assert dist(a1, "first_response_after_handoff_seconds") == (1, 420.0)
        assert "handed_off" not in a1


def test_two_handoffs_count_once_from_the_first() -> None:
    """handed_off counts conversations with a first handoff; the clock runs from the first:
    handoffs 10:05 and 10:20, reply 10:30 → 1500 s."""
    events = [created("c1", 0), bot("c1", 1), handed_off("c1", 5), handed_off("c1", 20),
              reply("c1", 30, "a1")]
    values = kpis(feed(events).report(ms(40)))
    assert values["handed_off"] == 1
    assert dist(values, "first_response_after_handoff_seconds") == (1, 1500.0)


def test_a_bot_resolution_must_hold() -> None:
    """A first resolution before any human response and handoff, with a bot message, is
    bot_resolved (and counts in conversations_resolved). The customer reopens at 10:40: it is
    retracted from bot_resolved in the resolution's pane and counts as a handoff, which starts
    the after-handoff clock: a1 replies 10:50 → 600 s; first response from creation: 3000 s."""
    events = [created("c1", 0), bot("c1", 1), status("c1", 3, "resolved", by="bot")]
    before = kpis(feed(events).report(ms(10)))
    assert (before["bot_resolved"], before["conversations_resolved"]) == (1, 1)
    assert before["bot_resolution_ratio"] == 1.0 and before["handed_off"] == 0
    events += [status("c1", 40, "open", by="customer"), reply("c1", 50, "a1")]
    for arrival in (events, list(reversed(events))):
        after = kpis(feed(arrival).report(ms(60)))
        assert (after["bot_resolved"], after["conversations_resolved"]) == (0, 1)
        assert after["bot_resolution_ratio"] == 0.0
        assert after["handed_off"] == 1 and after["reopened"] == 1
        assert dist(after, "first_response_after_handoff_seconds") == (1, 600.0)
        assert dist(after, "first_response_seconds") == (1, 3000.0)


def test_no_bot_resolution_after_a_human_response_or_without_a_bot() -> None:
    """bot_resolved needs no human response, no handoff and a bot message before it."""
    events = [
        created("c1", 0), bot("c1", 1), reply("c1", 2, "a1"), status("c1", 3, "resolved"),
        created("c2", 0), status("c2", 4, "resolved", by="bot"),
        created("c3", 0), bot("c3", 1), handed_off("c3", 2), status("c3", 5, "resolved",
                                                                     by="bot"),
    ]
    values = kpis(feed(events).report(ms(10)))
    assert values["conversations_resolved"] == 3
    assert values["bot_resolved"] == 0 and values["bot_resolution_ratio"] == 0.0


# == pending / snoozed ==========================================================================


def test_pending_and_snoozed_wait_on_customer() -> None:
    """pending and snoozed are waiting_on_customer (not open) in the live state, and their
    seconds are not wait_seconds: c1 open 10:00–10:03 and 10:20–10:30 = 780 s; c2 open
    10:00–10:04 = 240 s (resolved from snoozed)."""
    engine = feed([
        created("c1", 0), assigned("c1", 1, "a1"), reply("c1", 2, "a1"),
        status("c1", 3, "pending"),
        created("c2", 0), assigned("c2", 1, "a1"), reply("c2", 2, "a1"),
        status("c2", 4, "snoozed"),
        created("c3", 0), assigned("c3", 1, "a1"), reply("c3", 2, "a1"),
    ])
    live = engine.report(ms(10))["live"]
    assert live["overall"]["open"] == 1
    assert live["overall"]["waiting_on_customer"] == 2
    assert live["overall"]["unassigned"] == 0
    assert live["teams"]["t1"]["waiting_on_customer"] == 2
    assert live["agents"]["a1"]["waiting_on_customer"] == 2
    assert live["agents"]["a1"]["assigned_open"] == 1

    feed([
        status("c1", 20, "open", by="customer"),
        status("c2", 25, "resolved"),
        status("c1", 30, "resolved"),
    ], engine=engine)
    report = engine.report(ms(31))
    assert dist(kpis(report), "wait_seconds") == (2, 510.0)  # (780 + 240) / 2
    assert dist(kpis(report), "resolution_seconds") == (2, 1650.0)  # (1800 + 1500) / 2
    assert report["live"]["overall"]["waiting_on_customer"] == 0
    assert report["live"]["overall"]["open"] == 1


# == abandonment ================================================================================


def test_explicit_abandonment() -> None:
    """conversation.abandoned before any human response: abandoned, and closed (a later status
    change is ignored); not a resolution, close, FCR or SLA result. abandonment_ratio =
    abandoned / created = 2/4. The assigned agent counts it too.

    Reading: the agent level is given ``abandoned``; its abandonment_ratio is not asserted
    (the SPEC does not say which conversations_created an agent has)."""
    events = [
        created("c1", 0), assigned("c1", 1, "a1"), bot("c1", 2), abandoned("c1", 5),
        status("c1", 6, "closed", by="system"),
        created("c2", 0), reply("c2", 1, "a2"), status("c2", 2, "resolved"),
        created("c3", 0), abandoned("c3", 3),
        created("c4", 0),
    ]
    report = feed(events).report(ms(7))
    for level, name in (("overall", None), ("teams", "t1")):
        values = kpis(report, level, name)
        assert values["conversations_created"] == 4
        assert values["abandoned"] == 2
        assert values["abandonment_ratio"] == exact(0.5)
        assert values["conversations_resolved"] == 1  # c2
        assert values["conversations_closed"] == 0
        assert dist(values, "time_to_close_seconds") == (0, None)
        assert values["fcr_ratio"] == 1.0  # c2 only
        assert values["sla"]["first_response"]["achieved"] == 1  # c2 only
        assert values["sla"]["first_response"]["breached"] == 0
        assert values["sla"]["resolution"] == {
            "achieved": 1, "breached": 0, "achieved_ratio": 1.0}
    assert kpis(report, "agents", "a1")["abandoned"] == 1
    assert kpis(report, "agents", "a1")["conversations_resolved"] == 0
    live = report["live"]["overall"]
    assert live["open"] == 1  # c4
    assert live["awaiting_first_response"] == 1


@pytest.mark.parametrize(
    ("new", "by", "is_abandonment"),
    [
        ("resolved", "customer", True),
        ("resolved", "system", True),
        ("closed", "customer", True),
        ("closed", "system", True),
        ("resolved", "agent", False),
        ("closed", "bot", False),
    ],
)
def test_abandonment_by_status_change(new: str, by: str, is_abandonment: bool) -> None:
    """A change to resolved/closed by customer or system before any human response is an
    abandonment (never a resolution, close or SLA result); by agent or bot it is a resolution
    (not FCR-eligible: no human response)."""
    events = [created("c1", 0), assigned("c1", 1, "a1"), status("c1", 10, new, by=by)]
    report = feed(events).report(ms(11))
    for level, name in (("overall", None), ("teams", "t1"), ("agents", "a1")):
        values = kpis(report, level, name)
        assert values["fcr_ratio"] is None
        if is_abandonment:
            assert values["abandoned"] == 1
            assert values["conversations_resolved"] == 0
            assert values["conversations_closed"] == 0
            assert dist(values, "resolution_seconds") == (0, None)
            assert dist(values, "time_to_close_seconds") == (0, None)
            assert values["sla"]["resolution"] == {
                "achieved": 0, "breached": 0, "achieved_ratio": None}
        else:
            assert values["abandoned"] == 0
            assert values["conversations_resolved"] == 1
            assert values["conversations_closed"] == int(new == "closed")
            assert dist(values, "resolution_seconds") == (1, 600.0)
            assert values["sla"]["resolution"]["achieved"] == 1
    if is_abandonment:
        assert kpis(report)["abandonment_ratio"] == 1.0


def test_abandoned_event_after_human_response_is_ignored() -> None:
    """conversation.abandoned after a human response changes nothing (the conversation stays
    open); a later resolution, even by the customer, is a resolution."""
    engine = feed([
        created("c1", 0), assigned("c1", 1, "a1"), reply("c1", 2, "a1"), abandoned("c1", 5),
    ])
    report = engine.report(ms(6))
    assert kpis(report)["abandoned"] == 0
    assert report["live"]["overall"]["open"] == 1

    feed([customer("c1", 10), reply("c1", 20, "a1"), status("c1", 30, "resolved", by="customer")],
         engine=engine)
    overall = kpis(engine.report(ms(31)))
    assert overall["abandoned"] == 0
    assert overall["abandonment_ratio"] == 0.0
    assert overall["conversations_resolved"] == 1
    assert dist(overall, "next_response_seconds") == (1, 600.0)


@pytest.mark.parametrize(
    "tail",
    [
        [status("c1", 5, "resolved", by="customer"), status("c1", 6, "closed", by="system"),
         abandoned("c1", 7)],
        [abandoned("c1", 5), status("c1", 6, "resolved", by="customer")],
        [status("c1", 5, "resolved", by="customer"), status("c1", 6, "open", by="customer"),
         status("c1", 7, "resolved", by="system")],
    ],
    ids=["resolved-closed-abandoned", "abandoned-resolved", "resolved-reopened-resolved"],
)
def test_abandonment_counted_once(tail: list[dict[str, Any]]) -> None:
    events = [created("c1", 0, channel="phone"), *tail]
    overall = kpis(feed(events).report(ms(8)))
    assert overall["abandoned"] == 1
    assert overall["abandonment_ratio"] == 1.0
    assert overall["conversations_resolved"] == 0
    assert overall["conversations_closed"] == 0
    assert dist(overall, "time_to_close_seconds") == (0, None)


# == after close ================================================================================


def test_events_after_close_are_ignored_except_ratings_and_reviews() -> None:
    events = [
        created("c1", 0), assigned("c1", 1, "a1"), reply("c1", 2, "a1"),
        status("c1", 3, "closed"),
        customer("c1", 4), reply("c1", 5, "a2"), assigned("c1", 6, "a2"),
        status("c1", 7, "open", by="customer"), status("c1", 8, "resolved"), abandoned("c1", 9),
        rating("c1", 10, "csat", 5),
        review(11, "a1", 80, cid="c1"),
    ]
    report = feed(events).report(ms(12))
    overall = kpis(report)
    assert overall["conversations_closed"] == 1
    assert overall["conversations_resolved"] == 1
    assert overall["reopened"] == 0
    assert overall["abandoned"] == 0
    assert overall["assigned"] == 1
    assert dist(overall, "next_response_seconds") == (0, None)
    assert overall["csat"]["responses"] == 1
    assert overall["qa"] == {"reviews": 1, "avg": 80.0}
    a1 = kpis(report, "agents", "a1")
    assert a1["csat"]["responses"] == 1  # a1 is still the assignee at the rating
    assert a1["qa"]["reviews"] == 1
    assert "a2" not in report["windows"]["24h"]["agents"]
    assert report["live"]["overall"]["open"] == 0


# == ratings ====================================================================================


def test_csat_nps_ces_attribution() -> None:
    """Rated agent = assignee at the rating, else the last human responder. csat counts about
    agent/unspecified only; csat_all (team, overall) every rating. NPS and CES are attributed
    like csat whatever ``about`` says.

    csat: c1 5 (agent, a1), c2 2 (unspecified, a2: last responder), c3 3 (agent, a2: assignee
    after the transfer although a1 answered), c4 1 (product, a1, conversation closed),
    c5 4 (other, no agent).
    """
    events = [
        created("c1", 0), assigned("c1", 1, "a1"), reply("c1", 2, "a1"),
        status("c1", 3, "resolved"),
        created("c2", 0), reply("c2", 2, "a2"),
        created("c3", 0), assigned("c3", 1, "a1"), reply("c3", 2, "a1"), assigned("c3", 5, "a2"),
        created("c4", 0), assigned("c4", 1, "a1"), reply("c4", 2, "a1"), status("c4", 3, "closed"),
        created("c5", 0),
        rating("c1", 10, "csat", 5, about="agent"),
        rating("c2", 10, "csat", 2),
        rating("c3", 10, "csat", 3, about="agent"),
        rating("c4", 10, "csat", 1, about="product"),
        rating("c5", 10, "csat", 4, about="other"),
        rating("c1", 11, "nps", 9, about="product"),
        rating("c2", 11, "nps", 6),
        rating("c3", 11, "nps", 7, about="other"),
        rating("c1", 12, "ces", 2, about="product"),
        rating("c2", 12, "ces", 5),
    ]
    report = feed(events).report(ms(13))
    a1, a2 = kpis(report, "agents", "a1"), kpis(report, "agents", "a2")
    assert a1["csat"] == {"responses": 1, "positive": 1, "positive_ratio": 1.0, "avg": 5.0}
    assert a2["csat"] == {"responses": 2, "positive": 0, "positive_ratio": 0.0, "avg": 2.5}
    assert "csat_all" not in a1
    for level, name in (("overall", None), ("teams", "t1")):
        values = kpis(report, level, name)
        assert values["csat"]["responses"] == 3
        assert values["csat"]["positive"] == 1
        assert values["csat"]["positive_ratio"] == exact(1 / 3)
        assert values["csat"]["avg"] == exact(10 / 3)
        assert values["csat_all"] == {
            "responses": 5, "positive": 2, "positive_ratio": exact(0.4), "avg": exact(3.0)}
        assert values["nps"] == {"responses": 3, "promoters": 1, "detractors": 1, "score": 0.0}
        assert values["ces"] == {"responses": 2, "avg": 3.5}
    assert a1["nps"] == {"responses": 1, "promoters": 1, "detractors": 0, "score": 100.0}
    assert a2["nps"] == {"responses": 2, "promoters": 0, "detractors": 1, "score": -50.0}
    assert a1["ces"] == {"responses": 1, "avg": 2.0}
    assert a2["ces"] == {"responses": 1, "avg": 5.0}


# == QA reviews =================================================================================


def test_qa_reviews() -> None:
    """qa for the reviewed agent; team = the conversation's team, else the event's team.
    Reading: a review naming a conversation the engine has no team for uses the event's team."""
    events = [
        created("c1", 0, team="t1"), assigned("c1", 1, "a1"), reply("c1", 2, "a1"),
        status("c1", 3, "closed"),
        review(10, "a1", 90, cid="c1", team="t2"),   # conversation's team t1 wins
        review(11, "a1", 70, team="t2"),             # no conversation: event team
        review(12, "a2", 80, cid="c9", team="t3"),   # unknown conversation: event team
    ]
    report = feed(events).report(ms(13))
    assert kpis(report, "agents", "a1")["qa"] == {"reviews": 2, "avg": 80.0}
    assert kpis(report, "agents", "a2")["qa"] == {"reviews": 1, "avg": 80.0}
    assert kpis(report, "teams", "t1")["qa"] == {"reviews": 1, "avg": 90.0}
    assert kpis(report, "teams", "t2")["qa"] == {"reviews": 1, "avg": 70.0}
    assert kpis(report, "teams", "t3")["qa"] == {"reviews": 1, "avg": 80.0}
    assert kpis(report)["qa"] == {"reviews": 3, "avg": 80.0}


# == business hours =============================================================================

BERLIN = {"teams": {"berlin": {"timezone": "Europe/Berlin"}}}


@pytest.mark.parametrize(
    ("start", "stop", "plain", "business"),
    [
        # Fri 16:00 CET → Mon 10:00 CEST across the spring-forward Sunday 2024-03-31:
        # wall clock Fri 15:00Z → Mon 08:00Z = 65 h; business Fri 16–17 + Mon 09–10 = 2 h.
        ("2024-03-29T16:00:00+01:00", "2024-04-01T10:00:00+02:00", 65 * 3600, 7200),
        # Sat 12:00 CET → Mon 09:30 CEST: Sat 11:00Z → Mon 07:30Z = 44.5 h; business 30 min.
        ("2024-03-30T12:00:00+01:00", "2024-04-01T09:30:00+02:00", 160_200, 1800),
    ],
)
def test_business_hours_across_dst(start: str, stop: str, plain: int, business: int) -> None:
    events = [created("c1", start, team="berlin"), reply("c1", stop, "a1")]
    report = feed(events, KpiConfig.model_validate(BERLIN)).report(ms(stop) + 60_000)
    values = kpis(report, "teams", "berlin")
    assert dist(values, "first_response_seconds") == (1, float(plain))
    assert dist(values, "first_response_business_seconds") == (1, float(business))
    assert values["first_response_business_seconds"]["p50"] == approx(business)


@pytest.mark.parametrize(
    ("team_settings", "start", "stop", "plain", "business"),
    [
        # UTC team, Monday 2024-03-04 a holiday: 10:00 → 12:00 counts nothing.
        ({"holidays": ["2024-03-04"]}, at(0), at(120), 7200, 0),
        # Holiday Monday 16:00 → Tuesday 10:00: only Tue 09:00–10:00.
        ({"holidays": ["2024-03-04"]}, at(360), at(24 * 60), 64_800, 3600),
        # Berlin, Easter Monday 2024-04-01 a holiday: Fri 16:00 → Tue 10:00 local =
        # Fri 16–17 + Tue 09–10 = 2 h; wall clock Fri 15:00Z → Tue 08:00Z = 89 h.
        ({"timezone": "Europe/Berlin", "holidays": ["2024-04-01"]},
         "2024-03-29T16:00:00+01:00", "2024-04-02T10:00:00+02:00", 89 * 3600, 7200),
    ],
)
def test_business_hours_holiday(team_settings: dict[str, Any], start: str, stop: str,
                                plain: int, business: int) -> None:
    """A configured holiday (a date in the team's timezone) contributes 0 business seconds."""
    config = KpiConfig.model_validate({"teams": {"hol": team_settings}})
    events = [created("c1", start, team="hol"), reply("c1", stop, "a1")]
    values = kpis(feed(events, config).report(ms(stop) + 60_000), "teams", "hol")
    assert dist(values, "first_response_seconds") == (1, float(plain))
    assert dist(values, "first_response_business_seconds") == (1, float(business))


# == SLA ========================================================================================


@pytest.mark.parametrize(
    ("priority", "after_s", "achieved"),
    [
        ("urgent", 600, True),
        ("urgent", 900, True),     # value ≤ target is achieved
        ("urgent", 1000, False),
        ("normal", 1000, True),    # default target 3600
        (None, 3601, False),       # priority defaults to normal
    ],
)
def test_priority_sla_override(priority: str | None, after_s: int, achieved: bool) -> None:
    config = KpiConfig.model_validate(
        {"defaults": {"priorities": {"urgent": {"first_response": {"target": 900}}}}})
    events = [created("c1", 0, priority=priority), reply("c1", at(0, after_s), "a1")]
    values = kpis(feed(events, config).report(ms(at(0, after_s)) + 60_000), "agents", "a1")
    assert values["sla"]["first_response"] == {
        "achieved": int(achieved), "breached": int(not achieved),
        "achieved_ratio": float(achieved)}


@pytest.mark.parametrize(
    ("reply_minutes", "business", "achieved"),
    [
        (1400, 3000, True),   # Mon 16:30 → Tue 09:20: 30 + 20 min of business time
        (1420, 4200, False),  # Mon 16:30 → Tue 09:40: 30 + 40 min
    ],
)
def test_business_hours_sla_target(reply_minutes: int, business: int, achieved: bool) -> None:
    """A target with business_hours: true is judged in business seconds (the wall clock,
    16 h 50 min or more, would breach 3600 either way)."""
    config = KpiConfig.model_validate(
        {"defaults": {"sla": {"first_response": {"target": 3600, "business_hours": True}}}})
    events = [created("c1", 390), reply("c1", reply_minutes, "a1")]  # 390 min = Mon 16:30
    overall = kpis(feed(events, config).report(ms(reply_minutes + 1)))
    assert dist(overall, "first_response_seconds") == (1, float((reply_minutes - 390) * 60))
    assert dist(overall, "first_response_business_seconds") == (1, float(business))
    assert overall["sla"]["first_response"] == {
        "achieved": int(achieved), "breached": int(not achieved),
        "achieved_ratio": float(achieved)}


def _pausing(kind: str = "first_response", statuses: tuple[str, ...] = ("pending",),
             **target: Any) -> KpiConfig:
    return KpiConfig.model_validate(
        {"defaults": {"sla": {kind: {**target, "pause_while": list(statuses)}}}})


def test_pause_while_leaves_the_listed_statuses_out_of_the_sla() -> None:
    """pause_while [pending] on the 3600 s first-response target. c1 is pending 10:10–11:30
    and answered 11:40: 100 min elapsed, 80 paused → 1200 s counted, achieved. c2 is snoozed,
    a status the target does not list: 6000 s counted, breached. first_response_seconds stays
    unpaused (6000 s each), whatever the arrival order."""
    events = [
        created("c1", 0), assigned("c1", 0, "a1"), status("c1", 10, "pending"),
        status("c1", 90, "open"), reply("c1", 100, "a1"),
        created("c2", 0), assigned("c2", 0, "a2"), status("c2", 10, "snoozed"),
        status("c2", 90, "open"), reply("c2", 100, "a2"),
    ]
    for order in (events, events[::-1]):
        report = feed(order, _pausing()).report(ms(101))
        assert kpis(report, "agents", "a1")["sla"]["first_response"] == {
            "achieved": 1, "breached": 0, "achieved_ratio": 1.0}
        assert kpis(report, "agents", "a2")["sla"]["first_response"] == {
            "achieved": 0, "breached": 1, "achieved_ratio": 0.0}
        assert dist(kpis(report), "first_response_seconds") == (2, 6000.0)


def test_without_pause_while_waiting_counts() -> None:
    """The same pending stretch under the default target (no pause_while): breached."""
    events = [created("c1", 0), assigned("c1", 0, "a1"), status("c1", 10, "pending"),
              status("c1", 90, "open"), reply("c1", 100, "a1")]
    assert kpis(feed(events).report(ms(101)))["sla"]["first_response"]["breached"] == 1


@pytest.mark.parametrize(("reply_minutes", "achieved"), [(1440, True), (1441, False)])
def test_pause_across_a_business_hours_boundary(reply_minutes: int, achieved: bool) -> None:
    """Business hours are applied on top of the pause (SPEC §3). Target 3600 business seconds,
    pause_while [pending]. Created Mon 16:00, pending 16:30 → Tue 09:30, answered Tue 10:00:
    business 16:00–17:00 + 09:00–10:00 = 7200 s, paused business 16:30–17:00 + 09:00–09:30 =
    3600 s → 3600 counted, achieved (value ≤ target); one minute later 3660, breached. The
    business-seconds KPI stays unpaused."""
    config = _pausing(target=3600, business_hours=True)
    events = [created("c1", 360), status("c1", 390, "pending"), status("c1", 1410, "open"),
              reply("c1", reply_minutes, "a1")]
    overall = kpis(feed(events, config).report(ms(reply_minutes + 1)))
    assert dist(overall, "first_response_business_seconds") == (
        1, float(7200 + (reply_minutes - 1440) * 60))
    assert overall["sla"]["first_response"] == {
        "achieved": int(achieved), "breached": int(not achieved),
        "achieved_ratio": float(achieved)}


def test_pause_while_at_risk_holds_the_live_clock() -> None:
    """Target 3600 s, at-risk share 0.8 (2880 s), pause_while [pending]. c1 created 10:00 and
    set pending at 10:50 (3000 s: at risk). At 11:30 the wall clock says 5400 s (breaching) but
    the paused clock still 3000 s: at risk, waiting on the customer. Open again at 11:30; at
    11:41 3000 + 660 = 3660 s: breaching. Without pause_while it breaches at 11:30."""
    events = [created("c1", 0), assigned("c1", 0, "a1"), status("c1", 50, "pending")]
    live = feed(events, _pausing()).report(ms(90))["live"]
    for values in (live["overall"], live["teams"]["t1"], live["agents"]["a1"]):
        assert (values["sla_at_risk"], values["sla_breaching"]) == (1, 0)
    assert live["overall"]["waiting_on_customer"] == 1
    assert feed(events).report(ms(90))["live"]["overall"]["sla_breaching"] == 1

    engine = feed([*events, status("c1", 90, "open")], _pausing())
    assert engine.report(ms(100))["live"]["overall"]["sla_at_risk"] == 1  # 3600 s: not past
    live_after = engine.report(ms(101))["live"]["overall"]
    assert (live_after["sla_at_risk"], live_after["sla_breaching"]) == (0, 1)


def test_pause_counts_from_the_clock_start_only() -> None:
    """A next-response clock that starts while the conversation is pending: only the pending
    seconds after the clock's start are left out. First response 10:05; pending 10:10; the
    customer writes 10:20 (clock starts); open 10:40; reply 10:50 → 1800 s elapsed, 1200
    paused → 600 s counted against a 900 s target: achieved (1800 s would breach)."""
    config = _pausing("next_response", ("pending", "snoozed"), target=900)
    events = [created("c1", 0), reply("c1", 5, "a1"), status("c1", 10, "pending"),
              customer("c1", 20), status("c1", 40, "open"), reply("c1", 50, "a1")]
    overall = kpis(feed(events, config).report(ms(51)))
    assert dist(overall, "next_response_seconds") == (1, 1800.0)
    assert overall["sla"]["next_response"] == {
        "achieved": 1, "breached": 0, "achieved_ratio": 1.0}


def test_pause_on_the_resolution_target() -> None:
    """Resolution target 86400 s with pause_while [pending]: answered 10:05, pending from 10:10
    for two days, open at +2 days 10:10 and resolved at 11:10 that day: 49 h 10 min elapsed
    (breach unpaused), 48 h paused → 4200 s counted: achieved. resolution_seconds unpaused."""
    two_days = 2 * 24 * 60
    events = [created("c1", 0), reply("c1", 5, "a1"), status("c1", 10, "pending"),
              status("c1", 10 + two_days, "open"), status("c1", 70 + two_days, "resolved")]
    overall = kpis(feed(events, _pausing("resolution", target=86400)).report(
        ms(71 + two_days)), window="24h")
    assert dist(overall, "resolution_seconds") == (1, float((70 + two_days) * 60))
    assert overall["sla"]["resolution"] == {
        "achieved": 1, "breached": 0, "achieved_ratio": 1.0}


# == occupancy ==================================================================================


def test_occupancy_union_of_overlapping_conversations() -> None:
    """a1 available 10:00–11:00. c1 awaits its first response 10:10–10:30, c2 10:20–10:40:
    busy = union 10:10–10:40 = 1800 s (not the 2400 s sum). c3 is agent-initiated (no clock):
    pulled but no busy time. pulled_per_hour = 2 pulled / 1 logged-in hour."""
    events = [
        presence(0, "a1", "available"),
        created("c1", 10), assigned("c1", 10, "a1"), reply("c1", 30, "a1"),
        created("c2", 20), assigned("c2", 20, "a1", method="pull"), reply("c2", 40, "a1"),
        created("c3", 50, initiator="agent"), assigned("c3", 50, "a1", method="pull"),
        presence(60, "a1", "offline"),
    ]
    engine = feed(events)
    report = engine.report(ms(120))
    for level, name in (("overall", None), ("teams", "t1"), ("agents", "a1")):
        values = kpis(report, level, name)
        assert values["logged_in_seconds"] == 3600
        assert values["busy_seconds"] == 1800
        assert values["occupancy_ratio"] == 0.5
        assert values["pulled"] == 2
        assert values["pulled_per_hour"] == exact(2.0)
    # The 1h window at 11:00 is [10:01, 11:00): logged-in time is clipped to 59 min.
    clipped = kpis(engine.report(ms(60)), "agents", "a1", window="1h")
    assert clipped["logged_in_seconds"] == 3540
    assert clipped["busy_seconds"] == 1800
    assert clipped["pulled_per_hour"] == exact(2 / (3540 / 3600))


def test_presence_states_logged_in_and_busy() -> None:
    """busy and after_work are busy; away and offline are not logged in (even while assignee of
    a conversation awaiting a response). a2: available 10:00, busy 10:10, after_work 10:20,
    away 10:30, available 10:40, offline 10:50 → logged in 40 min, busy 20 min.
    a3 is away throughout: no logged-in time, so pulled_per_hour and occupancy are null."""
    events = [
        presence(0, "a2", "available"), presence(10, "a2", "busy"),
        presence(20, "a2", "after_work"), presence(30, "a2", "away"),
        presence(40, "a2", "available"), presence(50, "a2", "offline"),
        presence(0, "a3", "away"),
        created("c9", 0), assigned("c9", 1, "a3", method="pull"),
    ]
    engine = feed(events)
    report = engine.report(ms(120))
    a2 = kpis(report, "agents", "a2")
    assert a2["logged_in_seconds"] == 2400
    assert a2["busy_seconds"] == 1200
    assert a2["occupancy_ratio"] == 0.5
    assert a2["pulled_per_hour"] == 0.0
    a3 = kpis(report, "agents", "a3")
    assert a3["logged_in_seconds"] == 0
    assert a3["busy_seconds"] == 0
    assert a3["occupancy_ratio"] is None
    assert a3["pulled"] == 1
    assert a3["pulled_per_hour"] is None
    assert report["live"]["agents"]["a2"]["status"] == "offline"
    assert report["live"]["agents"]["a3"]["status"] == "away"
    # presence at t: the latest status change before t (one at t is not yet in force)
    assert engine.report(ms(35))["live"]["agents"]["a2"]["status"] == "away"
    assert engine.report(ms(10))["live"]["agents"]["a2"]["status"] == "available"


def test_occupancy_team_from_the_status_event_that_began_the_interval() -> None:
    """a4: available 10:00 (team t1), busy 10:30 (team t2), offline 11:00. c1 (team t9) awaits
    a response 10:10–10:20 while a4 is available → busy in t1's interval. t1: 1800 s logged in,
    600 s busy; t2: 1800/1800; overall and agent 3600/2400."""
    events = [
        presence(0, "a4", "available", team="t1"),
        created("c1", 10, team="t9"), assigned("c1", 10, "a4"), reply("c1", 20, "a4"),
        presence(30, "a4", "busy", team="t2"),
        presence(60, "a4", "offline", team="t2"),
    ]
    report = feed(events).report(ms(120))
    t1, t2 = kpis(report, "teams", "t1"), kpis(report, "teams", "t2")
    assert (t1["logged_in_seconds"], t1["busy_seconds"]) == (1800, 600)
    assert (t2["logged_in_seconds"], t2["busy_seconds"]) == (1800, 1800)
    for level, name in (("overall", None), ("agents", "a4")):
        values = kpis(report, level, name)
        assert (values["logged_in_seconds"], values["busy_seconds"]) == (3600, 2400)
        assert values["occupancy_ratio"] == exact(2 / 3)
    t9 = kpis(report, "teams", "t9")
    assert (t9["logged_in_seconds"], t9["busy_seconds"]) == (0, 0)


def test_presence_without_team_stays_in_the_team_last_named() -> None:
    """SPEC §3: an agent stays in its team until a presence event names another. a1: available
    08:00 (team billing), busy 09:00, available 09:30, offline 10:00 (none names a team): all
    two hours count for billing, 1800 s of them busy. In any arrival order."""
    events = [presence(-120, "a1", "available", team="billing"),
              presence(-60, "a1", "busy", team=None), presence(-30, "a1", "available", team=None),
              presence(0, "a1", "offline", team=None)]
    for arrival in itertools.permutations(events):
        report = feed(list(arrival)).report(ms(30))
        for level, name in (("teams", "billing"), ("agents", "a1"), ("overall", None)):
            values = kpis(report, level, name)
            assert (values["logged_in_seconds"], values["busy_seconds"]) == (7200, 1800)
        assert kpis(report, "teams", "billing")["occupancy_ratio"] == exact(0.25)


def test_presence_team_carried_past_the_pane_retention() -> None:
    """The team named on a shift's first event still counts after that event is older than the
    pane retention (25 h) and expired: a1 available 26 h before with team t2, busy 10:00 without
    a team, offline 10:30. The 24 h window at 11:00 (from 11:15 the day before) counts
    23.75 h logged in for t2, 30 min of it busy."""
    events = [presence(-26 * 60, "a1", "available", team="t2"), created("x", 0),
              presence(0, "a1", "busy", team=None), presence(30, "a1", "offline", team=None)]
    values = kpis(feed(events).report(ms(60)), "teams", "t2")
    logged_in = (23 * 3600 + 45 * 60) - 30 * 60  # 11:15 the day before → 10:30
    assert (values["logged_in_seconds"], values["busy_seconds"]) == (logged_in, 1800)


def test_an_agents_team_follows_event_time_not_arrival() -> None:
    """An agent's ``team`` is the team of the latest fact credited to it, by event time. h1 is
    created 08:00 in team bot, assigned to a1 at 08:15 in team billing, and a1 replies 11:10:
    the reply is credited in billing, so a1 shows in billing whatever arrived first (the reply
    before the creation gave "bot", a team a1 never worked in)."""
    events = [reply("h1", 190, "a1"), created("h1", 0, team="bot"),
              assigned("h1", 15, "a1", team="billing")]
    for arrival in itertools.permutations(events):
        report = feed(list(arrival)).report(ms(600))
        assert report["windows"]["24h"]["agents"]["a1"]["team"] == "billing"
        assert report["live"]["agents"]["a1"]["team"] == "billing"
        assert kpis(report, "teams", "billing")["first_response_seconds"]["count"] == 1


def test_a_retracted_fact_no_longer_decides_the_team() -> None:
    """A late transfer moves a reply to another team: the retracted fact's team no longer
    labels the agent (even where its name would win a tie). c1 in zeta: a1 replies 10:30; a
    transfer to team alpha at 10:10 arrives last, so the reply is credited in alpha (the
    conversation's team at the stop)."""
    events = [created("c1", 0, team="zeta"), assigned("c1", 5, "a1", team="zeta"),
              reply("c1", 30, "a1"), assigned("c1", 10, "a2", team="alpha"),
              assigned("c1", 20, "a1", team="alpha")]
    report = feed(events).report(ms(60))
    assert report["windows"]["1h"]["agents"]["a1"]["team"] == "alpha"
    assert kpis(report, "teams", "alpha")["first_response_seconds"]["count"] == 1
    assert kpis(report, "teams", "zeta")["first_response_seconds"]["count"] == 0


def test_a_reply_more_than_a_day_late_still_credits_the_later_rating() -> None:
    """A closed conversation is packed after the pane retention, but nothing of it is lost: a
    reply dated before the close that arrives 31 h later still makes a1 the last human
    responder, whom the next day's rating credits (SPEC §3: the rated agent is the assignee at
    the rating, else its last human responder)."""
    events = [created("l1", -60, team="support"), status("l1", 5, "closed", agent_id="a2"),
              created("o1", 26 * 60, team="other"), reply("o1", 26 * 60 + 5, "a9"),
              reply("l1", -50, "a1"), rating("l1", 31 * 60, "csat", 5, about="agent")]
    report = feed(events).report(ms(32 * 60))
    for level, name in (("agents", "a1"), ("teams", "support"), ("overall", None)):
        assert kpis(report, level, name)["csat"]["responses"] == 1


def test_business_wait_uses_the_calendar_of_the_team_at_the_resolution() -> None:
    """SPEC §3: a business duration uses one calendar, the team's at the stop, for its whole
    span. c1 is created in tech (New York, 09:00–17:00) Monday 2026-11-02 21:28:34Z = 16:28
    local, inside tech's hours; it moves to billing (Dublin, 08:00–18:00) before the
    resolution at 21:43:34Z = 21:43 in Dublin. Open 21:28:34–21:31:34 and 21:34:34–21:43:34:
    720 s of wait, none of it inside billing's hours (the first stretch counted 180 s on tech's
    calendar before)."""
    config = KpiConfig.model_validate({"teams": {
        "billing": {"timezone": "Europe/Dublin", "business_hours": {
            "mon": ["08:00-12:30", "13:30-18:00"]}},
        "tech": {"timezone": "America/New_York", "business_hours": {"mon": ["09:00-17:00"]}}}})
    events = [
        created("c1", "2026-11-02T21:28:34Z", team="tech"),
        status("c1", "2026-11-02T21:31:34Z", "snoozed", by="bot"),
        status("c1", "2026-11-02T21:34:34Z", "open", by="customer"),
        assigned("c1", "2026-11-02T21:37:34Z", "bil-0", team="billing"),
        reply("c1", "2026-11-02T21:42:34Z", "bil-0"),
        status("c1", "2026-11-02T21:43:34Z", "resolved", agent_id="bil-0"),
    ]
    report = feed(events, config).report(ms("2026-11-02T22:00:00Z"))
    for level, name in (("teams", "billing"), ("agents", "bil-0")):
        values = kpis(report, level, name)
        assert dist(values, "wait_seconds") == (1, 720.0)
        assert dist(values, "wait_business_seconds") == (1, 0.0)
        assert dist(values, "resolution_business_seconds") == (1, 0.0)


# == live state =================================================================================


def test_live_state() -> None:
    """Live state at 10:50, team "live" with a next-response target of 1800 s (first response
    3600 s, at_risk_ratio 0.8 → at risk past 2880 s).

    c1 created 10:00, unassigned, no reply       open, unassigned, awaiting; 3000 s → at risk
    c2 created 09:00, assigned a1                 open, awaiting; 6600 s → breaching (oldest)
    c3 a1 replied, then pending                   waiting_on_customer
    c4 a2 replied (never assigned), customer      open, unassigned; NR running since 10:10 (the
       10:10 and 10:20                              10:20 message does not restart it): 2400 s
                                                    → breaching
    c5 resolved                                   nowhere
    c6 agent-initiated, assigned a2               open, assigned_open for a2; no clock
    c7 created 10:30, snoozed 10:31, unassigned   waiting, unassigned, awaiting; 1200 s: no risk
    """
    config = KpiConfig.model_validate({"teams": {"live": {"sla": {"next_response":
                                                                  {"target": 1800}}}}})
    events = [
        presence(-120, "a1", "available", team="live"),
        presence(-10, "a3", "away", team="live"),
        created("c1", 0, team="live"),
        created("c2", -60, team="live"), assigned("c2", -59, "a1"),
        created("c3", 0, team="live"), assigned("c3", 1, "a1"), reply("c3", 5, "a1"),
        status("c3", 6, "pending"),
        created("c4", 0, team="live"), reply("c4", 1, "a2"), customer("c4", 10),
        customer("c4", 20),
        created("c5", 0, team="live"), assigned("c5", 1, "a2"), reply("c5", 2, "a2"),
        status("c5", 3, "resolved"),
        created("c6", 0, team="live", initiator="agent"), assigned("c6", 0, "a2"),
        created("c7", 30, team="live"), status("c7", 31, "snoozed"),
    ]
    live = feed(events, config).report(ms(50))["live"]
    expected = {
        "open": 4, "unassigned": 3, "waiting_on_customer": 2, "awaiting_first_response": 3,
        "oldest_awaiting_first_response_seconds": 6600, "sla_breaching": 2, "sla_at_risk": 1,
    }
    assert live["overall"] == expected
    assert live["teams"]["live"] == expected
    a1 = dict(live["agents"]["a1"])
    a1.pop("team", None)
    assert a1 == {
        "open": 1, "unassigned": 0, "waiting_on_customer": 1, "awaiting_first_response": 1,
        "oldest_awaiting_first_response_seconds": 6600, "sla_breaching": 1, "sla_at_risk": 0,
        "assigned_open": 1, "status": "available",
    }
    a2 = dict(live["agents"]["a2"])
    a2.pop("team", None)
    assert a2 == {
        "open": 1, "unassigned": 0, "waiting_on_customer": 0, "awaiting_first_response": 0,
        "oldest_awaiting_first_response_seconds": None, "sla_breaching": 0, "sla_at_risk": 0,
        "assigned_open": 1, "status": "offline",
    }
    a3 = live["agents"]["a3"]
    assert a3["status"] == "away"
    assert a3["assigned_open"] == 0
    assert a3["open"] == 0


def test_live_sla_clock_in_business_seconds() -> None:
    """A business-hours first-response target (3600 s) is judged live in business seconds; at
    Tuesday 09:30 (at-risk share 0.8 → 2880 s):
    c1 created Mon 16:50 → 10 + 30 min = 2400 s: neither (wall clock 16 h 40 min)
    c2 created Mon 16:10 → 50 + 30 min = 4800 s: breaching
    c3 created Mon 16:40 → 20 + 30 min = 3000 s: at risk
    Reading: oldest_awaiting_first_response_seconds is wall-clock age (c2: 17 h 20 min)."""
    config = KpiConfig.model_validate(
        {"defaults": {"sla": {"first_response": {"target": 3600, "business_hours": True}}}})
    events = [created("c1", 410), created("c2", 370), created("c3", 400)]
    live = feed(events, config).report(ms(1410))["live"]["overall"]
    assert live["awaiting_first_response"] == 3
    assert live["sla_breaching"] == 1
    assert live["sla_at_risk"] == 1
    assert live["oldest_awaiting_first_response_seconds"] == 62_400


def test_team_less_fact_counts_at_overall_only() -> None:
    """A conversation without a team: its facts count for the agent and overall, no team."""
    events = [created("c1", 0, team=None), assigned("c1", 1, "a1"), reply("c1", 10, "a1")]
    report = feed(events).report(ms(11))
    assert report["windows"]["24h"]["teams"] == {}
    assert report["live"]["teams"] == {}
    assert kpis(report)["conversations_created"] == 1
    assert dist(kpis(report), "first_response_seconds") == (1, 600.0)
    assert dist(kpis(report, "agents", "a1"), "first_response_seconds") == (1, 600.0)


# == windows ====================================================================================


def test_windows_1h_and_24h_boundaries() -> None:
    """At t = Monday 12:00 the 1h window is the 60 one-minute panes 11:01 … 12:00 (only events
    before 12:00), the 24h window the 96 quarter-hour panes from Sunday 12:15.

    c1 10:00 (2 h before t)      24h only
    c2 11:01:00                  both
    c3 11:00:30                  24h only (its pane 11:00 is the 61st)
    c4 12:00:00 (= t)            neither
    c5 11:59:59.999              both
    c6 Sunday 12:14              neither (pane 12:00–12:15 is the 97th)
    c7 Sunday 12:15              24h only
    c8 created 10:00, first response 11:30: the fact belongs to the pane of its stop → 1h
    """
    events = [
        created("c1", 0), created("c2", 61), created("c3", at(60, 30)), created("c4", 120),
        created("c5", at(119, 59.999)), created("c6", -1306), created("c7", -1305),
        created("c8", 0), reply("c8", 90, "a1"),
    ]
    report = feed(events).report(ms(120))
    assert report["as_of"] == "2024-03-04T12:00:00.000Z"
    one, day = kpis(report, window="1h"), kpis(report)
    assert one["conversations_created"] == 2
    assert day["conversations_created"] == 6
    assert dist(one, "first_response_seconds") == (1, 5400.0)
    assert dist(day, "first_response_seconds") == (1, 5400.0)


def test_window_excludes_events_at_or_after_a_sub_minute_as_of() -> None:
    """Only events with at < t count, also when t is not on a whole minute: replay leaves out
    events at or after --as-of, so at t = 10:00:30 the conversation created at 10:00:40 is
    not in. (The engine's panes are one minute wide; a report asked of a running engine at a
    mid-minute t that already holds later events counts that minute whole, as documented.)"""
    import orjson

    from service.replay import replay_lines

    engine = KpiEngine(KpiConfig())
    lines = [orjson.dumps(created("c1", at(0, 10))), orjson.dumps(created("c2", at(0, 40)))]
    stats = replay_lines(engine, lines, ms(at(0, 30)))
    assert stats.after_as_of == 1
    report = engine.report(ms(at(0, 30)))
    assert kpis(report, window="1h")["conversations_created"] == 1
    assert kpis(report)["conversations_created"] == 1
    assert report["live"]["overall"]["open"] == 1


def test_whole_minute_as_of_excludes_later_facts_already_applied() -> None:
    """Panes are whole minutes, so at a whole-minute t the engine is exact even when it holds
    events after t (the running service asked for a past as_of)."""
    engine = feed([created("c1", at(0, 10)), created("c2", at(1, 0)), created("c3", at(1, 40))])
    report = engine.report(ms(at(1)))
    assert kpis(report, window="1h")["conversations_created"] == 1
    assert kpis(report)["conversations_created"] == 1


def test_one_event_days_ahead_does_not_empty_the_windows() -> None:
    """A backfill of 12 conversations (created every 4 minutes from 10:00, assigned to a1 five
    minutes later), and, third in arrival, a stray conversation dated three days later. The
    stray event waits for company (SPEC §4: no single event moves time for everyone): nothing
    of the backfill is late, its panes stay, and a1 has 12 assignments in the hour to 11:00,
    also in the default as-of's report, which follows the backfill, not three days on."""
    backfill: list[dict[str, Any]] = []
    for i in range(12):
        backfill += [created(f"c{i}", i * 4), assigned(f"c{i}", i * 4 + 5, "a1")]
    stray = created("far", 3 * 24 * 60)
    engine = feed([*backfill[:2], stray, *backfill[2:]])
    assert engine.counts["late"] == 0
    hour = kpis(engine.report(ms(60)), "agents", "a1", window="1h")
    assert hour["assigned"] == 12  # 10:05, 10:09, … 10:49
    default = engine.report()
    assert default["as_of"] == "2024-03-04T10:50:00.000Z"  # the minute after 10:49
    assert kpis(default, "agents", "a1", window="1h")["assigned"] == 12


def test_a_conversation_created_after_the_as_of_is_not_live_then() -> None:
    """The live state is the latest one; a report of an earlier time leaves out conversations
    created after it (a worker holds them already, replay with ``--as-of`` never read them)."""
    engine = feed([created("early", 0), created("later", 120)])
    assert kpis(engine.report(ms(60)), window="live")["open"] == 1
    assert kpis(engine.report(ms(121)), window="live")["open"] == 2
    queued = engine.queue("open", ms(60))
    assert [c["conversation_id"] for c in queued["conversations"]] == ["early"]


# == arrival order and duplicates ===============================================================


def test_reply_before_created_gives_same_first_response() -> None:
    in_order = [created("c1", 0), assigned("c1", 1, "a1"), reply("c1", 10, "a1")]
    reordered = [in_order[2], in_order[1], in_order[0]]
    expected = feed(in_order).report(ms(11))
    report = feed(reordered).report(ms(11))
    assert dist(kpis(report), "first_response_seconds") == (1, 600.0)
    assert dist(kpis(report, "agents", "a1"), "first_response_seconds") == (1, 600.0)
    assert report == expected


def test_duplicate_event_id_changes_nothing() -> None:
    events = [
        presence(0, "a1", "available"),
        created("c1", 1), assigned("c1", 2, "a1", method="pull"), reply("c1", 10, "a1"),
        customer("c1", 20), reply("c1", 25, "a1"), status("c1", 30, "resolved"),
        rating("c1", 31, "csat", 5), review(32, "a1", 90), review(33, "a1", 70, cid="c1"),
        presence(40, "a1", "offline"),
    ]
    once = feed(events).report(ms(41))
    engine = KpiEngine(KpiConfig())
    for raw in events:
        assert engine.process(event_adapter.validate_python(raw)) is not None
    for raw in events:
        assert engine.process(event_adapter.validate_python(raw)) is None
    twice = engine.report(ms(41))
    assert twice == once
    a1 = kpis(twice, "agents", "a1")
    assert a1["assigned"] == 1
    assert dist(a1, "first_response_seconds") == (1, 540.0)
    assert a1["csat"]["responses"] == 1
    assert a1["qa"] == {"reviews": 2, "avg": 80.0}
    assert a1["logged_in_seconds"] == 2400


def _scenario() -> list[dict[str, Any]]:
    """Events with distinct times within each conversation and each agent's presence, so that
    `at` order is unambiguous whatever the arrival order."""
    return [
        presence(0, "a1", "available"),
        created("c1", 1), assigned("c1", 2, "a1"), customer("c1", 3), reply("c1", 9, "a1"),
        customer("c1", 12), customer("c1", 14), status("c1", 15, "pending"),
        status("c1", 20, "open", by="customer"), reply("c1", 22, "a1"),
        status("c1", 30, "resolved"), status("c1", 31, "open", by="customer"),
        status("c1", 33, "closed"), rating("c1", 34, "csat", 4), rating("c1", 35, "nps", 10),
        created("c2", 2), assigned("c2", 3, "a2"), abandoned("c2", 8),
        created("c3", 4), reply("c3", 6, "a2"), assigned("c3", 7, "a1"), reply("c3", 11, "a1"),
        status("c3", 13, "resolved", agent_id="a1"),
        created("c4", 5), status("c4", 6, "resolved", by="customer"),
        created("c5", 5), assigned("c5", 6, "a1"),
        review(40, "a1", 75, cid="c1"), review(41, "a2", 60, team="t1"),
        presence(45, "a1", "busy"), presence(50, "a1", "offline"),
    ]


@settings(max_examples=60, deadline=None)
@given(order=st.permutations(range(31)), duplicates=st.lists(st.integers(0, 30), max_size=10),
       seed=st.integers(0, 2**16))
def test_any_arrival_order_and_duplicates_give_the_same_report(
    order: list[int], duplicates: list[int], seed: int
) -> None:
    events = _scenario()
    assert len(events) == 31
    expected = feed(events).report(ms(60))
    arrivals = [events[i] for i in order]
    for i in duplicates:
        arrivals.insert(random.Random(seed + i).randrange(len(arrivals) + 1), events[i])
    report = feed(arrivals).report(ms(60))
    assert report == expected


# == weighted score =============================================================================


def test_weighted_score_by_hand() -> None:
    """Default weights: csat.positive_ratio 3 (target 0.9, higher), first_response_seconds 2
    (3600, lower), qa.avg 2 (85, higher), fcr_ratio 1 (0.7, higher), pulled_per_hour 1 (4,
    higher); only KPIs with data count.

    a1: csat 5 and 2 → positive_ratio 0.5 → a = 0.5/0.9 = 5/9; first response 7200 s → a =
    3600/7200 = 0.5; qa 68 → a = 0.8; fcr 1.0 → a = min(1, 1/0.7) = 1; no logged-in time →
    pulled_per_hour null, left out. Score = 100 × (3·5/9 + 2·0.5 + 2·0.8 + 1·1) / 8 = 65.8333…
    a2: only pulled_per_hour has data: 2 pulled in 1 logged-in hour → a = 2/4 → 50.
    """
    events = [
        created("c1", 0), assigned("c1", 1, "a1"), reply("c1", 120, "a1"),
        status("c1", 121, "resolved"),
        created("c2", 0), assigned("c2", 1, "a1"),
        rating("c1", 122, "csat", 5), rating("c2", 122, "csat", 2),
        review(123, "a1", 68),
        presence(60, "a2", "available"),
        created("c3", 70), assigned("c3", 70, "a2", method="pull"),
        created("c4", 80), assigned("c4", 80, "a2", method="pull"),
        presence(120, "a2", "offline"),
    ]
    report = feed(events).report(ms(130))
    a1 = kpis(report, "agents", "a1")
    assert a1["csat"]["positive_ratio"] == 0.5
    assert a1["first_response_seconds"]["avg"] == 7200.0
    assert a1["qa"]["avg"] == 68.0
    assert a1["fcr_ratio"] == 1.0
    assert a1["pulled_per_hour"] is None
    expected_a1 = 100 * (3 * (0.5 / 0.9) + 2 * 0.5 + 2 * 0.8 + 1 * 1) / 8
    assert a1["weighted_score"] == exact(expected_a1)
    assert expected_a1 == exact(65.8333333333)
    assert kpis(report, "agents", "a1", window="1h")["weighted_score"] == exact(expected_a1)
    a2 = kpis(report, "agents", "a2")
    assert a2["pulled_per_hour"] == exact(2.0)
    assert a2["weighted_score"] == exact(50.0)
    assert "weighted_score" not in kpis(report)
    assert "weighted_score" not in kpis(report, "teams", "t1")

"""Simulated traffic in Intercom's webhook shape maps back to the same KPIs where Intercom can
carry them (the demo's path through the gateway): the canonical replay is the reference."""

from typing import Any

from schemas import event_adapter
from service.config import KpiConfig
from service.desk import DeskShape, desk_events
from service.engine.engine import KpiEngine
from service.gateway.shapes import IntercomShapes
from service.gateway.vendors.intercom import map_delivery
from service.synthetic import TrafficShape, generate_events

CARRIED = ("conversations_created", "conversations_resolved", "reopened", "assigned", "pulled",
           "first_response_seconds", "next_response_seconds", "resolution_seconds",
           "fcr_ratio", "logged_in_seconds")
"""What Intercom's webhooks carry in full. Not carried: closed (Intercom closes are
resolutions), NPS/CES and QA reviews, busy and after-work presence, ratings about the
product; and wait time differs where Intercom reopens a snoozed conversation on the
customer's reply (the canonical stream keeps it pending)."""


def replays() -> tuple[dict[str, Any], dict[str, Any], int]:
    canonical, through_intercom = KpiEngine(KpiConfig()), KpiEngine(KpiConfig())
    shapes = IntercomShapes("demo")
    skipped = 0
    for event in generate_events(TrafficShape(conversations=300, agents=16,
                                              conversations_per_minute=4), seed=7):
        canonical.process(event_adapter.validate_python(event))
        body = shapes.notification(event)
        if body is None:
            skipped += 1
            continue
        for mapped in map_delivery(body, {}, None).events:
            through_intercom.process(event_adapter.validate_python(mapped))
    return canonical.report(), through_intercom.report(), skipped


def test_intercom_shaped_traffic_keeps_the_kpis_intercom_carries() -> None:
    expected, got, skipped = replays()
    assert skipped > 0
    for window in ("1h", "24h"):
        for key in CARRIED:
            assert got["windows"][window]["overall"][key] == \
                expected["windows"][window]["overall"][key], (window, key)
    assert expected["windows"]["24h"]["overall"]["conversations_resolved"] > 0
    assert got["windows"]["24h"]["overall"]["conversations_closed"] == 0
    assert got["live"]["overall"] == expected["live"]["overall"]


def test_the_demo_desks_agent_names_reach_the_report_through_intercoms_shape() -> None:
    shapes, engine = IntercomShapes("demo"), KpiEngine(KpiConfig())
    shape = DeskShape(start_ms=1_780_000_000_000, agents=20)
    named: dict[str, str] = {}
    for event in desk_events(shape, until_ms=shape.start_ms + 2 * 3_600_000):
        if event.get("agent_name"):
            named[event["agent_id"]] = event["agent_name"]
        body = shapes.notification(event)
        for mapped in [] if body is None else map_delivery(body, {}, None).events:
            engine.process(event_adapter.validate_python(mapped))
    agents = engine.report()["names"]["agents"]
    assert agents, "the desk's agents worked in two hours"
    assert agents == {f"intercom:demo:{agent}": named[agent]
                      for agent in named if f"intercom:demo:{agent}" in agents}
    assert len(set(named.values())) == len(named), "one name per agent"

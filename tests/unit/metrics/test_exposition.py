"""The KPI exposition writes, byte for byte, what prometheus_client's ``generate_latest``
writes for the KPI collector of the same report (the library is the reference)."""

from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from schemas import event_adapter
from service.config import KpiConfig
from service.engine.engine import KpiEngine
from service.metrics.collector import KpiCollector
from service.metrics.exposition import KpiExposition
from service.synthetic import TrafficShape, generate_events

CONFIG = KpiConfig.model_validate(yaml.safe_load("""
teams:
  t0:
    sla:
      first_response: {target: 600, objective: 0.9}
  billing:
    name: 'Billing "EU" \\ Berlin'
agents:
  agent-0001: {name: Ana Souza}
"""))
ODD = 'a "quoted" team \\ with\na newline'
"""A team name with every character the format escapes in a label value."""


def report() -> dict[str, Any]:
    engine = KpiEngine(CONFIG)
    events = list(generate_events(TrafficShape(conversations=300, agents=12), seed=5))
    events += [
        {"id": "odd-1", "type": "agent.status_changed", "at": events[-1]["at"],
         "agent_id": "odd-agent", "status": "available", "team": ODD},
        {"id": "odd-2", "type": "conversation.created", "at": events[-1]["at"],
         "conversation_id": "odd-c", "team": ODD, "channel": "chat"}]
    for event in events:
        engine.process(event_adapter.validate_python(event))
    return engine.report()


@pytest.mark.parametrize("agent_kpis", [None, ["first_response_seconds", "status"], []])
@pytest.mark.parametrize("with_teams", [False, True])
def test_equals_prometheus_client(agent_kpis: list[str] | None, with_teams: bool) -> None:
    data = report()
    teams = CONFIG.team if with_teams else None
    collector = KpiCollector(lambda: data, agent_kpis, teams)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    expected = generate_latest(registry)
    assert b'team="a \\"quoted\\" team \\\\ with\\na newline"' in expected
    assert b'support_team_info{name="Billing \\"EU\\" \\\\ Berlin",team="billing"} 1.0' in expected
    assert b'support_team_info{name="tech",team="tech"} 1.0' in expected
    if agent_kpis != []:
        assert b'support_agent_info{agent="agent-0001",name="Ana Souza"} 1.0' in expected
    else:
        assert b"support_agent_info" not in expected, "no agent series, no agent names"
    assert KpiExposition(agent_kpis, teams).render(data) == expected


def test_an_empty_report_has_every_header_and_no_sample() -> None:
    collector = KpiCollector(lambda: {})
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    body = KpiExposition().render({})
    assert body == generate_latest(registry)
    assert body and all(line.startswith(b"#") for line in body.splitlines())


def expected_body(data: dict[str, Any]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(KpiCollector(lambda: data, None, CONFIG.team))
    return generate_latest(registry)


def test_lines_kept_between_scrapes_are_the_lines_of_the_new_report() -> None:
    """One exposition scraped while events arrive and the as-of moves (values reused, changed,
    gone) writes each report as prometheus_client does."""
    engine = KpiEngine(CONFIG)
    events = [event_adapter.validate_python(e) for e in
              generate_events(TrafficShape(conversations=200, agents=8), seed=9)]
    exposition = KpiExposition(None, CONFIG.team)
    rendered = 0
    for part in range(1, 5):
        for event in events[(part - 1) * len(events) // 4:part * len(events) // 4]:
            engine.process(event)
        as_of = engine.default_as_of()
        for later_s in (0, 15, 75):
            data = engine.report(as_of + later_s * 1000)
            assert exposition.render(data) == expected_body(data)
            rendered += 1
    assert rendered == 12


def test_an_equal_float_of_another_sign_is_written_anew() -> None:
    data = report()
    exposition = KpiExposition(None, CONFIG.team)
    exposition.render(data)
    agent = next(iter(data["windows"]["1h"]["agents"].values()))
    agent["occupancy_ratio"] = 0.0
    first = exposition.render(data)
    agent["occupancy_ratio"] = -0.0
    second = exposition.render(data)
    assert first != second and second == expected_body(data)
    assert b"-0.0" in second

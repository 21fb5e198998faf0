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
    assert KpiExposition(agent_kpis, teams).render(data) == expected


def test_an_empty_report_has_every_header_and_no_sample() -> None:
    collector = KpiCollector(lambda: {})
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    body = KpiExposition().render({})
    assert body == generate_latest(registry)
    assert body and all(line.startswith(b"#") for line in body.splitlines())

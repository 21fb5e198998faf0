"""Shared event streams for the property tests: synthetic traffic with distinct times per
conversation, names for people on some events (several per agent and team, so the latest
must win), a two-team configuration, and the reference report."""

from functools import cache
from typing import Any

from schemas import event_adapter
from service.config import KpiConfig, load_config
from service.engine.engine import KpiEngine
from service.synthetic import TrafficShape, generate_events

CONFIG_YAML = """
defaults:
  sla:
    next_response: {target: 1800, pause_while: [pending, snoozed]}
    resolution: {target: 7200, pause_while: [pending]}
teams:
  billing:
    timezone: Europe/Berlin
    sla: {first_response: {target: 1800, business_hours: true, pause_while: [pending, snoozed]}}
  tech: {timezone: America/New_York, priorities: {urgent: {first_response: {target: 300}}}}
"""


@cache
def config() -> KpiConfig:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(CONFIG_YAML)
    return load_config(handle.name)


@cache
def stream(seed: int) -> tuple[Any, ...]:
    shape = TrafficShape(conversations=60, agents=6, conversations_per_minute=2.0)
    raw = list(generate_events(shape, seed=seed))
    seen: set[tuple[str, str]] = set()
    for event in raw:
        key = event.get("conversation_id") or event.get("agent_id")
        while (key, event["at"]) in seen:
            event["at"] = event["at"][:-4] + f"{(int(event['at'][-4:-1]) + 1) % 1000:03d}Z"
        seen.add((key, event["at"]))
    for n, event in enumerate(raw):
        if event.get("agent_id") and n % 3 == 0:
            event["agent_name"] = f"Agent {event['agent_id']} ({n % 4})"
        if event.get("team") and n % 4 == 1:
            event["team_name"] = f"Team {event['team']} ({n % 3})"
    return tuple(event_adapter.validate_python(e) for e in raw)


def report_of(events: Any, as_of_ms: int | None = None) -> dict[str, Any]:
    engine = KpiEngine(config())
    for event in events:
        engine.process(event)
    return engine.report(as_of_ms)


def _ms(at: Any) -> int:
    from service.engine.records import to_epoch_ms

    return to_epoch_ms(at)


def _as_of(report: dict[str, Any]) -> int:
    from datetime import datetime

    return _ms(datetime.fromisoformat(report["as_of"]))

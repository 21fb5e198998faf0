"""The KPI collector: SPEC §6 names and labels, read from the report at scrape time."""

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from schemas import event_adapter
from service.config import KpiConfig
from service.engine.engine import KpiEngine
from service.metrics.collector import KpiCollector
from service.metrics.names import metric_name, metric_specs

T = "2024-03-04T10:{:02d}:00Z"


def _engine() -> KpiEngine:
    engine = KpiEngine(KpiConfig())
    for event in [
        {"type": "agent.status_changed", "at": T.format(0), "agent_id": "a7", "status": "available",
         "team": "billing"},
        {"type": "conversation.created", "at": T.format(1), "conversation_id": "c1",
         "team": "billing"},
        {"type": "conversation.assigned", "at": T.format(2), "conversation_id": "c1",
         "agent_id": "a7", "method": "pull"},
        {"type": "message.created", "at": T.format(6), "conversation_id": "c1", "author": "agent",
         "agent_id": "a7"},
        {"type": "conversation.created", "at": T.format(7), "conversation_id": "c2",
         "team": "billing"},
    ]:
        engine.process(event_adapter.validate_python({"id": f"{event['type']}{event['at']}",
                                                      **event}))
    return engine


def _registry(report: dict[str, Any]) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(KpiCollector(lambda: report))
    return registry


def test_distribution_stats_count_and_labels() -> None:
    report = _engine().report()
    registry = _registry(report)
    labels = {"agent": "a7", "team": "billing", "window": "1h"}
    expected = report["windows"]["1h"]["agents"]["a7"]["first_response_seconds"]
    assert expected["avg"] == 300.0
    assert registry.get_sample_value("support_agent_first_response_seconds",
                                     {**labels, "stat": "avg"}) == 300.0
    assert registry.get_sample_value("support_agent_first_response_seconds",
                                     {**labels, "stat": "p90"}) == expected["p90"]
    assert registry.get_sample_value("support_agent_first_response_samples", labels) == 1
    assert registry.get_sample_value("support_agent_first_response_seconds_count", labels) is None


def test_groups_live_and_presence() -> None:
    registry = _registry(_engine().report())
    assert registry.get_sample_value("support_team_sla_first_response_achieved",
                                     {"team": "billing", "window": "24h"}) == 1
    assert registry.get_sample_value("support_overall_conversations_created",
                                     {"window": "1h"}) == 2
    assert registry.get_sample_value("support_team_awaiting_first_response",
                                     {"team": "billing"}) == 1
    assert registry.get_sample_value("support_agent_status",
                                     {"agent": "a7", "team": "billing",
                                      "status": "available"}) == 1
    assert registry.get_sample_value("support_agent_status",
                                     {"agent": "a7", "team": "billing", "status": "busy"}) == 0


def test_null_values_have_no_sample() -> None:
    registry = _registry(_engine().report())
    assert registry.get_sample_value("support_team_csat_positive_ratio",
                                     {"team": "billing", "window": "1h"}) is None
    assert registry.get_sample_value("support_team_csat_responses",
                                     {"team": "billing", "window": "1h"}) == 0


def test_keys_missing_from_the_report_have_no_series() -> None:
    report = _engine().report()
    for levels in (*report["windows"].values(), report["live"]):
        del levels["overall"]
        levels["agents"].clear()
    text = generate_latest(_registry(report)).decode()
    assert "support_overall_conversations_created{" not in text
    assert 'agent="a7"' not in text
    assert 'support_team_conversations_created{team="billing",window="1h"} 2.0' in text


def test_every_report_leaf_has_a_metric() -> None:
    report = _engine().report()
    names = {spec.name for spec in metric_specs()}
    level_names = {"agents": "agent", "teams": "team"}

    def leaves(value: Any, path: tuple[str, ...]) -> list[tuple[str, ...]]:
        if isinstance(value, dict):
            return [leaf for k, v in value.items() for leaf in leaves(v, (*path, k))]
        return [path]

    for block in (*report["windows"].values(), report["live"]):
        kpis_by_level = [("overall", block["overall"])]
        kpis_by_level += [(level_names[lv], next(iter(block[lv].values()))) for lv in level_names]
        for level, kpis in kpis_by_level:
            for path in leaves(kpis, ()):
                if path == ("team",):
                    continue
                if path[-1] in ("avg", "p50", "p90") and len(path) == 2 and path[0].endswith(
                        "seconds"):
                    path = path[:1]
                assert metric_name(level, path) in names, path

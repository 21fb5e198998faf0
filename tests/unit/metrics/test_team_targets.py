"""Each team's configured SLA targets and objectives as gauges (SPEC §5), so that alert rules
compare a team with its own goals."""

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from service.config import DEFAULT_OBJECTIVE, KpiConfig
from service.metrics.collector import KpiCollector
from service.metrics.names import TARGET_METRICS

CONFIG = KpiConfig.model_validate(yaml.safe_load("""
defaults:
  sla:
    next_response: {objective: 0.8}
  priorities:
    urgent: {first_response: {target: 900}}
teams:
  vip:
    sla:
      first_response: {target: 600, objective: 0.99}
"""))

REPORT = {"as_of": "2024-03-04T10:00:00Z",
          "windows": {"1h": {"teams": {"vip": {}}}, "24h": {"teams": {"vip": {}}}},
          "live": {"teams": {"billing": {}}}}


def _samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(KpiCollector(lambda: REPORT, [], CONFIG.team))
    text = generate_latest(registry).decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if family.name in {t.name for t in TARGET_METRICS}}


def test_every_team_of_the_report_exports_its_own_targets() -> None:
    samples = _samples()
    target = "support_team_sla_target_seconds"
    objective = "support_team_sla_objective_ratio"

    def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        return name, tuple(sorted(labels.items()))

    assert samples[key(target, team="vip", sla="first_response", priority="normal")] == 600
    assert samples[key(target, team="vip", sla="first_response", priority="urgent")] == 900
    assert samples[key(target, team="billing", sla="first_response", priority="normal")] == 3600
    assert samples[key(target, team="billing", sla="resolution", priority="low")] == 86400
    assert samples[key(objective, team="vip", sla="first_response")] == 0.99
    assert samples[key(objective, team="vip", sla="next_response")] == 0.8
    assert samples[key(objective, team="billing", sla="resolution")] == DEFAULT_OBJECTIVE
    # 2 teams × 3 kinds × 4 priorities targets, 2 × 3 objectives
    assert len(samples) == 2 * 3 * 4 + 2 * 3


def test_without_a_team_resolver_no_target_is_exported() -> None:
    registry = CollectorRegistry()
    registry.register(KpiCollector(lambda: REPORT, []))
    names = {family.name for family in registry.collect()}
    assert not names & {t.name for t in TARGET_METRICS}


def test_an_objective_is_a_ratio_and_not_per_priority() -> None:
    with pytest.raises(ValueError, match="objective"):
        KpiConfig.model_validate({"defaults": {"sla": {"first_response": {"objective": 1}}}})
    with pytest.raises(ValueError, match=r"priorities\.urgent\.first_response\.objective"):
        KpiConfig.model_validate(
            {"teams": {"vip": {"priorities": {"urgent": {"first_response": {"objective": 0.5}}}}}})

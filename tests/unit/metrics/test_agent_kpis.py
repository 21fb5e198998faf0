"""``metrics.agent_kpis``: which report keys ``/metrics`` exports per agent (SPEC §6). Teams and
overall keep everything; the config names a bad key."""

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from test_collector import _engine

from service.config import (
    AGENT_KPIS,
    DEFAULT_AGENT_KPIS,
    ConfigError,
    KpiConfig,
    load_config,
)
from service.metrics.collector import KpiCollector
from service.metrics.names import metric_specs

AGENT = {"agent": "a7", "team": "billing"}
ROOT = Path(__file__).resolve().parents[3]


def _registry(report: dict[str, Any], agent_kpis: Any) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(KpiCollector(lambda: report, agent_kpis))
    return registry


def _load(tmp_path: Path, text: str) -> KpiConfig:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path)


# --- the collector ---------------------------------------------------------------------------

def test_only_listed_agent_kpis_are_exported() -> None:
    report = _engine().report()
    registry = _registry(report, ["first_response_seconds", "status"])
    window = {**AGENT, "window": "1h"}
    assert registry.get_sample_value("support_agent_first_response_seconds",
                                     {**window, "stat": "avg"}) == 300.0
    assert registry.get_sample_value("support_agent_first_response_samples", window) == 1
    assert registry.get_sample_value("support_agent_status",
                                     {**AGENT, "status": "available"}) == 1
    assert registry.get_sample_value("support_agent_pulled", window) is None
    assert registry.get_sample_value("support_agent_assigned_open", AGENT) is None
    # teams and overall keep everything
    assert registry.get_sample_value("support_team_pulled",
                                     {"team": "billing", "window": "1h"}) == 1
    assert registry.get_sample_value("support_overall_pulled", {"window": "1h"}) == 1
    assert registry.get_sample_value("support_team_csat_responses",
                                     {"team": "billing", "window": "1h"}) == 0
    text = generate_latest(registry).decode()
    agent_families = {line.split()[2] for line in text.splitlines()
                      if line.startswith("# TYPE support_agent_")}
    assert agent_families == {"support_agent_first_response_seconds",
                              "support_agent_first_response_samples", "support_agent_status",
                              "support_agent_info"}


def test_none_and_all_export_every_agent_metric() -> None:
    report = _engine().report()
    everything = generate_latest(_registry(report, None))
    assert generate_latest(_registry(report, AGENT_KPIS)) == everything
    assert b"support_agent_pulled{" in everything


def test_empty_list_exports_no_agent_series() -> None:
    text = generate_latest(_registry(_engine().report(), ())).decode()
    assert 'agent="a7"' not in text
    assert "support_team_conversations_created{" in text


def test_default_set_exports_the_core_keys() -> None:
    registry = _registry(_engine().report(), KpiConfig().metrics.agent_kpis)
    window = {**AGENT, "window": "1h"}
    assert registry.get_sample_value("support_agent_assigned", window) == 1
    assert registry.get_sample_value("support_agent_assigned_open", AGENT) is not None
    assert registry.get_sample_value("support_agent_first_response_samples", window) == 1
    assert registry.get_sample_value("support_agent_pulled", window) is None
    assert registry.get_sample_value("support_agent_wait_samples", window) is None


def test_default_set_is_a_core_subset() -> None:
    assert set(DEFAULT_AGENT_KPIS) < set(AGENT_KPIS)
    agent_specs = [s for s in metric_specs() if s.level == "agent"]

    def series(keys: tuple[str, ...]) -> int:
        return sum((2 if s.windowed else 1) * (3 if s.stat_label else 5 if s.kind == "stateset"
                                               else 1)
                   for s in agent_specs if s.path[0] in keys)

    # an agent with data in every KPI: well under half the series of `all`
    assert series(DEFAULT_AGENT_KPIS) * 2 < series(AGENT_KPIS)


# --- the config key --------------------------------------------------------------------------

def test_default_and_example_config() -> None:
    assert KpiConfig().metrics.agent_kpis == DEFAULT_AGENT_KPIS
    example = load_config(ROOT / "deploy" / "config.example.yaml")
    assert example.metrics.agent_kpis == DEFAULT_AGENT_KPIS


@pytest.mark.parametrize(("text", "expected"), [
    ("metrics: {agent_kpis: all}", AGENT_KPIS),
    ("metrics: {agent_kpis: [csat, status]}", ("csat", "status")),
    ("metrics: {agent_kpis: []}", ()),
    ("metrics: {agent_kpis: }", ()),
    ("metrics: {}", DEFAULT_AGENT_KPIS),
    ("metrics:", DEFAULT_AGENT_KPIS),
])
def test_agent_kpis_values(tmp_path: Path, text: str, expected: tuple[str, ...]) -> None:
    assert _load(tmp_path, text).metrics.agent_kpis == expected


@pytest.mark.parametrize(("text", "message"), [
    ("metrics: {agent_kpis: [csat, nope]}",
     "metrics.agent_kpis[1]: unknown per-agent KPI 'nope'"),
    ("metrics: {agent_kpis: [csat_all]}",
     "metrics.agent_kpis[0]: unknown per-agent KPI 'csat_all'"),
    ("metrics: {agent_kpis: everything}",
     "metrics.agent_kpis: expected `all` or a list of report keys, not 'everything'"),
    ("metrics: {agent_kpis: [csat, csat]}", "metrics.agent_kpis: listed more than once: csat"),
    ("metrics: {agent_kpi: [csat]}", "metrics.agent_kpi: Extra inputs are not permitted"),
])
def test_a_bad_agent_kpis_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, text)
    assert message in str(error.value)

"""The exposition Prometheus scrapes: ``promtool check metrics`` accepts it, and the default
per-agent KPI set (``metrics.agent_kpis``) keeps every agent metric the shipped dashboard and
alert rules read. A real worker's scrape is checked in tests/integration/test_metrics_promtool.py.
"""

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from schemas import event_adapter
from service.config import DEFAULT_AGENT_KPIS, KpiConfig
from service.engine.engine import KpiEngine
from service.metrics.collector import KpiCollector
from service.metrics.names import metric_specs
from service.stream.health import Health
from tools.dashboard import build_dashboard

ROOT = Path(__file__).resolve().parents[2]
AGENT_METRIC = re.compile(r"support_agent_[a-z0-9_]+")
T = "2024-03-04T10:{:02d}:00Z"


def _scrape(agent_kpis: tuple[str, ...] | None) -> bytes:
    engine = KpiEngine(KpiConfig())
    for n, event in enumerate([
        {"type": "agent.status_changed", "at": T.format(0), "agent_id": "a7",
         "status": "available", "team": "billing"},
        {"type": "conversation.created", "at": T.format(1), "conversation_id": "c1",
         "team": "billing"},
        {"type": "conversation.assigned", "at": T.format(2), "conversation_id": "c1",
         "agent_id": "a7", "method": "pull"},
        {"type": "message.created", "at": T.format(6), "conversation_id": "c1",
         "author": "agent", "agent_id": "a7"},
    ]):
        engine.process(event_adapter.validate_python({"id": f"e{n}", **event}))
    health = Health()
    health.processed(Counter({"message.created": 1}), 1, 1)
    health.rejected("schema")
    health.latency(0.02)
    health.owned_keys.labels("agent").set(1)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(KpiCollector(engine.report, agent_kpis))
    return generate_latest(health.registry) + generate_latest(registry)


@pytest.mark.parametrize("agent_kpis", [None, DEFAULT_AGENT_KPIS], ids=["all", "default"])
def test_promtool_check_metrics_accepts_the_exposition(agent_kpis: tuple[str, ...] | None
                                                       ) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not on PATH: run `make test` (Debian package `prometheus`)",
                    pytrace=False)
    body = _scrape(agent_kpis)
    assert b"support_agent_first_response_samples{" in body
    done = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                          timeout=60, check=False)
    problems = (done.stdout + done.stderr).decode().strip()
    assert done.returncode == 0 and not problems, problems


def _agent_metrics_used() -> set[str]:
    used: set[str] = set()
    dashboard = build_dashboard()
    for panel in dashboard["panels"]:
        for inner in (panel, *panel.get("panels", [])):
            for target in inner.get("targets", []):
                used |= set(AGENT_METRIC.findall(target["expr"]))
    for variable in dashboard["templating"]["list"]:
        used |= set(AGENT_METRIC.findall(str(variable.get("query", ""))))
    for path in sorted((ROOT / "deploy" / "prometheus").glob("*_rules.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                used |= set(AGENT_METRIC.findall(rule["expr"]))
    return used


def test_default_agent_kpis_cover_the_dashboard_and_rules() -> None:
    exported = {spec.name for spec in metric_specs()
                if spec.level == "agent" and spec.path[0] in DEFAULT_AGENT_KPIS}
    exported.add("support_agent_info")  # exported whenever an agent KPI is (the names' join)
    used = _agent_metrics_used()
    assert "support_agent_occupancy_ratio" in used and "support_agent_status" in used
    missing = used - exported
    assert not missing, f"agent metrics read by the dashboard or rules but not exported by " \
                        f"default (add their keys to DEFAULT_AGENT_KPIS): {sorted(missing)}"

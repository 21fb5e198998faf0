"""The Grafana dashboard is generated from the metric registry and cannot drift from it: the
committed JSON is current, and every metric and variable its queries use exists."""

import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from service.metrics.names import INFO_METRICS, metric_specs
from service.stream.health import HEALTH_METRICS
from tools.dashboard import DASHBOARD_PATH, build_dashboard, render

METRIC = re.compile(r"support_[a-z0-9_]+")
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
PROVISIONING = DASHBOARD_PATH.parents[1] / "provisioning"


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return build_dashboard()


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """The query panels (not rows), including any nested in collapsed rows."""
    out = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            out += panel.get("panels", [])
        else:
            out.append(panel)
    return out


def _all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def _expressions(dashboard: dict[str, Any]) -> Iterator[str]:
    for panel in _panels(dashboard):
        for target in panel["targets"]:
            yield target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            yield query if isinstance(query, str) else query["query"]


def _exported() -> set[str]:
    return ({spec.name for spec in metric_specs()} | {name for name, *_ in HEALTH_METRICS}
            | {info.name for info in INFO_METRICS})


def _histograms() -> set[str]:
    return {name for name, kind, *_ in HEALTH_METRICS if kind == "histogram"}


def _metric_name(token: str) -> str:
    """A histogram's series (``_bucket``, ``_sum``, ``_count``) stand for the histogram."""
    for suffix in HISTOGRAM_SUFFIXES:
        base = token.removesuffix(suffix)
        if token.endswith(suffix) and base in _histograms():
            return base
    return token


def test_committed_json_is_current(dashboard: dict[str, Any]) -> None:
    assert DASHBOARD_PATH.exists(), "dashboard JSON missing: run make generate"
    committed = DASHBOARD_PATH.read_text()
    assert committed == render(dashboard), (
        f"{DASHBOARD_PATH.name} is stale: run make generate")
    assert json.loads(committed) == dashboard


def test_dashboard_basics(dashboard: dict[str, Any]) -> None:
    assert dashboard["schemaVersion"] == 39
    assert dashboard["uid"] and dashboard["title"]


def test_rows_exist(dashboard: dict[str, Any]) -> None:
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Overview", "Bots and handoffs", "Agent drill-down", "Service health"]


ROW_PANELS = {
    "Overview": [
        "Open", "Unassigned", "Awaiting first response", "Oldest awaiting first response",
        "SLA at risk", "SLA breaching", "First response time ($window)",
        "Next response time ($window)", "Resolution time ($window)",
        "Full resolution time ($window)", "SLA achieved ratio ($window)",
        "CSAT positive ratio ($window)", "NPS score ($window)", "CES average ($window)",
        "First contact resolution ($window)", "Abandonment ratio ($window)",
        "Occupancy ($window)", "Pulled per logged-in hour ($window)"],
    "Bots and handoffs": [
        "Bot resolution ratio ($window)", "Handed off and bot resolved ($window)",
        "First response after handoff ($window)"],
    "Agent drill-down": [
        "Weighted score ($window)", "CSAT positive ratio ($window)",
        "CSAT and QA averages ($window)", "CSAT responses and QA reviews ($window)",
        "First response p90 ($window)", "Occupancy ($window)", "Presence"],
    "Service health": [
        "Events/s", "Consumer lag", "Dead letters/s", "Processing latency p99", "Owned keys",
        "Ready"],
}


def test_each_row_has_its_panels(dashboard: dict[str, Any]) -> None:
    """Every panel the dashboard had when it was hand-written JSON, in its row and order."""
    rows: dict[str, list[str]] = {}
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            current = rows.setdefault(panel["title"], [])
        else:
            current.append(panel["title"])
    assert rows == ROW_PANELS


def test_bot_row_shows_every_bot_kpi(dashboard: dict[str, Any]) -> None:
    """Issue 13: the bots-and-handoffs row carries each of the SPEC §3 bot KPIs, team and
    overall."""
    panels = dashboard["panels"]
    start = next(i for i, p in enumerate(panels) if p["title"] == "Bots and handoffs")
    row = list(itertools.takewhile(lambda p: p["type"] != "row", panels[start + 1:]))
    exprs = " ".join(t["expr"] for p in row for t in p["targets"])
    for key in ("bot_resolution_ratio", "handed_off", "bot_resolved",
                "first_response_after_handoff_seconds"):
        for level in ("team", "overall"):
            assert f"support_{level}_{key}{{" in exprs, f"{level} {key} missing"


def test_panels_have_unique_ids_and_targets(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in _all_panels(dashboard)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in _panels(dashboard):
        assert panel["targets"], f"panel {panel['title']!r} has no target"
        assert panel["title"]
        assert panel["description"], f"panel {panel['title']!r} has no description"
        assert panel["datasource"]["uid"] == "${datasource}"
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        for target in panel["targets"]:
            assert target["expr"].strip()
            assert target["datasource"]["uid"] == "${datasource}"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))


def test_panels_do_not_overlap(dashboard: dict[str, Any]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in _all_panels(dashboard):
        pos = panel["gridPos"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


def test_every_metric_in_a_query_is_exported(dashboard: dict[str, Any]) -> None:
    exported = _exported()
    used = set()
    for expr in _expressions(dashboard):
        names = METRIC.findall(expr)
        assert names, f"no support_ metric in {expr!r}"
        for token in names:
            name = _metric_name(token)
            assert name in exported, f"{token!r} in {expr!r} is not exported by the service"
            used.add(name)
    assert {name for name, *_ in HEALTH_METRICS} & used


def test_histogram_bucket_maps_to_the_histogram() -> None:
    assert _metric_name("support_processing_latency_seconds_bucket") in _exported()
    assert _metric_name("support_nonexistent_bucket") not in _exported()


def test_every_variable_used_is_defined(dashboard: dict[str, Any]) -> None:
    defined = {variable["name"] for variable in dashboard["templating"]["list"]}
    assert {"datasource", "team", "agent", "window"} <= defined
    texts = list(_expressions(dashboard))
    for panel in _all_panels(dashboard):
        texts.append(panel["title"])
        texts.append(json.dumps(panel.get("datasource", {})))
        texts += [json.dumps(target.get("datasource", {})) for target in panel.get("targets", [])]
    for text in texts:
        for match in VARIABLE.finditer(text):
            name = match.group(1) or match.group(2)
            if name.startswith("__"):
                continue  # Grafana's built-ins ($__rate_interval, $__all, ...)
            assert name in defined, f"${name} in {text!r} is not a dashboard variable"


def test_variables(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    team = variables["team"]
    assert team["query"] == "label_values(support_team_conversations_created, team)"
    assert team["multi"] and team["includeAll"]
    assert variables["agent"]["query"] == (
        'label_values(support_agent_conversations_created{team=~"$team"}, agent)')
    assert variables["window"]["type"] == "custom"
    assert variables["window"]["query"].split(",") == ["1h", "24h"]


def test_service_health_queries(dashboard: dict[str, Any]) -> None:
    exprs = set(_expressions(dashboard))
    assert any("rate(support_events_total[5m])" in e for e in exprs)
    assert ("histogram_quantile(0.99, sum by (le) "
            "(rate(support_processing_latency_seconds_bucket[5m])))") in exprs


def test_provisioning_files() -> None:
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["uid"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "support-kpi.yaml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"

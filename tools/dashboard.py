"""The Grafana dashboard, generated from the metric registry so it cannot drift from the metrics.

``python -m tools.dashboard`` writes ``deploy/grafana/dashboards/support-kpi.json``; a test
fails when the committed file is stale. Every metric name comes from ``metric_specs()`` or
``HEALTH_METRICS``: panels are built from a spec looked up by level and KPI path (or health
metric name), so a renamed or removed metric fails here, not silently in Grafana.

Each KPI series has exactly one owner worker at a time, so queries take ``max by (...)`` across
instances (a key that just moved may briefly be on two workers with the same value).
"""

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.engine.panes import WINDOWS
from service.metrics.collector import PRESENCE_STATES
from service.metrics.names import MetricSpec, metric_specs
from service.stream.health import HEALTH_METRICS

__all__ = ["DASHBOARD_PATH", "DASHBOARD_UID", "build_dashboard", "render", "write_dashboard"]

DASHBOARD_PATH = (Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "dashboards"
                  / "support-kpi.json")
DASHBOARD_UID = "support-kpi"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24
RATE_RANGE = "5m"


# --- metric lookups ---------------------------------------------------------------------------

def kpi(level: str, *path: str) -> MetricSpec:
    """The exported KPI metric of a level (agent, team, overall) and report path."""
    for spec in metric_specs():
        if spec.level == level and spec.path == path:
            return spec
    raise KeyError(f"no {level} metric for KPI path {'.'.join(path)!r}")


@dataclass(frozen=True)
class HealthSpec:
    name: str
    kind: str
    help: str
    labels: tuple[str, ...]


def health(name: str) -> HealthSpec:
    """A worker health metric of ``HEALTH_METRICS`` (counters by their ``_total`` name)."""
    for metric_name, kind, text, labels in HEALTH_METRICS:
        if metric_name == name:
            return HealthSpec(metric_name, kind, text, labels)
    raise KeyError(f"no health metric {name!r}")


# --- query builders ---------------------------------------------------------------------------

def selector(spec: MetricSpec, **matchers: str) -> str:
    """``name{...}`` filtered by the dashboard variables that apply to the spec's labels, plus
    exact ``matchers`` (e.g. ``stat="p90"``)."""
    parts = []
    if "team" in spec.labels:
        parts.append('team=~"$team"')
    if "agent" in spec.labels:
        parts.append('agent=~"$agent"')
    if spec.windowed:
        parts.append('window="$window"')
    for label, value in matchers.items():
        if label not in spec.labels:
            raise ValueError(f"{spec.name} has no label {label!r}")
        parts.append(f'{label}="{value}"')
    return f"{spec.name}{{{', '.join(parts)}}}" if parts else spec.name


def by_owner(spec: MetricSpec, **matchers: str) -> str:
    """One series per team (team level), per agent (agent level) or one (overall), taking the
    max across worker instances."""
    keys = {"team": "team", "agent": "agent", "overall": ""}[spec.level]
    by = f" by ({keys})" if keys else ""
    return f"max{by} ({selector(spec, **matchers)})"


def health_rate(spec: HealthSpec, by: Sequence[str] = ()) -> str:
    if spec.kind != "counter":
        raise ValueError(f"{spec.name} is a {spec.kind}, not a counter")
    grouping = f" by ({', '.join(by)})" if by else ""
    return f"sum{grouping} (rate({spec.name}[{RATE_RANGE}]))"


def histogram_quantile(spec: HealthSpec, quantile: float) -> str:
    if spec.kind != "histogram":
        raise ValueError(f"{spec.name} is a {spec.kind}, not a histogram")
    return (f"histogram_quantile({quantile}, sum by (le) "
            f"(rate({spec.name}_bucket[{RATE_RANGE}])))")


# --- panels -----------------------------------------------------------------------------------

@dataclass
class Target:
    expr: str
    legend: str
    help: str
    instant: bool = False


@dataclass
class Panel:
    title: str
    kind: str
    targets: list[Target]
    width: int = 8
    height: int = 8
    unit: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    field_config: dict[str, Any] = field(default_factory=dict)
    minimum: float | None = None
    maximum: float | None = None


def team_and_overall(team: MetricSpec, overall: MetricSpec, suffix: str = "",
                     **matchers: str) -> list[Target]:
    """The per-team series plus the overall one for one KPI leaf."""
    tail = f" {suffix}" if suffix else ""
    return [Target(by_owner(team, **matchers), f"{{{{team}}}}{tail}", team.help),
            Target(by_owner(overall, **matchers), f"overall{tail}", overall.help)]


def team_kpi(*path: str, suffix: str = "", **matchers: str) -> list[Target]:
    return team_and_overall(kpi("team", *path), kpi("overall", *path), suffix, **matchers)


def agent_kpi(*path: str, suffix: str = "", **matchers: str) -> list[Target]:
    spec = kpi("agent", *path)
    tail = f" {suffix}" if suffix else ""
    return [Target(by_owner(spec, **matchers), f"{{{{agent}}}}{tail}", spec.help)]


def live_stat(title: str, key: str, unit: str = "none") -> Panel:
    return Panel(title, "stat", team_kpi(key), width=4, height=5, unit=unit)


def percentiles(title: str, level: str, key: str, width: int = 8) -> Panel:
    targets = []
    for stat in ("p50", "p90"):
        if level == "team":
            targets += team_kpi(key, suffix=stat, stat=stat)
        else:
            targets += agent_kpi(key, suffix=stat, stat=stat)
    return Panel(title, "timeseries", targets, width=width, unit="s")


def ratio(title: str, targets: list[Target], width: int = 8) -> Panel:
    return Panel(title, "timeseries", targets, width=width, unit="percentunit", minimum=0,
                 maximum=1)


def overview_panels() -> list[Panel]:
    sla = []
    for kind in ("first_response", "next_response", "resolution"):
        sla += team_kpi("sla", kind, "achieved_ratio", suffix=kind.replace("_", " "))
    return [
        live_stat("Open", "open"),
        live_stat("Unassigned", "unassigned"),
        live_stat("Awaiting first response", "awaiting_first_response"),
        live_stat("Oldest awaiting first response", "oldest_awaiting_first_response_seconds",
                  unit="s"),
        live_stat("SLA at risk", "sla_at_risk"),
        live_stat("SLA breaching", "sla_breaching"),
        percentiles("First response time ($window)", "team", "first_response_seconds", width=6),
        percentiles("Next response time ($window)", "team", "next_response_seconds", width=6),
        percentiles("Resolution time ($window)", "team", "resolution_seconds", width=6),
        percentiles("Full resolution time ($window)", "team", "full_resolution_seconds", width=6),
        ratio("SLA achieved ratio ($window)", sla, width=24),
        ratio("CSAT positive ratio ($window)", team_kpi("csat", "positive_ratio")),
        Panel("NPS score ($window)", "timeseries", team_kpi("nps", "score"), minimum=-100,
              maximum=100),
        Panel("CES average ($window)", "timeseries", team_kpi("ces", "avg")),
        ratio("First contact resolution ($window)", team_kpi("fcr_ratio")),
        ratio("Abandonment ratio ($window)", team_kpi("abandonment_ratio")),
        ratio("Occupancy ($window)", team_kpi("occupancy_ratio")),
        Panel("Pulled per logged-in hour ($window)", "timeseries", team_kpi("pulled_per_hour"),
              width=24),
    ]


def bot_panels() -> list[Panel]:
    """Bots and handoffs (SPEC §3): how much the bot resolves on its own, how much it hands
    over, and how long the customers it handed over wait for a human."""
    return [
        ratio("Bot resolution ratio ($window)", team_kpi("bot_resolution_ratio")),
        Panel("Handed off and bot resolved ($window)", "timeseries",
              team_kpi("handed_off", suffix="handed off")
              + team_kpi("bot_resolved", suffix="bot resolved")),
        percentiles("First response after handoff ($window)", "team",
                    "first_response_after_handoff_seconds"),
    ]


def status_timeline() -> Panel:
    """The agent's presence state set as one series per agent: the value is the index of the
    state that is 1, mapped back to its name."""
    spec = kpi("agent", "status")
    expr = " + ".join(f"{by_owner(spec, status=state)} * {index}"
                      for index, state in enumerate(PRESENCE_STATES))
    mappings = [{"type": "value",
                 "options": {str(index): {"text": state, "index": index}}}
                for index, state in enumerate(PRESENCE_STATES)]
    return Panel("Presence", "state-timeline", [Target(expr, "{{agent}}", spec.help)],
                 width=24, height=8,
                 options={"mergeValues": True, "showValue": "auto", "alignValue": "left",
                          "rowHeight": 0.9, "legend": {"displayMode": "list",
                                                       "placement": "bottom",
                                                       "showLegend": True}},
                 field_config={"mappings": mappings, "color": {"mode": "palette-classic"}})


def agent_panels() -> list[Panel]:
    return [
        Panel("Weighted score ($window)", "timeseries", agent_kpi("weighted_score"),
              minimum=0, maximum=100),
        ratio("CSAT positive ratio ($window)", agent_kpi("csat", "positive_ratio")),
        Panel("CSAT and QA averages ($window)", "timeseries",
              agent_kpi("csat", "avg", suffix="CSAT") + agent_kpi("qa", "avg", suffix="QA")),
        Panel("CSAT responses and QA reviews ($window)", "timeseries",
              agent_kpi("csat", "responses", suffix="CSAT responses")
              + agent_kpi("qa", "reviews", suffix="QA reviews")),
        Panel("First response p90 ($window)", "timeseries",
              agent_kpi("first_response_seconds", stat="p90"), unit="s"),
        ratio("Occupancy ($window)", agent_kpi("occupancy_ratio")),
        status_timeline(),
    ]


def health_panels() -> list[Panel]:
    events = health("support_events_total")
    rejected = health("support_events_rejected_total")
    lag = health("support_consumer_lag")
    latency = health("support_processing_latency_seconds")
    owned = health("support_owned_keys")
    ready = health("support_ready")
    return [
        Panel("Events/s", "timeseries",
              [Target(health_rate(events, ["type"]), "{{type}}", events.help)], unit="ops"),
        Panel("Consumer lag", "timeseries",
              [Target(f"sum by (topic) (max by (topic, partition) ({lag.name}))", "{{topic}}",
                      lag.help)]),
        Panel("Dead letters/s", "timeseries",
              [Target(health_rate(rejected, ["reason"]), "{{reason}}", rejected.help)],
              unit="ops"),
        Panel("Processing latency p99", "timeseries",
              [Target(histogram_quantile(latency, 0.99), "p99", latency.help)], unit="s"),
        Panel("Owned keys", "timeseries",
              [Target(f"sum by (instance, level) ({owned.name})", "{{instance}} {{level}}",
                      owned.help)]),
        Panel("Ready", "stat",
              [Target(f"max by (instance) ({ready.name})", "{{instance}}", ready.help)],
              field_config={"mappings": [{"type": "value", "options": {
                  "0": {"text": "not ready", "color": "red", "index": 0},
                  "1": {"text": "ready", "color": "green", "index": 1}}}],
                  "color": {"mode": "thresholds"},
                  "thresholds": {"mode": "absolute", "steps": [
                      {"color": "red", "value": None}, {"color": "green", "value": 1}]}}),
    ]


# --- JSON -------------------------------------------------------------------------------------

def _unique(texts: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(texts))


class _Layout:
    """Left-to-right, top-to-bottom placement on Grafana's 24-column grid."""

    def __init__(self) -> None:
        self.next_id = 1
        self.x = 0
        self.y = 0
        self.row_height = 0

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def place(self, width: int, height: int) -> dict[str, int]:
        if self.x + width > GRID_WIDTH:
            self.newline()
        pos = {"h": height, "w": width, "x": self.x, "y": self.y}
        self.x += width
        self.row_height = max(self.row_height, height)
        return pos

    def newline(self) -> None:
        self.y += self.row_height
        self.x = 0
        self.row_height = 0


def _panel_json(panel: Panel, layout: _Layout) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit or "none", **panel.field_config}
    if panel.minimum is not None:
        defaults["min"] = panel.minimum
    if panel.maximum is not None:
        defaults["max"] = panel.maximum
    options: dict[str, Any]
    if panel.kind == "stat":
        options = {"colorMode": "value", "graphMode": "area", "justifyMode": "auto",
                   "orientation": "auto", "textMode": "value_and_name",
                   "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
    elif panel.kind == "timeseries":
        options = {"legend": {"calcs": [], "displayMode": "list", "placement": "bottom",
                              "showLegend": True},
                   "tooltip": {"mode": "multi", "sort": "desc"}}
    else:
        options = {}
    options.update(panel.options)
    targets = []
    for index, target in enumerate(panel.targets):
        entry: dict[str, Any] = {"datasource": DATASOURCE, "editorMode": "code",
                                 "expr": target.expr, "legendFormat": target.legend,
                                 "range": not target.instant, "refId": chr(ord("A") + index)}
        if target.instant:
            entry["instant"] = True
        targets.append(entry)
    return {
        "datasource": DATASOURCE,
        "description": "\n".join(_unique(t.help for t in panel.targets)),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "gridPos": layout.place(panel.width, panel.height),
        "id": layout.new_id(),
        "options": options,
        "targets": targets,
        "title": panel.title,
        "type": panel.kind,
    }


def _row_json(title: str, layout: _Layout) -> dict[str, Any]:
    layout.newline()
    row = {"collapsed": False, "gridPos": layout.place(GRID_WIDTH, 1), "id": layout.new_id(),
           "panels": [], "title": title, "type": "row"}
    layout.newline()
    return row


def _query_variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {"allValue": ".*", "current": {"selected": True, "text": ["All"],
                                          "value": ["$__all"]},
            "datasource": DATASOURCE, "definition": query, "hide": 0, "includeAll": True,
            "label": label, "multi": True, "name": name, "options": [], "query": query,
            "refresh": 2, "regex": "", "skipUrlSync": False, "sort": 1, "type": "query"}


def _templating() -> list[dict[str, Any]]:
    team_created = kpi("team", "conversations_created")
    agent_created = kpi("agent", "conversations_created")
    windows = [w.name for w in WINDOWS]
    return [
        {"current": {"selected": False, "text": "Prometheus", "value": "prometheus"},
         "hide": 0, "includeAll": False, "label": "Data source", "multi": False,
         "name": "datasource", "options": [], "query": "prometheus", "refresh": 1,
         "regex": "", "skipUrlSync": False, "type": "datasource"},
        _query_variable("team", "Team", f"label_values({team_created.name}, team)"),
        _query_variable("agent", "Agent",
                        f'label_values({agent_created.name}{{team=~"$team"}}, agent)'),
        {"current": {"selected": True, "text": windows[0], "value": windows[0]},
         "hide": 0, "includeAll": False, "label": "Window", "multi": False, "name": "window",
         "options": [{"selected": i == 0, "text": w, "value": w} for i, w in enumerate(windows)],
         "query": ",".join(windows), "skipUrlSync": False, "type": "custom"},
    ]


def build_dashboard() -> dict[str, Any]:
    layout = _Layout()
    panels: list[dict[str, Any]] = []
    for title, section in (("Overview", overview_panels()),
                           ("Bots and handoffs", bot_panels()),
                           ("Agent drill-down", agent_panels()),
                           ("Service health", health_panels())):
        panels.append(_row_json(title, layout))
        panels += [_panel_json(panel, layout) for panel in section]
    return {
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard"}]},
        "description": "Live customer-support KPIs per team and agent, and worker health. "
                       "Generated by `python -m tools.dashboard`; do not edit by hand.",
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "links": [],
        "panels": panels,
        "refresh": "30s",
        "schemaVersion": 39,
        "tags": ["support", "kpi"],
        "templating": {"list": _templating()},
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": "Support KPIs",
        "uid": DASHBOARD_UID,
        "version": 1,
        "weekStart": "",
    }


def render(dashboard: dict[str, Any] | None = None) -> str:
    """The dashboard as committed: sorted keys, indent 2, trailing newline."""
    return json.dumps(dashboard if dashboard is not None else build_dashboard(), indent=2,
                      sort_keys=True, ensure_ascii=False) + "\n"


def write_dashboard(path: Path = DASHBOARD_PATH) -> bool:
    """Write the dashboard JSON; True when the file changed."""
    text = render()
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True


if __name__ == "__main__":
    changed = write_dashboard()
    print(f"{DASHBOARD_PATH.name}: {'updated' if changed else 'up to date'}", file=sys.stderr)

"""The dashboard's PromQL, built from the metric registry so a renamed or removed metric fails
here, not silently in Grafana.

Every metric name comes from ``metric_specs()`` or ``HEALTH_METRICS``: a query is built from a
spec looked up by level and KPI path (or health metric name). Each KPI series has exactly one
owner worker at a time, so queries take ``max by (...)`` across instances (a key that just
moved may briefly be on two workers with the same value).

Queries filter by the dashboard variables ``$team``, ``$agent`` and ``$window``
(``tools/dashboard.py`` defines them).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from service.metrics.names import INFO_METRICS, MetricSpec, metric_specs
from service.stream.health import HEALTH_METRICS

RATE_RANGE = "5m"


@dataclass(frozen=True)
class Target:
    """One query of a panel: the PromQL ``expr``, Grafana's ``legend`` template (e.g.
    ``{{name}} p90``) and the metric's ``help`` text (the panel's description)."""

    expr: str
    legend: str
    help: str


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


# --- expressions ------------------------------------------------------------------------------

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
    max across worker instances; a team's or agent's series carries its display ``name`` from
    its info gauge (``support_team_info``, ``support_agent_info``)."""
    if spec.level == "overall":
        return f"max ({selector(spec, **matchers)})"
    key = spec.level
    (info,) = [i.name for i in INFO_METRICS if i.labels[0] == key]
    return (f"max by ({key}) ({selector(spec, **matchers)}) * on({key}) group_left(name) "
            f"max by ({key}, name) ({info})")


def health_rate(spec: HealthSpec, by: Sequence[str] = ()) -> str:
    """``sum by (...) (rate(counter[5m]))`` of a health counter."""
    if spec.kind != "counter":
        raise ValueError(f"{spec.name} is a {spec.kind}, not a counter")
    grouping = f" by ({', '.join(by)})" if by else ""
    return f"sum{grouping} (rate({spec.name}[{RATE_RANGE}]))"


def histogram_quantile(spec: HealthSpec, quantile: float) -> str:
    """The ``quantile`` of a health histogram over all workers, from its ``_bucket`` rates."""
    if spec.kind != "histogram":
        raise ValueError(f"{spec.name} is a {spec.kind}, not a histogram")
    return (f"histogram_quantile({quantile}, sum by (le) "
            f"(rate({spec.name}_bucket[{RATE_RANGE}])))")


# --- targets ----------------------------------------------------------------------------------

def team_and_overall(team: MetricSpec, overall: MetricSpec, suffix: str = "",
                     **matchers: str) -> list[Target]:
    """The per-team series plus the overall one for one KPI leaf."""
    tail = f" {suffix}" if suffix else ""
    return [Target(by_owner(team, **matchers), f"{{{{name}}}}{tail}", team.help),
            Target(by_owner(overall, **matchers), f"overall{tail}", overall.help)]


def team_kpi(*path: str, suffix: str = "", **matchers: str) -> list[Target]:
    """A KPI per team and overall, e.g. ``team_kpi("csat", "positive_ratio")``."""
    return team_and_overall(kpi("team", *path), kpi("overall", *path), suffix, **matchers)


def agent_kpi(*path: str, suffix: str = "", **matchers: str) -> list[Target]:
    """A KPI per agent, e.g. ``agent_kpi("first_response_seconds", stat="p90")``."""
    spec = kpi("agent", *path)
    tail = f" {suffix}" if suffix else ""
    return [Target(by_owner(spec, **matchers), f"{{{{name}}}}{tail}", spec.help)]


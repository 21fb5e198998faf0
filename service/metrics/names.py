"""SPEC §6's mapping from report leaves to metric names, derived from the KPI registry only.

``support_<level>_<kpi path joined by _>`` with level agent, team or overall; labels ``window``
(1h, 24h; absent for live), ``team`` and ``agent`` where they apply; a distribution's avg, p50
and p90 are the ``stat`` label of one gauge and its count is a unit-less gauge named for the
stem without ``_seconds`` plus ``_samples`` (``support_team_first_response_samples``): ``_count``
is reserved for histograms and summaries, and ``promtool check metrics`` must pass.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from service.engine.kpis import LIVE_KPIS, WINDOW_KPIS, KpiSpec

__all__ = ["DISTRIBUTION_STATS", "INFO_METRICS", "LEVEL_NAMES", "TARGET_METRICS", "MetricSpec",
           "TargetMetric", "metric_name", "metric_specs"]

LEVEL_NAMES = {"agents": "agent", "teams": "team", "overall": "overall"}
_LEVEL_LABELS = {"agent": ("agent", "team"), "team": ("team",), "overall": ()}
DISTRIBUTION_STATS = ("avg", "p50", "p90")


@dataclass(frozen=True)
class MetricSpec:
    name: str
    help: str
    level: str
    """agent, team or overall."""
    labels: tuple[str, ...]
    path: tuple[str, ...]
    """Where the value sits in a level's KPIS dict."""
    windowed: bool
    stat_label: bool = False
    kind: str = "gauge"
    """gauge, or stateset for the agent's presence."""


def metric_name(level: str, path: tuple[str, ...]) -> str:
    """The metric of a report leaf: ``support_<level>_<path joined by _>``, except a
    distribution's ``count``, which is ``support_<level>_<stem without _seconds>_samples``."""
    if len(path) == 2 and path[1] == "count":
        return f"support_{level}_{path[0].removesuffix('_seconds')}_samples"
    return f"support_{level}_{'_'.join(path)}"


def _leaves(spec: KpiSpec) -> Iterator[tuple[tuple[str, ...], str, bool]]:
    """(path, help, has stat label) of every numeric leaf of a KPI."""
    if spec.kind == "distribution":
        yield (spec.key,), f"{spec.help} (stat: avg, p50, p90)", True
        yield (spec.key, "count"), f"{spec.help}: number of values", False
    elif spec.kind == "group":
        for field in spec.fields:
            yield (spec.key, *field.split(".")), f"{spec.help}: {field}", False
    else:
        yield (spec.key,), spec.help, False


def metric_specs() -> list[MetricSpec]:
    specs = []
    for kpis, windowed in ((WINDOW_KPIS, True), (LIVE_KPIS, False)):
        for spec in kpis:
            for level_key in spec.levels:
                level = LEVEL_NAMES[level_key]
                for path, text, stat in _leaves(spec):
                    labels = _LEVEL_LABELS[level] + (("window",) if windowed else ())
                    if stat:
                        labels += ("stat",)
                    kind = "stateset" if spec.kind == "state" else "gauge"
                    if kind == "stateset":
                        labels += ("status",)
                    specs.append(MetricSpec(metric_name(level, path), text, level,
                                            labels, path, windowed, stat, kind))
    return specs


@dataclass(frozen=True)
class TargetMetric:
    """A gauge from the configuration (SPEC §5) exported beside the KPIs: a team's goal, so
    that alert rules compare each team with its own target rather than a number written into
    the rule, or a key's display name (an info gauge, always 1)."""

    name: str
    help: str
    labels: tuple[str, ...]


TARGET_METRICS: tuple[TargetMetric, ...] = (
    TargetMetric("support_team_sla_target_seconds",
                 "The team's SLA target in seconds, per SLA kind and priority (configuration)",
                 ("team", "sla", "priority")),
    TargetMetric("support_team_sla_objective_ratio",
                 "The share of judged conversations that should meet the SLA (configuration)",
                 ("team", "sla")),
)

INFO_METRICS: tuple[TargetMetric, ...] = (
    TargetMetric("support_team_info",
                 "1 for each team exported here, with its display name (configuration; the key "
                 "when none): join with * on(team) group_left(name)", ("team", "name")),
    TargetMetric("support_agent_info",
                 "1 for each agent exported here, with its display name (configuration; the "
                 "key when none): join with * on(agent) group_left(name)", ("agent", "name")),
)
"""Display names as labels of their own series, so that a KPI series keeps its labels when a
name changes (the usual Prometheus info-metric join)."""

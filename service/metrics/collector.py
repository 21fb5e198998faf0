"""A Prometheus collector that reads the report at scrape time.

``collect()`` asks for a fresh report of the keys this worker owns and yields one family per
metric spec; a key that moved to another worker simply is not in the report any more, so its
series vanish here and appear on the new owner. Null values (no data) yield no sample.

``agent_kpis`` (the config's ``metrics.agent_kpis``) names the report keys exported per agent;
agent metrics of other keys are neither described nor collected. Team and overall metrics are
always exported in full.

With ``teams`` (the configuration's team resolver), every team in the report also gets its SLA
targets and objectives (``TARGET_METRICS``), so that alert rules compare a team with its own
goals. Every team and agent in the report gets an info gauge with its display name
(``INFO_METRICS``, from the report's ``names``; the key when it has none).
"""

from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, Protocol

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from schemas.common import AgentPresence
from service.metrics.names import (
    DISTRIBUTION_STATS,
    INFO_METRICS,
    TARGET_METRICS,
    MetricSpec,
    TargetMetric,
    metric_specs,
)

__all__ = ["PRESENCE_STATES", "KpiCollector", "TeamGoals", "entries", "exported_specs", "goals",
           "info_metrics", "infos", "samples", "value_samples"]

PRESENCE_STATES: tuple[str, ...] = AgentPresence.__args__  # type: ignore[attr-defined]


class TeamGoals(Protocol):
    """What the collector reads of a resolved team (``service.config.ResolvedTeam``)."""

    @property
    def targets(self) -> Mapping[tuple[str, str], tuple[int, bool]]:
        """(SLA kind, priority) → (target in milliseconds, in business hours?)."""
        ...

    @property
    def objectives(self) -> Mapping[str, float]: ...


class KpiCollector(Collector):
    def __init__(self, report: Callable[[], Mapping[str, Any]],
                 agent_kpis: Collection[str] | None = None,
                 teams: Callable[[str], TeamGoals] | None = None) -> None:
        """``agent_kpis``: the report keys exported per agent; None exports every one.
        ``teams``: a team name → its resolved settings, for the target gauges; None exports
        none."""
        self._report = report
        self._teams = teams
        self._specs = exported_specs(agent_kpis)
        self._infos = info_metrics(self._specs)

    def describe(self) -> Iterator[Metric]:
        for spec in self._specs:
            yield GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))
        if self._teams is not None:
            for target in TARGET_METRICS:
                yield GaugeMetricFamily(target.name, target.help, labels=list(target.labels))
        for info in self._infos:
            yield GaugeMetricFamily(info.name, info.help, labels=list(info.labels))

    def collect(self) -> Iterator[Metric]:
        report = self._report()
        for spec in self._specs:
            family = GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))
            for values, value in samples(spec, report):
                family.add_metric(values, value)
            yield family
        if self._teams is not None:
            yield from goals(report, self._teams)
        yield from infos(report, self._infos)


def exported_specs(agent_kpis: Collection[str] | None) -> list[MetricSpec]:
    """The KPI gauges exported with ``agent_kpis`` (the report keys exported per agent; None:
    every one), in exposition order."""
    keep = None if agent_kpis is None else frozenset(agent_kpis)
    return [spec for spec in metric_specs()
            if keep is None or spec.level != "agent" or spec.path[0] in keep]


def samples(spec: MetricSpec, report: Mapping[str, Any]
            ) -> Iterator[tuple[list[str], float]]:
    """(label values in ``spec.labels`` order, value) of every series of ``spec`` in a report
    (SPEC §6); a null value (no data) has none."""
    for labels, value in entries(spec, report):
        yield from value_samples(spec, labels, value)


def entries(spec: MetricSpec, report: Mapping[str, Any]
            ) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(label values in ``spec.labels`` order but the stat or state one, value at
    ``spec.path``) of each key of the spec's level in the report with a value (not null): one
    or more series each (:func:`value_samples`)."""
    path = spec.path
    for levels, window in _level_blocks(report, spec.windowed):
        tail = () if window is None else (window,)
        for labels, kpis in _entries(levels, spec.level):
            value = _value(kpis, path)
            if value is not None:
                yield labels + tail, value


def _keys(report: Mapping[str, Any], level: str) -> list[str]:
    """The keys of ``level`` (teams, agents) anywhere in the report, sorted."""
    keys: set[str] = set(report.get("live", {}).get(level, {}))
    for levels in report.get("windows", {}).values():
        keys.update(levels.get(level, {}))
    return sorted(keys)


def info_metrics(specs: Collection[MetricSpec]) -> list[TargetMetric]:
    """The info gauges exported beside ``specs``: the agents' only when an agent KPI is."""
    return [info for info in INFO_METRICS
            if info.labels[0] != "agent" or any(s.level == "agent" for s in specs)]


def infos(report: Mapping[str, Any], exported: Collection[TargetMetric] = INFO_METRICS
          ) -> Iterator[Metric]:
    """The ``exported`` info gauges of every team and agent the report names: 1, with the
    display name of the report's ``names`` (the key when it has none)."""
    named = report.get("names", {})
    for info in exported:
        level = f"{info.labels[0]}s"
        family = GaugeMetricFamily(info.name, info.help, labels=list(info.labels))
        names = named.get(level, {})
        for key in _keys(report, level):
            family.add_metric([key, names.get(key, key)], 1.0)
        yield family


def goals(report: Mapping[str, Any], teams: Callable[[str], TeamGoals]) -> Iterator[Metric]:
    """The target and objective gauges of every team the report names."""
    names = _keys(report, "teams")
    seconds, objective = (GaugeMetricFamily(t.name, t.help, labels=list(t.labels))
                          for t in TARGET_METRICS)
    for name in names:
        team = teams(name)
        for (kind, priority), (target_ms, _) in sorted(team.targets.items()):
            seconds.add_metric([name, kind, priority], target_ms / 1000)
        for kind, ratio in sorted(team.objectives.items()):
            objective.add_metric([name, kind], ratio)
    yield seconds
    yield objective


def _level_blocks(report: Mapping[str, Any], windowed: bool
                  ) -> Iterator[tuple[Mapping[str, Any], str | None]]:
    if windowed:
        for window, levels in report.get("windows", {}).items():
            yield levels, window
    else:
        yield report.get("live", {}), None


def _entries(levels: Mapping[str, Any], level: str
             ) -> Iterator[tuple[tuple[str, ...], Mapping[str, Any]]]:
    """(the level's label values: agent and team, team, or none; its KPIs)."""
    if level == "overall":
        if levels.get("overall") is not None:
            yield (), levels["overall"]
    elif level == "team":
        for team, kpis in levels.get("teams", {}).items():
            yield (team,), kpis
    else:
        for agent, kpis in levels.get("agents", {}).items():
            yield (agent, kpis.get("team") or ""), kpis


def _value(kpis: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = kpis
    for part in path:
        try:
            value = value[part]
        except (KeyError, TypeError):
            return None
    return value


def value_samples(spec: MetricSpec, labels: tuple[str, ...], value: Any
                  ) -> Iterator[tuple[list[str], float]]:
    """The series of one value of ``spec``: (label values in ``spec.labels`` order, value);
    ``labels`` holds every label value but the stat or state one (:func:`entries`)."""
    if spec.kind == "stateset":
        for state in PRESENCE_STATES:
            yield [*labels, state], 1.0 if value == state else 0.0
        return
    if spec.stat_label:
        for stat in DISTRIBUTION_STATS:
            if value.get(stat) is not None:
                yield [*labels, stat], float(value[stat])
        return
    yield list(labels), float(value)

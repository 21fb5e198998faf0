"""SPEC §6's mapping from report leaves to metric names, derived from the KPI registry only.

``support_<level>_<kpi path joined by _>`` with level agent, team or overall; labels ``window``
(1h, 24h; absent for live), ``team`` and ``agent`` where they apply; a distribution's avg, p50
and p90 are the ``stat`` label of one gauge and its count is the gauge ``<name>_count``.
"""

from collections.abc import Iterator
from dataclasses import dataclass

from service.engine.kpis import LIVE_KPIS, WINDOW_KPIS, KpiSpec

__all__ = ["LEVEL_NAMES", "MetricSpec", "metric_specs"]

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
                    specs.append(MetricSpec(f"support_{level}_{'_'.join(path)}", text, level,
                                            labels, path, windowed, stat, kind))
    return specs

"""The KPI gauges of a report in Prometheus' text format (version 0.0.4).

The bytes prometheus_client's ``generate_latest`` writes for a
:class:`~service.metrics.collector.KpiCollector` (a test holds them equal), at a fraction of
its cost: it builds a metric family object per gauge and, for every sample, validates each
label name and escapes each label value again (about 20 µs a sample; 1 s for the 52,866
series of a worker holding 2,000 agents). Here each gauge's line is one format string made
once, and each label value is escaped once per scrape; values are formatted by
prometheus_client's own ``floatToGoString``. A key's lines are kept from one scrape to the next
while its value is the same object, or an equal integer or string (the report reuses the
values a window's unchanged panes gave), so a scrape formats what changed.
"""

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from prometheus_client.utils import floatToGoString

from service.metrics.collector import (
    TeamGoals,
    entries,
    exported_specs,
    goals,
    info_metrics,
    infos,
    value_samples,
)

__all__ = ["KpiExposition"]


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


class _Gauge:
    """One gauge's HELP and TYPE lines and its sample line as a format string, its labels in
    the name order the exposition writes them."""

    __slots__ = ("header", "line", "order")

    def __init__(self, name: str, help_text: str, labels: Sequence[str]) -> None:
        self.header = f"# HELP {name} {_escape_help(help_text)}\n# TYPE {name} gauge\n"
        self.order = sorted(range(len(labels)), key=lambda i: labels[i])
        inner = ",".join(f'{labels[i]}="%s"' for i in self.order)
        self.line = f"{name}{{{inner}}} %s\n" if labels else f"{name} %s\n"


class KpiExposition:
    """What :class:`~service.metrics.collector.KpiCollector` exports with the same
    ``agent_kpis`` and ``teams``, from a report: :meth:`render` → the exposition's bytes."""

    def __init__(self, agent_kpis: Collection[str] | None = None,
                 teams: Callable[[str], TeamGoals] | None = None) -> None:
        self._gauges = [(spec, _Gauge(spec.name, spec.help, spec.labels))
                        for spec in exported_specs(agent_kpis)]
        self._teams = teams
        self._infos = info_metrics([spec for spec, _ in self._gauges])
        self._kept: list[dict[tuple[str, ...], tuple[Any, str]]] = [{} for _ in self._gauges]
        """By gauge: label values (:func:`~service.metrics.collector.entries`) → (the value,
        its lines) of the last render."""

    def render(self, report: Mapping[str, Any]) -> bytes:
        escaped: dict[str, str] = {}

        def escape(value: str) -> str:
            found = escaped.get(value)
            if found is None:
                found = escaped[value] = (value.replace("\\", r"\\").replace("\n", r"\n")
                                          .replace('"', r"\""))
            return found

        out: list[str] = []
        for number, (spec, gauge) in enumerate(self._gauges):
            out.append(gauge.header)
            line, order = gauge.line, gauge.order
            kept, now = self._kept[number], {}
            for labels, value in entries(spec, report):
                last = kept.get(labels)
                if last is not None and _same(last[0], value):
                    text = last[1]
                else:
                    text = "".join(
                        line % (*(escape(values[i]) for i in order), floatToGoString(sample))
                        for values, sample in value_samples(spec, labels, value))
                now[labels] = (value, text)
                out.append(text)
            self._kept[number] = now
        for family in [*(goals(report, self._teams) if self._teams is not None else ()),
                       *infos(report, self._infos)]:
            labels_of = list(family.samples[0].labels) if family.samples else []
            goal = _Gauge(family.name, family.documentation, labels_of)
            out.append(goal.header)
            for sample in family.samples:
                values = [sample.labels[name] for name in labels_of]
                out.append(goal.line % (*(escape(values[i]) for i in goal.order),
                                        floatToGoString(sample.value)))
        return "".join(out).encode()


def _same(kept: Any, value: Any) -> bool:
    """Whether a value is written as a kept one was: the same object, or an equal integer or
    string (equal floats may not be: 0.0 and -0.0)."""
    return kept is value or (type(kept) is type(value) and type(value) in (int, str)
                             and kept == value)

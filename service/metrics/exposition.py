"""The KPI gauges of a report in Prometheus' text format (version 0.0.4).

The bytes prometheus_client's ``generate_latest`` writes for a
:class:`~service.metrics.collector.KpiCollector` (a test holds them equal), at a fraction of
its cost: it builds a metric family object per gauge and, for every sample, validates each
label name and escapes each label value again (about 20 µs a sample; 1 s for the 52,866
series of a worker holding 2,000 agents). Here each gauge's line is one format string made
once, and each label value is escaped once per scrape; values are formatted by
prometheus_client's own ``floatToGoString``.
"""

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from prometheus_client.utils import floatToGoString

from service.metrics.collector import TeamGoals, exported_specs, goals, samples

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

    def render(self, report: Mapping[str, Any]) -> bytes:
        escaped: dict[str, str] = {}

        def escape(value: str) -> str:
            found = escaped.get(value)
            if found is None:
                found = escaped[value] = (value.replace("\\", r"\\").replace("\n", r"\n")
                                          .replace('"', r"\""))
            return found

        out: list[str] = []
        for spec, gauge in self._gauges:
            out.append(gauge.header)
            line, order = gauge.line, gauge.order
            for values, value in samples(spec, report):
                out.append(line % (*(escape(values[i]) for i in order), floatToGoString(value)))
        if self._teams is not None:
            for family in goals(report, self._teams):
                labels = list(family.samples[0].labels) if family.samples else []
                gauge = _Gauge(family.name, family.documentation, labels)
                out.append(gauge.header)
                for sample in family.samples:
                    values = [sample.labels[name] for name in labels]
                    out.append(gauge.line % (*(escape(values[i]) for i in gauge.order),
                                             floatToGoString(sample.value)))
        return "".join(out).encode()

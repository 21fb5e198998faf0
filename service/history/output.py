"""A period report (:func:`~service.history.report.period_report`) as rows: one per period,
level key and KPI value, with the previous period's value and the change — for CSV and the
terminal."""

import csv
import io
from collections.abc import Iterator
from typing import Any, NamedTuple

__all__ = ["ReportRow", "report_csv", "report_rows", "report_table"]


class ReportRow(NamedTuple):
    period_from: str
    period_to: str
    level: str
    key: str
    kpi: str
    value: float | int | str | None
    previous: float | int | str | None
    change: float | None
    """(value − previous) / previous; None without both or when previous is 0."""


def _flat(values: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, value in values.items():
        if isinstance(value, dict):
            yield from _flat(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value


def _keys(levels: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    yield "overall", "", levels["overall"]
    for level in ("teams", "agents"):
        for key, values in levels[level].items():
            yield level, key, values
    for name, by_value in levels.get("slices", {}).items():
        for key, values in by_value.items():
            yield f"slices.{name}", key, values


def _change(value: Any, previous: Any) -> float | None:
    numbers = (int, float)
    if (isinstance(value, numbers) and isinstance(previous, numbers) and previous
            and not isinstance(value, bool)):
        return round((value - previous) / abs(previous), 4)
    return None


def report_rows(report: dict[str, Any]) -> Iterator[ReportRow]:
    """Every value of every period, level key and KPI (groups and distributions as dotted
    names: ``first_response_seconds.p90``), the agents' ``team`` label included."""
    for period in report["periods"]:
        previous = period.get("previous")
        for level, key, values in _keys(period["levels"]):
            before: dict[str, Any] = {}
            if previous is not None:
                held = (previous["overall"] if level == "overall"
                        else previous.get(level, {}).get(key)
                        if not level.startswith("slices.")
                        else previous.get("slices", {}).get(level[7:], {}).get(key))
                before = dict(_flat(held or {}))
            for kpi, value in _flat(values):
                old = before.get(kpi)
                yield ReportRow(period["from"], period["to"], level, key, kpi, value, old,
                                _change(value, old))


def report_csv(report: dict[str, Any]) -> str:
    """The rows as CSV with a header line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ReportRow._fields)
    for row in report_rows(report):
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def report_table(report: dict[str, Any]) -> str:
    """The rows as an aligned text table (the change as a percentage)."""
    header = ("from", "to", "level", "key", "kpi", "value", "previous", "change")
    rows = [header] + [
        (r.period_from, r.period_to, r.level, r.key, r.kpi, _cell(r.value), _cell(r.previous),
         "" if r.change is None else f"{r.change:+.1%}") for r in report_rows(report)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                     .rstrip() for row in rows) + "\n"

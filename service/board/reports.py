"""The board's reports page from the history (SPEC §8): one KPI per team over days or weeks with
the period before, the table behind the chart, and the last 24 h of the history beside the
live ``24h`` window. Pure: reports in, rows and chart series out (the page draws them with
Plotly, served by the board itself).

The KPIs offered are the registry's windowed ones (:data:`~service.engine.kpis.WINDOW_KPIS`)
whose value is one number: counts, sums, ratios, each distribution's ``avg``, ``p50`` and
``p90``, and each field of a group (``csat.positive_ratio``, ``sla.resolution.achieved_ratio``).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from service.engine.kpis import WINDOW_KPIS
from service.engine.panes import WINDOWS
from service.engine.records import format_time
from service.timefmt import parse_as_of

__all__ = ["CHARTABLE", "Comparison", "ReportSpan", "Series", "chart_series", "compare_day",
           "number", "report_span", "value_at"]

PERIODS = {"day": 14, "week": 8}
"""Periods the chart shows, by grouping."""

CHARTABLE: tuple[str, ...] = tuple(
    path for spec in WINDOW_KPIS
    for path in ((spec.key,) if spec.kind in ("count", "sum", "ratio")
                 else tuple(f"{spec.key}.{stat}" for stat in ("p90", "p50", "avg"))
                 if spec.kind == "distribution"
                 else tuple(f"{spec.key}.{name}" for name in spec.fields)
                 if spec.kind == "group" else ()))
"""Report paths with one number each, in the registry's order: counts, sums, ratios, each
distribution's p90, p50 and mean, each field of a group (CSAT, NPS, CES, QA, SLA results)."""

COMPARED: tuple[str, ...] = ("conversations_created", "conversations_resolved", "abandoned",
                             "first_response_seconds.p90", "resolution_seconds.p90",
                             "occupancy_ratio")
"""The paths the last-24-hours table puts side by side (those the registry has)."""


def value_at(values: Mapping[str, Any] | None, path: str) -> float | None:
    """The number at a dotted ``path`` of one level's values (None where there is none)."""
    found: Any = values
    for part in path.split("."):
        if not isinstance(found, Mapping):
            return None
        found = found.get(part)
    return float(found) if isinstance(found, int | float) else None


@dataclass(frozen=True, slots=True)
class Series:
    """One team's values over the periods, and the values of the periods before them."""

    name: str
    values: list[float | None]
    previous: list[float | None]


def chart_series(report: Mapping[str, Any], path: str
                 ) -> tuple[list[str], list[Series]]:
    """(period starts, one :class:`Series` per level: overall first, then each team) of
    ``path`` in a period report of ``--compare`` (each period's ``previous`` holds the levels
    of the period before)."""
    periods = report.get("periods", [])
    labels = [str(p["from"]) for p in periods]
    teams = sorted({team for p in periods for team in p["levels"].get("teams", {})})

    def level(levels: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
        return levels.get("overall") if name == "overall" else levels.get("teams", {}).get(name)

    out = []
    for name in ["overall", *teams]:
        out.append(Series(
            name, [value_at(level(p["levels"], name), path) for p in periods],
            [value_at(level(p["previous"], name), path) if "previous" in p else None
             for p in periods]))
    return labels, out


@dataclass(frozen=True, slots=True)
class Comparison:
    """One KPI of one level over the last 24 h: from the history and from the live window."""

    level: str
    path: str
    history: float | None
    live: float | None

    @property
    def equal(self) -> bool:
        """Equal, quantiles within the live sketch's 1% (history's are exact)."""
        if self.history is None or self.live is None:
            return self.history == self.live
        if self.path.endswith((".p50", ".p90")):
            return abs(self.history - self.live) <= 0.01 * max(abs(self.history),
                                                                abs(self.live))
        return abs(self.history - self.live) <= 1e-9 * max(1.0, abs(self.live))


def compare_day(history: Mapping[str, Any], live: Mapping[str, Any],
                paths: Sequence[str] = COMPARED) -> list[Comparison]:
    """Overall and every team: the history's levels over the live window's span beside the
    live ``24h`` window's."""
    teams = sorted(set(history.get("teams", {})) | set(live.get("teams", {})))
    rows = []
    for name in ["overall", *teams]:
        mine = history.get("overall") if name == "overall" else history.get("teams", {}).get(
            name)
        theirs = live.get("overall") if name == "overall" else live.get("teams", {}).get(name)
        for path in paths:
            rows.append(Comparison(name, path, value_at(mine, path), value_at(theirs, path)))
    return rows


@dataclass(frozen=True, slots=True)
class ReportSpan:
    """What the page asks the history for: ``[start, end)`` as dates (read in the sink's
    timezone) cut by day or week, and the 24 h ``[day_from, day_to)`` it puts beside the live
    window."""

    start: str
    end: str
    day_from: str
    day_to: str


def report_span(as_of: str, by: str) -> ReportSpan:
    """The :data:`PERIODS` days (or ISO weeks, from a Monday) up to the day of the history's
    ``as_of`` (RFC 3339) included, and the 24 h before the minute before it: the history's
    as-of is the minute after its watermark, whose events may still be coming. (The live
    ``24h`` window's span: its quarter-hour panes, :data:`~service.engine.panes.WINDOWS`.)"""
    as_of_ms = parse_as_of(as_of)
    day_to = as_of_ms - 60_000
    end = date.fromisoformat(format_time(as_of_ms)[:10]) + timedelta(days=1)
    if by == "week":
        start = end - timedelta(days=end.weekday() or 7) - timedelta(weeks=PERIODS["week"] - 1)
    else:
        start = end - timedelta(days=PERIODS["day"])
    (day,) = [window for window in WINDOWS if window.name == "24h"]
    return ReportSpan(start.isoformat(), end.isoformat(), format_time(day.span(day_to)[0]),
                      format_time(day_to))


def number(value: float | None) -> str:
    """A KPI value for a table cell: ``–`` for none, whole numbers as such, else three
    significant digits (at least the units)."""
    if value is None:
        return "–"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"

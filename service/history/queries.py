"""The history's two questions as the CLI and HTTP ask them (SPEC §8): a period report and the
conversations of a span, from parameters as text. Every refusal names its parameter, in the
asker's spelling (``--from`` on the command line, ``from`` over HTTP)."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from service.config import KpiConfig
from service.engine.records import format_time
from service.history.conversations import FILTERS, conversation_rows
from service.history.database import held_span
from service.history.periods import Grouping, Period, parse_bound, periods, previous
from service.history.report import SLICES, period_report

__all__ = ["Refused", "Span", "conversations_query", "parse_span", "report_query"]

Named = Callable[[str], str]
"""A parameter's name as the asker spells it."""


class Refused(Exception):
    """A question that cannot be answered; the message names the parameter."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True, slots=True)
class Span:
    """``[start_ms, end_ms)`` with the timezone its dates were read in."""

    tz: ZoneInfo
    start_ms: int
    end_ms: int


def parse_span(start: str | None, end: str | None, timezone: str | None, config: KpiConfig,
               named: Named) -> Span:
    """The span of ``from``/``to`` (a date at midnight in ``timezone``, default the
    configuration's ``defaults.timezone``, or an RFC 3339 time). Raises Refused."""
    name = timezone if timezone else config.defaults.timezone
    try:
        tz = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Refused("timezone", f"{named('timezone')} {name!r} is not an IANA timezone (e.g. "
                      "Europe/Berlin, UTC)") from None
    bounds = []
    for parameter, text in (("from", start), ("to", end)):
        if not text:
            raise Refused(parameter, f"{named(parameter)} is required: a date (2024-03-04) or "
                          "an RFC 3339 time")
        try:
            bounds.append(parse_bound(text, tz))
        except ValueError as error:
            raise Refused(parameter, f"{named(parameter)}: {error}") from None
    if bounds[0] >= bounds[1]:
        raise Refused("from", f"{named('from')} ({start}) must be before {named('to')} ({end})")
    return Span(tz, bounds[0], bounds[1])


def _within_retention(connection: duckdb.DuckDBPyConnection, starts: list[tuple[str, int]],
                      named: Named) -> int:
    """The history's as-of; raises Refused naming the first parameter whose period begins
    before what the database keeps (``history.days`` before its as-of), HistoryError for an
    unfinished backfill."""
    kept_from, as_of = held_span(connection)
    for parameter, start_ms in starts:
        if start_ms < kept_from:
            raise Refused(parameter, f"{named(parameter)} reaches before "
                          f"{format_time(kept_from)}, where the history's retention "
                          "(history.days) begins; give a later from")
    return as_of


def report_query(connection: duckdb.DuckDBPyConnection, params: Mapping[str, str | None],
                 config: KpiConfig, named: Named) -> tuple[dict[str, Any], str | None]:
    """(the period report, a note or None) for ``from``, ``to``, ``by`` (day, week, month;
    none: one period), ``slice`` (comma-separated), ``compare`` (1, true, yes, on; 0, false,
    no, off or empty) and ``timezone``. The note says when the span runs past the
    history's as-of. Raises Refused, or HistoryError for a database it cannot read."""
    span = parse_span(params.get("from"), params.get("to"), params.get("timezone"), config,
                      named)
    by: Grouping | None
    match params.get("by") or None:
        case None:
            by = None
        case "day" | "week" | "month" as grouping:
            by = grouping
        case other:
            raise Refused("by", f"{named('by')} {other!r} is not day, week or month")
    slices = [name.strip() for name in (params.get("slice") or "").split(",") if name.strip()]
    unknown = [name for name in slices if name not in SLICES]
    if unknown:
        raise Refused("slice", f"{named('slice')} {unknown[0]!r} is not a slice; use "
                      f"{', '.join(SLICES)}")
    compare = _flag(params.get("compare"), "compare", named)
    cut = periods(span.start_ms, span.end_ms, by, span.tz)
    before = [previous(period, by, span.tz) for period in cut] if compare else None
    as_of = _within_retention(connection, [("from", span.start_ms)] + [
        ("compare", period.start_ms) for period in before or ()], named)
    report = period_report(connection, Period(span.start_ms, span.end_ms), cut, before, slices,
                           config.weighted_score)
    return report, _past_as_of(span, as_of, named)


def conversations_query(connection: duckdb.DuckDBPyConnection,
                        params: Mapping[str, str | None], config: KpiConfig, named: Named
                        ) -> tuple[list[dict[str, Any]], str | None]:
    """(one row per conversation created in the span, a note or None) for ``from``, ``to``,
    ``timezone`` and the filters (team, agent, channel, priority, customer). Raises Refused,
    or HistoryError (an unknown team or agent, a database it cannot read)."""
    span = parse_span(params.get("from"), params.get("to"), params.get("timezone"), config,
                      named)
    as_of = _within_retention(connection, [("from", span.start_ms)], named)
    filters = {name: value for name in FILTERS if (value := params.get(name))}
    rows = list(conversation_rows(connection, span.start_ms, span.end_ms, filters))
    return rows, _past_as_of(span, as_of, named)


_YES = ("1", "true", "yes", "on")
_NO = ("", "0", "false", "no", "off")


def _flag(text: str | None, parameter: str, named: Named) -> bool:
    """A yes/no parameter (1, true, yes, on; 0, false, no, off or empty). Raises Refused."""
    value = (text or "").strip().lower()
    if value in _YES or value in _NO:
        return value in _YES
    raise Refused(parameter, f"{named(parameter)} {text!r} is neither yes (1, true, yes, on) "
                  "nor no (0, false, no, off)")


def _past_as_of(span: Span, as_of_ms: int, named: Named) -> str | None:
    if span.end_ms <= as_of_ms:
        return None
    return (f"the history ends at {format_time(as_of_ms)}; the span from there to "
            f"{named('to')} is empty")

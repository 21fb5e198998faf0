"""Period reports from the history database (SPEC §8): every windowed KPI of SPEC §3 per overall,
team, agent and slice, over periods, with the period before.

The KPI formulas are the registry's (:data:`~service.engine.kpis.WINDOW_KPIS`): the database
sums each counter feed and gathers each distribution feed over a period (DuckDB), and
:func:`~service.engine.kpis.window_values` computes the values from those totals, as a live
window does from its panes. Quantiles are exact (linear interpolation between the closest
ranks, as the live sketch approximates within 1%); counts, sums and means equal the live ones.
Presence time is the agents' segments clipped to the period (a running one until the
database's ``as_of_ms``).
"""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from service.engine.kpis import PANES, QUANTILES, window_values
from service.engine.records import format_time
from service.history.database import held_span
from service.history.periods import Period

__all__ = ["SLICES", "ExactDistribution", "PeriodTotals", "level_values", "period_report"]

SLICES = {"channel": "channel", "priority": "priority", "customer": "customer_id",
          "source": "source"}
"""Slice name (``--slice``) → the facts column it groups by."""

_COUNTER_SLOTS = {feed.name: feed.slot for feed in PANES.counters}
_DISTRIBUTIONS = {feed.name: feed.index for feed in PANES.distributions}


class ExactDistribution:
    """A period's values of one distribution feed: count, exact sum and exact quantiles (those
    of :data:`~service.engine.kpis.QUANTILES`)."""

    __slots__ = ("_quantiles", "count", "sum_ms")

    def __init__(self, count: int = 0, sum_ms: int = 0,
                 quantiles: Mapping[float, float] | None = None) -> None:
        self.count = count
        self.sum_ms = sum_ms
        self._quantiles = dict(quantiles or {})

    def quantiles(self, qs: Iterable[float]) -> list[float | None]:
        """The values at ``qs`` (None without values). Raises KeyError for a quantile not
        gathered."""
        return [self._quantiles[q] if self.count else None for q in qs]


_NO_VALUES = (ExactDistribution(),) * len(PANES.distributions)
"""Every distribution without values (one shared, never changed, instance)."""


@dataclass
class PeriodTotals:
    """One level key's totals over a period (:class:`~service.engine.kpis.WindowTotals`)."""

    counters: list[int] = field(default_factory=lambda: [0] * len(PANES.counters))
    sketches: Sequence[ExactDistribution] = _NO_VALUES
    logged_in_ms: int = 0
    busy_ms: int = 0
    counted: bool = False
    """Some counter has a value (a key without one and without presence is left out, as in a
    live window)."""


Key = tuple[int, str, str]
"""(period index, level, key): level ``overall`` (key ""), ``teams``, ``agents`` or
``slices.<name>``."""


def _grouped(slices: Sequence[str], aggregates: Sequence[str], source: str
             ) -> tuple[str, list[str]]:
    """SQL that totals ``base`` (built by ``source``) once per level key — overall, team,
    agent and each slice — by feed ``name`` (DuckDB's grouping sets: one pass), one row per
    period and key with the names and each of ``aggregates`` as lists; and the level of each
    key column in the result's order."""
    columns = ["team", "agent", *(SLICES[name] for name in slices)]
    levels = ["teams", "agents", *(f"slices.{name}" for name in slices)]
    sets = ", ".join(["(idx, name)", *(f"(idx, {column}, name)" for column in columns)])
    flags = [f"grouping({column}) AS g_{column}" for column in columns]
    named = [f"{aggregate} AS a{i}" for i, aggregate in enumerate(aggregates)]
    keys = ", ".join(["idx", *(f"g_{column}" for column in columns), *columns])
    return (f"WITH base AS ({source}), totals AS (SELECT idx, name, {', '.join(flags)}, "
            f"{', '.join(columns)}, {', '.join(named)} FROM base "
            f"GROUP BY GROUPING SETS ({sets})) "
            f"SELECT {keys}, list(name), "
            + ", ".join(f"list(a{i})" for i in range(len(aggregates)))
            + f" FROM totals GROUP BY {keys}"), levels


def _level_key(row: Sequence[Any], levels: Sequence[str]) -> tuple[str, str] | None:
    """(level, key) of a grouped row (``idx, flags…, keys…, lists…``); None for a key
    column that is empty (a fact without a team, say)."""
    width = len(levels)
    flags, keys = row[1:1 + width], row[1 + width:1 + 2 * width]
    for level, flag, key in zip(levels, flags, keys, strict=True):
        if flag == 0:
            return None if key is None else (level, key)
    return "overall", ""


def _gather(connection: duckdb.DuckDBPyConnection, slices: Sequence[str]
            ) -> dict[Key, PeriodTotals]:
    totals: dict[Key, PeriodTotals] = {}

    def of(key: Key) -> PeriodTotals:
        found = totals.get(key)
        if found is None:
            found = totals[key] = PeriodTotals()
        return found

    columns = "".join(f", c.{SLICES[name]}" for name in slices)
    joined = ("FROM facts f JOIN periods p ON f.at_ms >= p.start_ms AND f.at_ms < p.end_ms"
              + (" LEFT JOIN conversations c USING (conversation_id)" if slices else ""))
    lists = 1 + 2 * (2 + len(slices))

    def grouped(feeds: str, value: str, aggregates: list[str]
                ) -> Iterator[tuple[PeriodTotals, Iterator[tuple[Any, ...]]]]:
        """Each period and level key's totals entry with its (feed name, aggregates…) of the
        ``feeds`` (``counter`` or ``distribution``) columns' unnested values."""
        sql, levels = _grouped(slices, aggregates, (
            f"SELECT p.idx, f.team, f.agent{columns}, unnest(f.{feeds}_names) AS name, "
            f"unnest(f.{feeds}_{value}s) AS {value} {joined}"))
        for row in connection.execute(sql).fetchall():
            place = _level_key(row, levels)
            if place is not None:
                yield of((row[0], *place)), zip(*row[lists:], strict=True)

    for entry, named in grouped("counter", "amount", ["sum(amount)::BIGINT"]):
        for name, amount in named:
            slot = _COUNTER_SLOTS.get(name)
            if slot is not None and amount:
                entry.counters[slot] = amount
                entry.counted = True
    for entry, named in grouped("distribution", "value", [
            "count(*)", "sum(value)::BIGINT", f"quantile_cont(value, {list(QUANTILES)})"]):
        sketches = list(entry.sketches)
        for name, count, total, quantiles in named:
            index = _DISTRIBUTIONS.get(name)
            if index is not None:
                sketches[index] = ExactDistribution(count, total, dict(zip(
                    QUANTILES, quantiles, strict=True)))
        entry.sketches = sketches
    presence = connection.execute(
        "WITH clipped AS (SELECT p.idx, s.agent, s.team, s.busy, "
        "greatest(0, least(coalesce(s.end_ms, m.as_of), p.end_ms) - "
        "greatest(s.start_ms, p.start_ms)) AS ms FROM segments s "
        "CROSS JOIN (SELECT value::BIGINT AS as_of FROM meta WHERE key = 'as_of_ms') m "
        "JOIN periods p ON s.start_ms < p.end_ms AND coalesce(s.end_ms, m.as_of) > p.start_ms) "
        "SELECT idx, agent, team, sum(ms)::BIGINT, sum(CASE WHEN busy THEN ms ELSE 0 END)"
        "::BIGINT FROM clipped GROUP BY ALL").fetchall()
    for idx, agent, team, logged_in, busy in presence:
        keys = [(idx, "overall", ""), (idx, "agents", agent)]
        if team is not None:
            keys.append((idx, "teams", team))
        for key in keys:
            entry = of(key)
            entry.logged_in_ms += logged_in
            entry.busy_ms += busy
    return totals


def _agent_teams(connection: duckdb.DuckDBPyConnection) -> dict[tuple[int, str], str]:
    """(period index, agent) → the agent's team label at the period's end: the team of its
    latest fact or presence event naming one before then (at equal times the greater name),
    as :mod:`service.engine.labels` gives it live.

    The distinct period ends cut time into buckets; each mark counts in the one bucket it
    falls in (the latest per agent and bucket), and an end takes the latest bucket up to it
    that names the agent."""
    rows = connection.execute(
        "WITH ends AS (SELECT DISTINCT end_ms FROM periods), "
        "buckets AS (SELECT end_ms AS hi, lag(end_ms) OVER (ORDER BY end_ms) AS lo FROM ends), "
        "marks AS (SELECT agent, at_ms, team FROM facts WHERE agent IS NOT NULL AND team IS "
        "NOT NULL UNION ALL SELECT agent, at_ms, team FROM team_marks) "
        "SELECT b.hi, m.agent, max({'at': m.at_ms, 'team': m.team}).team FROM marks m "
        "JOIN buckets b ON m.at_ms < b.hi AND m.at_ms >= coalesce(b.lo, -1) "
        "GROUP BY ALL ORDER BY b.hi").fetchall()
    latest: dict[str, str] = {}
    at_end: dict[int, dict[str, str]] = {}
    by_end = iter(rows)
    row = next(by_end, None)
    for (end_ms,) in connection.execute("SELECT DISTINCT end_ms FROM periods ORDER BY 1"
                                        ).fetchall():
        while row is not None and row[0] <= end_ms:
            latest[row[1]] = row[2]
            row = next(by_end, None)
        at_end[end_ms] = dict(latest)
    return {(idx, agent): team
            for idx, end_ms in connection.execute("SELECT idx, end_ms FROM periods").fetchall()
            for agent, team in at_end[end_ms].items()}


def level_values(totals: Mapping[tuple[str, str], PeriodTotals],
                 agent_teams: Mapping[str, str], slices: Sequence[str],
                 weights: Mapping[str, Any]) -> dict[str, Any]:
    """LEVELS of SPEC §6 (windowed keys) for one period from its totals by (level, key):
    overall, teams, agents (with their team label), and with ``slices`` a ``slices`` level
    per name."""
    overall = totals.get(("overall", ""), PeriodTotals())
    out: dict[str, Any] = {"overall": window_values(overall, "overall", weights),
                           "teams": {}, "agents": {}}
    keyed = sorted((key, entry) for key, entry in totals.items()
                   if key[0] != "overall" and (entry.counted or entry.logged_in_ms))
    for (level, key), entry in keyed:
        if level == "teams":
            out["teams"][key] = window_values(entry, "teams", weights)
        elif level == "agents":
            out["agents"][key] = {"team": agent_teams.get(key),
                                  **window_values(entry, "agents", weights)}
        else:
            name = level.removeprefix("slices.")
            out.setdefault("slices", {}).setdefault(name, {})[key] = window_values(
                entry, "overall", weights)
    for name in slices:
        out.setdefault("slices", {}).setdefault(name, {})
    return out


def period_report(connection: duckdb.DuckDBPyConnection, span: Period,
                  periods: Sequence[Period], previous: Sequence[Period] | None,
                  slices: Sequence[str], weights: Mapping[str, Any]) -> dict[str, Any]:
    """SPEC §8's report JSON: ``{"from", "to", "periods": [{"from", "to", "levels",
    "previous"}]}`` (``previous`` only when ``previous`` gives each period's). Raises
    HistoryError for a database whose backfill did not finish."""
    held_span(connection)
    distinct = list(dict.fromkeys([*periods, *(previous or ())]))
    place = {period: index for index, period in enumerate(distinct)}
    connection.execute("CREATE OR REPLACE TEMP TABLE periods "
                       "(idx INTEGER, start_ms BIGINT, end_ms BIGINT)")
    connection.executemany("INSERT INTO periods VALUES (?, ?, ?)",
                           [(i, p.start_ms, p.end_ms) for i, p in enumerate(distinct)])
    by_period: dict[int, dict[tuple[str, str], PeriodTotals]] = {}
    for (index, level, key), totals in _gather(connection, slices).items():
        by_period.setdefault(index, {})[(level, key)] = totals
    teams: dict[int, dict[str, str]] = {}
    for (index, agent), team in _agent_teams(connection).items():
        teams.setdefault(index, {})[agent] = team

    def levels(period: Period) -> dict[str, Any]:
        index = place[period]
        return level_values(by_period.get(index, {}), teams.get(index, {}), slices, weights)

    out: list[dict[str, Any]] = []
    for i, period in enumerate(periods):
        entry: dict[str, Any] = {"from": format_time(period.start_ms),
                                 "to": format_time(period.end_ms), "levels": levels(period)}
        if previous is not None:
            entry["previous"] = levels(previous[i])
        out.append(entry)
    return {"from": format_time(span.start_ms), "to": format_time(span.end_ms), "periods": out}

"""SPEC §6's report: built from window values and live counts, merged across workers, and
compared.

Both drivers build it here: replay's engine (:mod:`service.engine.engine`) and a worker's owner
book (:mod:`service.engine.book`); the CLI, the board and the tests merge the workers'
reports with :func:`merge_reports`.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from service.engine.kpis import LIVE_KPIS, LevelValues
from service.engine.live import LiveCounts, LiveTotals
from service.engine.records import format_time
from service.names import merge_names

__all__ = ["build_report", "merge_reports", "report_differences"]


def _live_kpis(row: LiveCounts, level: str, status: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for spec in LIVE_KPIS:
        if level not in spec.levels:
            continue
        if spec.key == "status":
            values[spec.key] = status
        elif spec.key == "oldest_awaiting_first_response_seconds":
            oldest = row.oldest_awaiting_ms
            values[spec.key] = None if oldest is None else oldest / 1000
        else:
            values[spec.key] = getattr(row, spec.key)
    return values


def build_report(
    as_of_ms: int,
    windows: Mapping[str, LevelValues],
    live: LiveTotals,
    agent_status: Mapping[str, str],
    agent_team: Mapping[str, str],
) -> dict[str, Any]:
    """SPEC §6's report from window values and live counts (the keys come from the registry);
    ``overall`` only where the window values hold it."""

    def agent_entry(agent: str, values: dict[str, Any]) -> dict[str, Any]:
        return {"team": agent_team.get(agent), **values}

    report: dict[str, Any] = {"as_of": format_time(as_of_ms), "windows": {}}
    for name, values in windows.items():
        report["windows"][name] = {
            **({} if values.overall is None else {"overall": values.overall}),
            "teams": dict(sorted(values.teams.items())),
            "agents": {agent: agent_entry(agent, v) for agent, v in sorted(values.agents.items())},
        }
    agents = sorted(set(live.agents) | set(agent_status))
    zero = LiveCounts()
    report["live"] = {
        "overall": _live_kpis(live.overall, "overall", None),
        "teams": {team: _live_kpis(row, "teams", None) for team, row in sorted(live.teams.items())},
        "agents": {agent: agent_entry(agent, _live_kpis(live.agents.get(agent, zero), "agents",
                                                         agent_status.get(agent, "offline")))
                   for agent in agents},
    }
    return report


def merge_reports(reports: Iterable[dict[str, Any]]) -> dict[str, Any]:
    reports = list(reports)
    """One report from the workers' reports: each key comes from the worker that owns it, and
    so do the display names (``names``) of the keys that have one."""
    merged: dict[str, Any] | None = None
    for report in reports:
        if merged is None:
            merged = {"as_of": report["as_of"], "windows": {}, "live": {"teams": {}, "agents": {}}}
        for name, levels in report["windows"].items():
            into = merged["windows"].setdefault(name, {"teams": {}, "agents": {}})
            _merge_levels(into, levels)
        _merge_levels(merged["live"], report["live"])
    if merged is None:
        raise ValueError("no reports to merge")

    def ordered(levels: dict[str, Any]) -> dict[str, Any]:
        return {"overall": levels.get("overall"), "teams": dict(sorted(levels["teams"].items())),
                "agents": dict(sorted(levels["agents"].items()))}

    merged["windows"] = {name: ordered(levels) for name, levels in merged["windows"].items()}
    merged["live"] = ordered(merged["live"])
    return merge_names(reports, merged)


def _merge_levels(into: dict[str, Any], levels: dict[str, Any]) -> None:
    if levels.get("overall") is not None:
        into["overall"] = levels["overall"]
    into["teams"].update(levels["teams"])
    into["agents"].update(levels["agents"])


def report_differences(actual: Any, expected: Any, path: str = "") -> list[str]:
    """Where two reports differ, one line per differing leaf (``/windows/1h/...: a != b``)."""
    if isinstance(actual, dict) and isinstance(expected, dict):
        return [line for key in sorted(set(actual) | set(expected), key=str)
                for line in (report_differences(actual[key], expected[key], f"{path}/{key}")
                             if key in actual and key in expected
                             else [f"{path}/{key} only on one side"])]
    return [] if actual == expected else [f"{path}: {actual!r} != {expected!r}"]

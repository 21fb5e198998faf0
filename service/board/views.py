"""What the pages show, from the merged answers of the workers (no I/O here).

The wallboard's row of a team (SPEC §6, "Pages"): live open, awaiting a first response, at risk,
breaching and the oldest wait; agents available and busy (their presence status); the 1h
first-response p90; the 24h first-response SLA achieved ratio and CSAT positive ratio. The last
row is every team together, from the report's overall level and every agent.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from service.engine.queue import merge_queues

__all__ = ["ALL_TEAMS", "CATCHING_UP_MESSAGES", "URGENT_STATES", "CatchingUp", "TeamRow",
           "catching_up", "duration", "percent", "team_rows", "urgent_conversations"]

CATCHING_UP_MESSAGES = 1000
"""A worker with more input messages than this still to read (its consumer lag, over every
topic it reads) is catching up: after a start with a backfill, a restart or an outage, its live
state describes a past moment as if it were now (clocks that have stopped look breaching, hours
overdue), so the board shows no numbers until it has read them."""

ALL_TEAMS = "all teams"
URGENT_STATES = ("breaching", "at_risk", "open")
"""The listings the board's most urgent conversations come from: breaching and at-risk clocks
of any status, then the open conversations by seconds left."""


@dataclass(frozen=True, slots=True)
class TeamRow:
    team: str
    name: str
    """How people call the team (the report's ``names``; the key when none)."""
    open: int
    awaiting: int
    at_risk: int
    breaching: int
    oldest_wait_s: float | None
    available: int
    busy: int
    first_response_p90_s: float | None
    """1h window."""
    sla_achieved_ratio: float | None
    """First response, 24h window."""
    csat_positive_ratio: float | None
    """24h window."""


def _get(values: Mapping[str, Any] | None, *path: str) -> Any:
    value: Any = values
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _row(team: str, name: str, live: Mapping[str, Any] | None,
         hour: Mapping[str, Any] | None, day: Mapping[str, Any] | None,
         statuses: list[str]) -> TeamRow:
    return TeamRow(
        team=team,
        name=name,
        open=_get(live, "open") or 0,
        awaiting=_get(live, "awaiting_first_response") or 0,
        at_risk=_get(live, "sla_at_risk") or 0,
        breaching=_get(live, "sla_breaching") or 0,
        oldest_wait_s=_get(live, "oldest_awaiting_first_response_seconds"),
        available=statuses.count("available"),
        busy=statuses.count("busy"),
        first_response_p90_s=_get(hour, "first_response_seconds", "p90"),
        sla_achieved_ratio=_get(day, "sla", "first_response", "achieved_ratio"),
        csat_positive_ratio=_get(day, "csat", "positive_ratio"),
    )


def team_rows(report: Mapping[str, Any]) -> list[TeamRow]:
    """One row per team of the merged report (sorted), then the row of all teams."""
    live, windows = report["live"], report["windows"]
    hour, day = windows.get("1h", {}), windows.get("24h", {})
    teams = sorted(set(live.get("teams", {})) | set(hour.get("teams", {}))
                   | set(day.get("teams", {})))
    statuses: dict[str, list[str]] = {}
    for agent in live.get("agents", {}).values():
        if agent.get("status") is not None:
            statuses.setdefault(agent.get("team") or "", []).append(agent["status"])
    names = report.get("names", {}).get("teams", {})
    rows = [_row(team, names.get(team, team), live["teams"].get(team),
                 _get(hour, "teams", team), _get(day, "teams", team), statuses.get(team, []))
            for team in teams]
    rows.append(_row(ALL_TEAMS, ALL_TEAMS, live.get("overall"), hour.get("overall"),
                     day.get("overall"),
                     [s for team_statuses in statuses.values() for s in team_statuses]))
    return rows


def urgent_conversations(listings: Iterable[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The ``limit`` most urgent conversations of the workers' :data:`URGENT_STATES` listings,
    each once."""
    conversations: list[dict[str, Any]] = merge_queues(listings, limit)["conversations"]
    return conversations


def duration(seconds: float | None) -> str:
    """``–`` for none; 45s, 12m 30s, 2h 05m, -3m 10s (the sign kept)."""
    if seconds is None:
        return "–"
    whole = round(abs(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s" if minutes
            else f"{secs}s")
    return f"-{text}" if seconds < 0 else text


def percent(ratio: float | None) -> str:
    """``–`` for none, else a whole percentage (0.857 → 86%)."""
    return "–" if ratio is None else f"{round(ratio * 100)}%"


@dataclass(frozen=True, slots=True)
class CatchingUp:
    """Workers that are not live yet: ``messages`` still to read over all of them (consumer
    lag), ``workers`` how many are behind or still restoring their tables."""

    messages: int
    workers: int


def catching_up(readiness: Iterable[Mapping[str, Any] | None]) -> CatchingUp | None:
    """From the workers' ``/readyz`` bodies (None: no answer, which the page reports apart):
    the workers behind by more than :data:`CATCHING_UP_MESSAGES` or still ``recovering``;
    None when every worker that answered is live."""
    messages = workers = 0
    for body in readiness:
        if not isinstance(body, Mapping):
            continue
        lag = body.get("lag")
        behind = sum(lag.values()) if isinstance(lag, Mapping) else 0
        if behind > CATCHING_UP_MESSAGES or body.get("status") == "recovering":
            messages += behind
            workers += 1
    return CatchingUp(messages, workers) if workers else None

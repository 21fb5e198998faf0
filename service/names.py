"""Team and agent names for people: the directory of display names and helpdesk sources the
configuration gives, whether a name asked for is known, and what to say when not.

Reports and queue listings carry the display names of their keys (``names``, merged across
workers with the answers); the gateway maps helpdesk sources to teams (:meth:`Directory.team_of`).

A name is *known* when the worker that holds its owner has data of it within the pane
retention, or, for a team, when the configuration names it (SPEC §5). Every owner lives on one
partition, so the worker holding it can tell an unknown name from one held elsewhere; the CLI
and the board ask every worker's ``/owners`` for the names to suggest.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any

from service.engine.learned_names import LearnedNames

__all__ = ["Directory", "UnknownName", "merge_names", "named", "suggestions"]

_LISTED = 12
"""Known names printed in full before the rest are counted."""


@dataclass(frozen=True)
class Directory:
    """Display names by team and agent key, and the team of each helpdesk source
    (``vendor:tenant:id`` of a group, inbox or mailbox, or ``vendor:tenant`` for an account's
    conversations that name no team), from the configuration (``teams.<t>.name``,
    ``teams.<t>.sources``, ``agents.<a>.name``)."""

    teams: Mapping[str, str] = field(default_factory=dict)
    agents: Mapping[str, str] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)

    def team_of(self, team: str | None, account: str) -> str | None:
        """The team an event of the helpdesk ``account`` (``vendor:tenant``) counts for: its
        ``team``'s mapped key, else ``team`` itself; with none, the account's team, if any."""
        if team is None:
            return self.sources.get(account)
        return self.sources.get(team, team)

    def of_keys(self, teams: Iterable[str], agents: Iterable[str]) -> dict[str, dict[str, str]]:
        """``{"teams": {key: name}, "agents": {key: name}}`` of the keys that have a name."""
        return {"teams": {k: self.teams[k] for k in sorted(set(teams)) if k in self.teams},
                "agents": {k: self.agents[k] for k in sorted(set(agents)) if k in self.agents}}


def _report_keys(report: Mapping[str, Any], level: str) -> set[str]:
    found: set[str] = set()
    for block in [report.get("live"), *(report.get("windows") or {}).values()]:
        if isinstance(block, Mapping) and isinstance(block.get(level), Mapping):
            found.update(block[level])
    return found


def named(answer: dict[str, Any], directory: Directory,
          learned: LearnedNames | None = None) -> dict[str, Any]:
    """A report (SPEC §6) or a queue listing (``/conversations``) with ``names``: the display
    names of its teams and agents (``{"teams": {key: name}, "agents": {key: name}}``), when
    there is one: the directory's, else the one ``learned`` from the events, else none."""
    teams: Iterable[str]
    agents: Iterable[str]
    if "conversations" in answer:
        entries = answer["conversations"]
        teams = [e["team"] for e in entries if e.get("team")]
        agents = [e["agent"] for e in entries if e.get("agent")]
    else:
        teams, agents = _report_keys(answer, "teams"), _report_keys(answer, "agents")
    names = directory.of_keys(teams, agents)
    if learned is not None:
        for level, keys in (("team", teams), ("agent", agents)):
            given = names[f"{level}s"]
            heard = learned.of_keys(level, set(keys) - set(given))
            names[f"{level}s"] = dict(sorted({**heard, **given}.items()))
    if names["teams"] or names["agents"]:
        answer["names"] = names
    return answer


def merge_names(answers: Iterable[Mapping[str, Any]], into: dict[str, Any]) -> dict[str, Any]:
    """``into`` with the ``names`` of the workers' ``answers`` merged (sorted), if any."""
    merged: dict[str, dict[str, str]] = {"teams": {}, "agents": {}}
    for answer in answers:
        for level, held in answer.get("names", {}).items():
            merged[level].update(held)
    if merged["teams"] or merged["agents"]:
        into["names"] = {level: dict(sorted(held.items())) for level, held in merged.items()}
    return into


def suggestions(name: str, known: Iterable[str], limit: int = 3) -> list[str]:
    """The known names closest to ``name`` (case and spelling: ``Billing`` → ``billing``),
    best first, at most ``limit``."""
    by_folded: dict[str, str] = {}
    for candidate in sorted(known):
        by_folded.setdefault(candidate.casefold(), candidate)
    folded = name.casefold()
    if folded in by_folded and by_folded[folded] != name:
        return [by_folded[folded]]
    return [by_folded[m] for m in get_close_matches(folded, list(by_folded), n=limit,
                                                    cutoff=0.6)]


@dataclass(frozen=True)
class UnknownName:
    """A team or agent named in a request that no data and no configuration knows.

    ``known``: the names of that level to offer (one worker's, or every worker's merged);
    ``retention_hours``: how far back data is kept, which bounds what "no data" means."""

    level: str
    name: str
    known: tuple[str, ...]
    retention_hours: float

    def message(self, complete: bool = True) -> str:
        """One line for a person: what is wrong, the nearest known names, the known ones.
        ``complete`` False: ``known`` is one worker's share, and the line says how to see all."""
        why = f"no data in the last {self.retention_hours:g} h" + (
            " and not in the configuration" if self.level == "team" else "")
        text = f"{self.level} {self.name!r} is not known ({why})"
        near = suggestions(self.name, self.known)
        if near:
            text += "; did you mean " + " or ".join(repr(n) for n in near) + "?"
        shown = sorted(self.known)
        listed = ", ".join(shown[:_LISTED]) + (
            f" and {len(shown) - _LISTED} more" if len(shown) > _LISTED else "")
        where = "known" if complete else "known to this worker"
        text += f" {self.level.capitalize()}s {where}: {listed or 'none yet'}."
        if not complete:
            text += " GET /owners on each worker lists the names it holds."
        return text

    @classmethod
    def of_answer(cls, unknown: Mapping[str, object], known: Iterable[str]) -> "UnknownName":
        """From the ``unknown`` of a worker's 404 (:meth:`body`) and the names every worker
        knows."""
        hours = unknown.get("retention_hours")
        return cls(str(unknown.get("level")), str(unknown.get("name")), tuple(sorted(known)),
                   float(hours) if isinstance(hours, int | float) else 25.0)

    def body(self) -> dict[str, object]:
        """The JSON of a 404 answer: the message and what a client needs to merge it."""
        return {"error": self.message(complete=False),
                "unknown": {"level": self.level, "name": self.name,
                            "retention_hours": self.retention_hours}}

"""Team and agent names asked for by a person: whether one is known, and what to say when not.

A name is *known* when the worker that holds its owner has data of it within the pane
retention, or, for a team, when the configuration names it (SPEC §5). Every owner lives on one
partition, so the worker holding it can tell an unknown name from one held elsewhere; the CLI
and the board ask every worker's ``/owners`` for the names to suggest.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches

__all__ = ["LEVELS", "UnknownName", "suggestions"]

LEVELS = ("team", "agent")
"""The levels a person names (overall has no name)."""

_LISTED = 12
"""Known names printed in full before the rest are counted."""


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

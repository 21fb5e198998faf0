"""The names for people that the events themselves carry (``team_name``, ``agent_name``; the
gateway fills them from the helpdesks' payloads), held per owner.

An owner's name is the one on the latest event (by event time) that names it; between two
names of the same time, the greater string. That makes the name a function of the set of
events, the same in any order of arrival and under duplicates, so replay and the workers (who
learn it from deltas, :class:`~service.engine.deltas.OwnerDeltas` ``names``) agree. A name in
the configuration (``teams.<t>.name``, ``agents.<a>.name``) wins over a learned one
(:func:`service.names.named`).

Learned names are kept for as long as their owner is held: one short string per team and agent.
"""

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from service.engine.owner_keys import Owner, agent_owner, team_owner

__all__ = ["LearnedNames", "Sighting", "keep_latest", "sightings"]


class Sighting(NamedTuple):
    """An event naming an owner: its time (epoch ms) and the name."""

    at: int
    name: str


def sightings(event: Any, at_ms: int) -> list[tuple[Owner, Sighting]]:
    """The owners a validated event (SPEC §2) names, with its time ``at_ms``: the team when it
    has ``team_name``, the agent (``agent_id``) when it has ``agent_name`` (validation refuses
    a name without its key)."""
    found: list[tuple[Owner, Sighting]] = []
    if event.team_name is not None:
        found.append((team_owner(event.team), Sighting(at_ms, event.team_name)))
    if event.agent_name is not None:
        found.append((agent_owner(event.agent_id), Sighting(at_ms, event.agent_name)))
    return found


def keep_latest(names: dict[Owner, Sighting], owner: Owner, sighting: Sighting) -> bool:
    """Hold ``sighting`` for ``owner`` in ``names`` if it is later (or, at the same time, a
    greater name) than the one held; True when it was taken."""
    held = names.get(owner)
    if held is not None and held >= sighting:
        return False
    names[owner] = sighting
    return True


class LearnedNames:
    """Owner → the :class:`Sighting` that gives its name (see the module docstring)."""

    __slots__ = ("held",)

    def __init__(self) -> None:
        self.held: dict[Owner, Sighting] = {}

    def learn(self, owner: Owner, sighting: Sighting) -> bool:
        """Take ``sighting`` if it is later (or, at the same time, a greater name) than the one
        held; True when the name held changed (:func:`keep_latest`)."""
        return keep_latest(self.held, owner, sighting)

    def of_keys(self, level: str, keys: Iterable[str]) -> dict[str, str]:
        """Key → learned name of the ``level`` (team, agent) keys that have one."""
        held = self.held
        found = {}
        for key in keys:
            sighting = held.get(Owner(level, key))  # type: ignore[arg-type]
            if sighting is not None:
                found[key] = sighting.name
        return found

    def drop(self, owners: Iterable[Owner]) -> None:
        for owner in owners:
            self.held.pop(owner, None)

    def __iter__(self) -> Iterator[tuple[Owner, Sighting]]:
        return iter(self.held.items())

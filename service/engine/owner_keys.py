"""Owner keys: whose aggregates a fact, a live summary or a stretch of presence feeds.

An :class:`Owner` is a level (overall, team, agent) and a name. On the wire and in the tables
an owner is written as ``o``, ``t:<team>`` or ``a:<agent>`` (:meth:`Owner.code`), and the
partition that holds it is the one Kafka's default partitioner gives that code.
"""

from functools import lru_cache
from typing import Literal, NamedTuple

from service.engine.facts import F_BUSY, Fact

__all__ = ["OVERALL", "Level", "Owner", "agent_owner", "fact_owners", "owner_for",
           "owner_of_code", "owners_of", "team_owner"]

Level = Literal["overall", "team", "agent"]


class Owner(NamedTuple):
    level: Level
    key: str
    """The team's or agent's name; empty for overall."""

    @property
    def code(self) -> str:
        """``o``, ``t:<team>`` or ``a:<agent>``: the owner on the wire, in the tables and for
        partitioning."""
        if self.level == "overall":
            return "o"
        return ("t:" if self.level == "team" else "a:") + self.key

    @property
    def report_level(self) -> str:
        """The level as the report and the KPI registry name it: overall, teams, agents."""
        return "overall" if self.level == "overall" else self.level + "s"


OVERALL = Owner("overall", "")


def team_owner(team: str) -> Owner:
    return Owner("team", team)


def agent_owner(agent: str) -> Owner:
    return Owner("agent", agent)


def owner_for(level: str, key: str | None) -> Owner:
    """The owner of a level (overall, team, agent) and a name. Raises ValueError for another
    level, or a team or agent without a name."""
    if level == "overall":
        return OVERALL
    if level not in ("team", "agent") or not key:
        raise ValueError(f"not an owner: level {level!r}, name {key!r}")
    return Owner("team" if level == "team" else "agent", key)


@lru_cache(maxsize=1 << 16)
def owner_of_code(code: str) -> Owner:
    """The inverse of :attr:`Owner.code` (the last 65,536 codes are remembered: every delta
    and pane row names its owner by code). Raises ValueError for another form."""
    if code == "o":
        return OVERALL
    prefix, _, key = code.partition(":")
    if prefix == "t" and key:
        return Owner("team", key)
    if prefix == "a" and key:
        return Owner("agent", key)
    raise ValueError(f"not an owner code: {code!r}")


def owners_of(team: str | None, agent: str | None) -> list[Owner]:
    """Overall, the team (if any) and the agent (if any)."""
    owners = [OVERALL]
    if team is not None:
        owners.append(Owner("team", team))
    if agent is not None:
        owners.append(Owner("agent", agent))
    return owners


def fact_owners(fact: Fact) -> list[Owner]:
    """The owners a fact counts for (SPEC §3: an agent-less fact counts at team and overall
    level, a team-less one at overall only); busy time belongs to its agent's timeline."""
    if fact.kind == F_BUSY:
        assert fact.agent is not None
        return [Owner("agent", fact.agent)]
    return owners_of(fact.team, fact.agent)

"""The team each agent is shown in: the ``team`` of an agent's report entries (SPEC §6), its
Prometheus series and the board's grouping.

It is the team of the latest fact credited to the agent, or of its latest presence event that
names a team, by event time (at equal times, the greater team name), whatever order they
arrived in; a retracted fact no longer counts. So one reply that arrives before its
conversation's assignment never puts an agent in a team it never worked in, and the label does
not flip with delivery order.
"""

from bisect import insort
from collections.abc import Iterator

__all__ = ["AgentTeams"]

Mark = tuple[int, str]
"""(epoch ms, team)."""


class _Marks:
    __slots__ = ("counts", "order")

    def __init__(self) -> None:
        self.counts: dict[Mark, int] = {}
        self.order: list[Mark] = []
        """Every mark with a count, sorted; marks whose count fell to 0 are removed lazily (a
        mark counted again meanwhile may be listed twice)."""

    def latest(self) -> Mark | None:
        order, counts = self.order, self.counts
        while order and order[-1] not in counts:
            order.pop()
        return order[-1] if order else None


class AgentTeams:
    """Agent → the (time, team) marks of what is credited to it; :meth:`team` is the label."""

    __slots__ = ("_agents",)

    def __init__(self) -> None:
        self._agents: dict[str, _Marks] = {}

    def note(self, agent: str, at_ms: int, team: str | None, sign: int = 1) -> None:
        """A fact credited to ``agent`` with ``team`` at ``at_ms`` was added (``sign`` 1; a
        presence event naming a team counts as one) or retracted (-1)."""
        if team is None:
            return
        marks = self._agents.get(agent)
        if marks is None:
            if sign < 0:
                return
            marks = self._agents[agent] = _Marks()
        mark = (at_ms, team)
        count = marks.counts.get(mark, 0) + sign
        if count > 0:
            if mark not in marks.counts:
                order = marks.order
                if not order or mark > order[-1]:
                    order.append(mark)
                else:
                    insort(order, mark)
            marks.counts[mark] = count
        else:
            marks.counts.pop(mark, None)

    def team(self, agent: str) -> str | None:
        marks = self._agents.get(agent)
        latest = None if marks is None else marks.latest()
        return None if latest is None else latest[1]

    def items(self) -> Iterator[tuple[str, str]]:
        """(agent, team) of every agent with a label."""
        for agent in self._agents:
            team = self.team(agent)
            if team is not None:
                yield agent, team

    def expire(self, cutoff_ms: int) -> None:
        """Forget marks dated before ``cutoff_ms``, except each agent's latest."""
        for agent in list(self._agents):
            marks = self._agents[agent]
            latest = marks.latest()
            if latest is None:
                del self._agents[agent]
                continue
            kept = [m for m in dict.fromkeys(marks.order) if m in marks.counts
                    and (m[0] >= cutoff_ms or m == latest)]
            marks.order = kept
            marks.counts = {m: marks.counts[m] for m in kept}

    def drop(self, agent: str) -> None:
        self._agents.pop(agent, None)

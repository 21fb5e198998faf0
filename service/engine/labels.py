"""The team each agent is shown in: the ``team`` of an agent's report entries (SPEC §6), its
Prometheus series and the board's grouping.

It is the team of the latest fact credited to the agent, or of its latest presence event that
names a team (:meth:`~service.engine.presence.AgentTimeline.team_mark`), by event time (at
equal times, the greater team name), whatever order they arrived in; a retracted fact no longer
counts. So one reply that arrives before its
conversation's assignment never puts an agent in a team it never worked in, and the label does
not flip with delivery order.

The marks (time, team) are kept per 1-minute pane, with their counts, as the panes are: a
worker writes them with the agent's pane row of that minute, and they expire with it.
"""

from bisect import insort
from collections.abc import Iterator, Mapping

from service.engine.panes import MINUTE_MS

__all__ = ["AgentTeams", "Mark"]

Mark = tuple[int, str]
"""(epoch ms, team)."""


class _Marks:
    __slots__ = ("minutes", "order")

    def __init__(self) -> None:
        self.minutes: dict[int, dict[Mark, int]] = {}
        """Minute → mark → count (above zero)."""
        self.order: list[Mark] = []
        """Every mark with a count, sorted; marks whose count fell to 0 are removed lazily (a
        mark counted again meanwhile may be listed twice)."""

    def count(self, mark: Mark) -> int:
        held = self.minutes.get(mark[0] - mark[0] % MINUTE_MS)
        return 0 if held is None else held.get(mark, 0)

    def latest(self) -> Mark | None:
        order = self.order
        while order and not self.count(order[-1]):
            order.pop()
        return order[-1] if order else None


class AgentTeams:
    """Agent → the (time, team) marks of the facts credited to it."""

    __slots__ = ("_agents",)

    def __init__(self) -> None:
        self._agents: dict[str, _Marks] = {}

    def note(self, agent: str, at_ms: int, team: str | None, sign: int = 1) -> None:
        """A fact credited to ``agent`` with ``team`` at ``at_ms`` was added (``sign`` 1) or
        retracted (-1); ``sign`` may be any count."""
        if team is None or not sign:
            return
        marks = self._agents.get(agent)
        if marks is None:
            marks = self._agents[agent] = _Marks()
        mark = (at_ms, team)
        minute = at_ms - at_ms % MINUTE_MS
        held = marks.minutes.setdefault(minute, {})
        before = held.get(mark, 0)
        count = before + sign
        if count:
            held[mark] = count
        else:
            held.pop(mark, None)
            if not held:
                del marks.minutes[minute]
        if before <= 0 < count:
            order = marks.order
            if not order or mark > order[-1]:
                order.append(mark)
            else:
                insort(order, mark)

    def load(self, agent: str, minute: int, marks: Mapping[Mark, int]) -> None:
        """The marks of ``agent``'s pane of ``minute`` read back from a store, held as
        :meth:`note` of each would hold them; loading minutes in ascending order appends to
        the order instead of inserting."""
        held = self._agents.get(agent)
        if held is None:
            held = self._agents[agent] = _Marks()
        if minute in held.minutes:
            for (at, team), count in marks.items():
                self.note(agent, at, team, count)
            return
        held.minutes[minute] = {mark: n for mark, n in marks.items() if n}
        order = held.order
        for mark in sorted(mark for mark, n in marks.items() if n > 0):
            if not order or mark > order[-1]:
                order.append(mark)
            else:
                insort(order, mark)

    def latest(self, agent: str) -> Mark | None:
        """The latest mark of ``agent``'s facts."""
        marks = self._agents.get(agent)
        return None if marks is None else marks.latest()

    def agents(self) -> Iterator[str]:
        return iter(self._agents)

    def in_minute(self, agent: str, minute: int) -> Mapping[Mark, int]:
        """The marks of ``agent`` in the pane of ``minute``, with their counts."""
        marks = self._agents.get(agent)
        return {} if marks is None else marks.minutes.get(minute, {})

    def expire(self, cutoff_ms: int) -> None:
        """Forget the marks of the panes that end before ``cutoff_ms``, except each agent's
        latest."""
        for agent in list(self._agents):
            marks = self._agents[agent]
            latest = marks.latest()
            if latest is None:
                del self._agents[agent]
                continue
            for minute in [m for m in marks.minutes if m + MINUTE_MS <= cutoff_ms]:
                held = marks.minutes[minute]
                kept = {mark: n for mark, n in held.items() if mark == latest}
                if kept:
                    marks.minutes[minute] = kept
                else:
                    del marks.minutes[minute]
            marks.order = sorted(mark for held in marks.minutes.values() for mark in held)

    def drop(self, agent: str) -> None:
        self._agents.pop(agent, None)

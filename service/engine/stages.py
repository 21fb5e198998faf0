"""The engine's two stages, kept apart so the streaming service can run them on the workers
that own their keys.

* :class:`ConversationStage` is keyed by conversation: it turns events into fact changes and
  knows the live state of every conversation.
* :class:`AggregateStage` is keyed by agent, team and overall: it keeps the panes, agent
  presence and attention intervals, and answers window totals.
"""

import heapq
from collections.abc import Iterator
from typing import Any

from service.engine.aggregates import Aggregates, LevelPanes, Totals
from service.engine.conversation import (
    Conversation,
    ConversationFold,
    LiveSummary,
    TeamPolicy,
)
from service.engine.facts import F_BUSY, Fact, FactChange
from service.engine.panes import WindowSpec
from service.engine.presence import AgentTimeline, clip_segments
from service.engine.records import Record

__all__ = [
    "HOUR_MS",
    "REVIEW_PREFIX",
    "AggregateStage",
    "ConversationStage",
    "LevelTotals",
    "LiveCounts",
    "LiveTotals",
]

HOUR_MS = 3_600_000
RESOLVED_FORGET_AFTER_MS = 30 * 24 * HOUR_MS
REVIEW_PREFIX = "review:"
"""A review without a conversation is kept as a conversation of its own, ``review:<event id
digest>``, so that it is de-duplicated, attributed and synced like every other fact."""
_ACTIVE = ("open", "pending", "snoozed")

LiveCounts = list[Any]
"""[open, unassigned, waiting_on_customer, awaiting_first_response, oldest_awaiting_ms | None,
sla_breaching, sla_at_risk, assigned_open]; merged across workers by sum (max for oldest)."""
LIVE_FIELDS = ("open", "unassigned", "waiting_on_customer", "awaiting_first_response",
               "oldest_awaiting_first_response_ms", "sla_breaching", "sla_at_risk",
               "assigned_open")


class LiveTotals:
    __slots__ = ("agents", "overall", "teams")

    def __init__(self) -> None:
        self.overall: LiveCounts = _live_zero()
        self.teams: dict[str, LiveCounts] = {}
        self.agents: dict[str, LiveCounts] = {}


def _live_zero() -> LiveCounts:
    return [0, 0, 0, 0, None, 0, 0, 0]


class LevelTotals:
    __slots__ = ("agents", "overall", "teams")

    def __init__(self) -> None:
        self.overall = Totals()
        self.teams: dict[str, Totals] = {}
        self.agents: dict[str, Totals] = {}


_FOLD_FIELDS = ConversationFold.__slots__


class ConversationStage:
    """Conversations by id: events in, fact changes out, and live state."""

    def __init__(self, policy: TeamPolicy, retention_ms: int, forget_after_ms: int,
                 compact: bool = True) -> None:
        self.policy = policy
        self.compact = compact
        self.retention_ms = retention_ms
        self.forget_after_ms = forget_after_ms
        self.conversations: dict[str, Conversation] = {}
        self.last_at: dict[str, int] = {}
        self.compacted: dict[str, set[int]] = {}
        self.active: set[str] = set()
        self._due: list[tuple[int, str]] = []

    def add(self, conversation_id: str, record: Record) -> list[FactChange] | None:
        """Apply an event to its conversation; ``None`` for a repeated event id."""
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            conversation = self.conversations[conversation_id] = Conversation(conversation_id)
            self.last_at[conversation_id] = record[0]
        seen = self.compacted.get(conversation_id)
        if seen is None:
            changes = conversation.add(record, self.policy)
        elif record[2] in seen:
            changes = None
        else:
            seen.add(record[2])
            changes = conversation.fold.apply(record, self.policy)
        if changes is None:
            return None
        if record[0] > self.last_at[conversation_id]:
            self.last_at[conversation_id] = record[0]
        fold = conversation.fold
        if conversation_id.startswith(REVIEW_PREFIX):
            heapq.heappush(self._due, (record[0] + self.retention_ms, conversation_id))
        elif fold.status in _ACTIVE:
            if fold.created_at is not None:
                self.active.add(conversation_id)
        else:
            self.active.discard(conversation_id)
            heapq.heappush(self._due, (self.last_at[conversation_id] + self.retention_ms,
                                       conversation_id))
        return changes

    def expire(self, watermark_ms: int) -> None:
        """Retire conversations that ended long ago.

        A resolved or closed conversation idle for the pane retention is compacted: its event log
        can no longer change a retained pane, so only the fold (what ratings need) and the ids
        it saw are kept. A closed one idle for ``forget_after_ms`` is forgotten, a resolved one
        (which may still be closed or reopened) after at least 30 days. Open, pending and
        snoozed conversations are kept however long they wait: they are live state."""
        due = self._due
        while due and due[0][0] <= watermark_ms:
            _, cid = heapq.heappop(due)
            conversation = self.conversations.get(cid)
            if conversation is None:
                continue
            idle_since = self.last_at[cid]
            if cid.startswith(REVIEW_PREFIX):
                if idle_since + self.retention_ms <= watermark_ms:
                    del self.conversations[cid], self.last_at[cid]
                continue
            if conversation.fold.status in _ACTIVE:
                continue
            forget_at = idle_since + (
                self.forget_after_ms if conversation.fold.closed
                else max(self.forget_after_ms, RESOLVED_FORGET_AFTER_MS))
            if forget_at <= watermark_ms:
                del self.conversations[cid], self.last_at[cid]
                self.compacted.pop(cid, None)
                continue
            compact_at = idle_since + self.retention_ms
            if compact_at > watermark_ms:
                heapq.heappush(due, (compact_at, cid))
                continue
            if self.compact and cid not in self.compacted:
                self.compacted[cid] = {r[2] for r in conversation.log}
                conversation.log = []
            heapq.heappush(due, (forget_at, cid))

    def restore(self, conversation_id: str, conversation: Conversation) -> None:
        """Adopt a conversation recovered from saved state."""
        self.conversations[conversation_id] = conversation
        log = conversation.log
        self.last_at[conversation_id] = max((r[0] for r in log), default=0)
        fold = conversation.fold
        if fold.status in _ACTIVE and fold.created_at is not None:
            self.active.add(conversation_id)
        elif log:
            heapq.heappush(self._due, (self.last_at[conversation_id] + self.retention_ms,
                                       conversation_id))

    def live(self, as_of_ms: int, at_risk_ratio: float) -> LiveTotals:
        """Live counts at ``as_of_ms`` over conversations not resolved or closed."""
        totals = LiveTotals()
        for cid in self.active:
            summary = self.conversations[cid].fold.live_summary()
            if summary is not None:
                row = live_row(summary, as_of_ms, self.policy, at_risk_ratio)
                add_live(totals, summary, row, ("overall", "teams", "agents"))
        return totals

    # -- saved state ---------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {
            "conversations": {
                cid: [c.to_state(), [getattr(c.fold, f) for f in _FOLD_FIELDS]]
                for cid, c in self.conversations.items()
            },
            "last_at": self.last_at,
            "compacted": {cid: sorted(fps) for cid, fps in self.compacted.items()},
            "due": self._due,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        for cid, (conversation_state, fold_values) in state["conversations"].items():
            conversation = Conversation.from_state(cid, conversation_state)
            for name, value in zip(_FOLD_FIELDS, fold_values, strict=True):
                setattr(conversation.fold, name, value)
            self.conversations[cid] = conversation
            fold = conversation.fold
            if fold.status in _ACTIVE and fold.created_at is not None:
                self.active.add(cid)
        self.last_at = dict(state["last_at"])
        self.compacted = {cid: set(fps) for cid, fps in state["compacted"].items()}
        self._due = [(due, cid) for due, cid in state["due"]]
        heapq.heapify(self._due)


def live_row(summary: LiveSummary, as_of_ms: int, policy: TeamPolicy, at_risk_ratio: float
             ) -> LiveCounts:
    """One conversation's contribution to the live counts at ``as_of_ms``."""
    team, assignee, status, priority, awaiting_since, clock_kind, clock_start = summary
    row = _live_zero()
    if status == "open":
        row[0] = 1
    else:
        row[2] = 1
    if assignee is None:
        row[1] = 1
    elif status == "open":
        row[7] = 1
    if awaiting_since is not None:
        row[3] = 1
        row[4] = as_of_ms - awaiting_since
    if clock_kind is not None:
        rules = policy.team(team)
        target, business = rules.sla_target(clock_kind, priority)
        elapsed = (rules.calendar.business_ms(clock_start, as_of_ms) if business
                   else as_of_ms - clock_start)
        if elapsed > target:
            row[5] = 1
        elif elapsed > at_risk_ratio * target:
            row[6] = 1
    return row


def add_live(totals: LiveTotals, summary: LiveSummary, row: LiveCounts,
             levels: tuple[str, ...]) -> None:
    team, assignee = summary[0], summary[1]
    if "overall" in levels:
        _live_add(totals.overall, row)
    if "teams" in levels and team is not None:
        _live_add(totals.teams.setdefault(team, _live_zero()), row)
    if "agents" in levels and assignee is not None:
        _live_add(totals.agents.setdefault(assignee, _live_zero()), row)


def _live_add(into: LiveCounts, row: LiveCounts) -> None:
    for i, value in enumerate(row):
        if i == 4:
            if value is not None and (into[4] is None or value > into[4]):
                into[4] = value
        elif value:
            into[i] += value


class AgentBook:
    """What both aggregate holders keep per agent: presence and attention timelines, and the
    agent's team (from its latest presence event or fact)."""

    def __init__(self) -> None:
        self.timelines: dict[str, AgentTimeline] = {}
        self.agent_team: dict[str, tuple[int, str]] = {}

    def timeline(self, agent: str) -> AgentTimeline:
        timeline = self.timelines.get(agent)
        if timeline is None:
            timeline = self.timelines[agent] = AgentTimeline()
        return timeline

    def _note_team(self, agent: str, team: str | None, at: int) -> None:
        if team is None:
            return
        known = self.agent_team.get(agent)
        if known is None or (at, team) > known:
            self.agent_team[agent] = (at, team)


class AggregateStage(AgentBook):
    """Panes, presence and attention per agent, team and overall."""

    def __init__(self, retention_ms: int) -> None:
        super().__init__()
        self.retention_ms = retention_ms
        self.aggregates = Aggregates(retention_ms)

    def apply(self, change: FactChange, cutoff_ms: int) -> bool:
        """Apply one fact change; False when it only touches panes out of retention."""
        old, new = change
        fact: Fact = new if new is not None else old  # type: ignore[assignment]
        if fact[1] == F_BUSY:
            if old is not None:
                self.timeline(old[4]).attention.pop(old[0], None)
            if new is not None:
                self.timeline(new[4]).set_attention(new[0], new[5], new[6])
            return True
        applied = False
        if old is not None:
            applied |= self.aggregates.apply(old, -1, cutoff_ms)
        if new is not None:
            applied |= self.aggregates.apply(new, 1, cutoff_ms)
            if new[4] is not None:
                self._note_team(new[4], new[3], new[2])
        return applied

    def add_presence(self, record: Record) -> bool | None:
        """An agent.status_changed; None for a repeated id."""
        agent = record[5]
        if not self.timeline(agent).add_presence(record):
            return None
        self._note_team(agent, record[4], record[0])
        return True

    def expire(self, cutoff_ms: int) -> None:
        self.aggregates.expire(cutoff_ms)
        for agent in list(self.timelines):
            timeline = self.timelines[agent]
            timeline.expire(cutoff_ms)
            if timeline.empty:
                del self.timelines[agent]

    def window_totals(self, window: WindowSpec, as_of_ms: int) -> LevelTotals:
        out = LevelTotals()
        out.overall = self.aggregates.overall.totals(window, as_of_ms)
        for table, into in ((self.aggregates.teams, out.teams),
                            (self.aggregates.agents, out.agents)):
            for key, panes in table.items():
                totals = _non_empty(panes, window, as_of_ms)
                if totals is not None:
                    into[key] = totals
        start, end = window.span(as_of_ms)
        for agent, timeline in self.timelines.items():
            for team, logged, busy in clip_segments(timeline.segments(), start, end):
                targets = [out.overall, _totals(out.agents, agent)]
                if team is not None:
                    targets.append(_totals(out.teams, team))
                for totals in targets:
                    totals.logged_in_ms += logged
                    totals.busy_ms += busy
        return out

    def agent_status(self, as_of_ms: int) -> Iterator[tuple[str, str]]:
        for agent, timeline in self.timelines.items():
            if timeline.presence:
                yield agent, timeline.status_at(as_of_ms)

    def to_state(self) -> dict[str, Any]:
        def panes_state(level: LevelPanes) -> list[Any]:
            return [[at, [x for item in pane.items() for x in item]]
                    for at, pane in level.minutes.items()]

        agg = self.aggregates
        return {
            "overall": panes_state(agg.overall),
            "teams": {k: panes_state(v) for k, v in agg.teams.items()},
            "agents": {k: panes_state(v) for k, v in agg.agents.items()},
            "created": list(agg._created),
            "timelines": {k: v.to_state() for k, v in self.timelines.items()},
            "agent_team": self.agent_team,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        from collections import deque

        def load_panes(data: list[Any]) -> LevelPanes:
            level = LevelPanes()
            for at, flat in data:
                level.minutes[at] = dict(zip(flat[::2], flat[1::2], strict=True))
            return level

        agg = self.aggregates
        agg.overall = load_panes(state["overall"])
        agg.teams = {k: load_panes(v) for k, v in state["teams"].items()}
        agg.agents = {k: load_panes(v) for k, v in state["agents"].items()}
        agg._created = deque(tuple(x) for x in state["created"])
        self.timelines = {k: AgentTimeline.from_state(v) for k, v in state["timelines"].items()}
        self.agent_team = {k: (v[0], v[1]) for k, v in state["agent_team"].items()}


def _totals(table: dict[str, Totals], key: str) -> Totals:
    totals = table.get(key)
    if totals is None:
        totals = table[key] = Totals()
    return totals


def _non_empty(panes: LevelPanes, window: WindowSpec, as_of_ms: int) -> Totals | None:
    totals = panes.totals(window, as_of_ms)
    return totals if any(totals.counters) else None

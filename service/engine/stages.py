"""The engine's two stages, kept apart so the streaming service can run them on the workers
that own their keys.

* :class:`ConversationStage` is keyed by conversation: it turns events into fact changes and
  knows the live state of every conversation.
* :class:`AggregateStage` is keyed by agent, team and overall: it keeps the panes, agent
  presence and attention intervals, and answers window totals.
"""

import heapq
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from service.engine.aggregates import Aggregates, LevelPanes, Totals
from service.engine.conversation import (
    Conversation,
    ConversationFold,
    LiveSummary,
    TeamPolicy,
    business_ms,
    sla_elapsed_ms,
)
from service.engine.facts import F_BUSY, Fact, FactChange
from service.engine.panes import WindowSpec
from service.engine.presence import AgentTimeline, clip_segments
from service.engine.records import Record

__all__ = [
    "DAY_MS",
    "DEFAULT_CLOSED_RETENTION_MS",
    "HOUR_MS",
    "REVIEW_PREFIX",
    "AggregateStage",
    "ConversationStage",
    "LevelTotals",
    "LiveCounts",
    "LiveTotals",
    "closed_retention_ms",
]

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
DEFAULT_CLOSED_RETENTION_MS = 35 * DAY_MS
"""SPEC §5's default ``retention.closed_days`` (35 days), in ms, for a policy without one."""
REVIEW_PREFIX = "review:"
"""A review without a conversation is kept as a conversation of its own, ``review:<event id
digest>``, so that it is de-duplicated, attributed and synced like every other fact."""
_ACTIVE = ("open", "pending", "snoozed")
_ENDED = ("resolved", "closed")

_LIVE_SPAN_MS = 400 * DAY_MS
"""A running clock older than this is first measured over its first 400 days only: that is
enough to see that it is past any target a calendar open at all reaches in 400 days, and keeps
a live count at a far as-of from walking the calendar day by day."""


def closed_retention_ms(policy: object) -> int:
    """How long a conversation that is not live is kept after its last event (ms): the
    policy's ``closed_retention_ms`` (``KpiConfig`` and ``CachedPolicy`` give
    ``retention.closed_days``), else SPEC §5's default of 35 days."""
    value = getattr(policy, "closed_retention_ms", None)
    return DEFAULT_CLOSED_RETENTION_MS if value is None else int(value)


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
    """Conversations by id: events in, fact changes out, and live state.

    Retention (SPEC §2, §5 ``retention.closed_days``; ``closed_ms`` below). A conversation is
    *live* while it has a known ``conversation.created`` and is open, pending or snoozed; a live
    conversation is kept however long it waits. Any other conversation (resolved, closed, or
    without a known creation) is kept until ``closed_ms`` after its last event (the latest
    ``at`` of its events), measured against the watermark (the latest event time seen); a
    resolved or closed one is compacted after the pane retention (25 h) to its fold and the
    fingerprints of its event ids. Until then a repeated event id stays a duplicate and a closed
    conversation stays closed.

    Past that horizon the conversation is *forgotten* (counted in ``forgotten``), and the stage
    must not revive it from a redelivered old event. So an event is *expired* (see
    :meth:`admit`: not applied, counted by the caller as ``expired``) when its conversation is
    not held and it is dated ``closed_ms`` or more behind the watermark. Every event of a
    forgotten conversation is dated at or before its last event, so a redelivered one is always
    expired. Whether a held conversation is past its horizon is decided when an event for it
    arrives as well as by :meth:`expire`, so the outcome does not depend on when ``expire`` runs
    (replay and the streaming service behave alike). What remains possible: a *new* event
    (dated within ``closed_ms`` of the watermark) of a forgotten conversation starts a fresh
    state without a known ``conversation.created``, which measures no first response,
    resolution or close and is not counted in the live state. An event of a conversation never
    seen before that is dated ``closed_ms`` or more behind the watermark is expired as well."""

    def __init__(self, policy: TeamPolicy, retention_ms: int,
                 forget_after_ms: int | None = None, compact: bool = True) -> None:
        self.policy = policy
        self.compact = compact
        self.retention_ms = retention_ms
        self.closed_ms = (closed_retention_ms(policy) if forget_after_ms is None
                          else forget_after_ms)
        """How long after its last event a conversation that is not live is kept (ms)."""
        self.conversations: dict[str, Conversation] = {}
        self.last_at: dict[str, int] = {}
        self.compacted: dict[str, array[int]] = {}
        """Sorted fingerprints of the event ids of a compacted conversation (8 bytes each)."""
        self.active: set[str] = set()
        self.forgotten = 0
        """Conversations forgotten so far (conversation-less reviews included)."""
        self.forgotten_ids: list[str] | None = None
        """When a list, the ids of forgotten conversations are appended to it."""
        self._due: list[tuple[int, str]] = []

    def admit(self, conversation_id: str, at_ms: int, watermark_ms: int) -> bool:
        """False when an event of ``conversation_id`` dated ``at_ms`` is expired: the
        conversation is not held (or is past its horizon, and is forgotten now) and the event is
        dated ``closed_ms`` or more behind ``watermark_ms``. See the class docstring."""
        horizon = watermark_ms - self.closed_ms
        if conversation_id in self.conversations:
            if conversation_id in self.active or self.last_at[conversation_id] > horizon:
                return True
            self._forget(conversation_id)
        return at_ms > horizon

    def add(self, conversation_id: str, record: Record) -> list[FactChange] | None:
        """Apply an event to its conversation; ``None`` for a repeated event id.

        Should the fold raise, the event is taken back before the exception propagates, so that
        one event the rules cannot handle never blocks its conversation (the caller
        dead-letters it); a compacted conversation's fold may keep part of such an event."""
        conversation = self.conversations.get(conversation_id)
        created = conversation is None
        if conversation is None:
            conversation = self.conversations[conversation_id] = Conversation(conversation_id)
            self.last_at[conversation_id] = record[0]
        seen = self.compacted.get(conversation_id)
        try:
            if seen is None:
                changes = conversation.add(record, self.policy)
            else:
                fp = record[2]
                i = bisect_left(seen, fp)
                if i < len(seen) and seen[i] == fp:
                    return None
                seen.insert(i, fp)
                changes = conversation.fold.apply(record, self.policy)
        except Exception:
            if created:
                del self.conversations[conversation_id], self.last_at[conversation_id]
            elif seen is None:
                conversation.discard(record, self.policy)
            else:
                seen.remove(record[2])
            raise
        if changes is None:
            return None
        if record[0] > self.last_at[conversation_id]:
            self.last_at[conversation_id] = record[0]
        fold = conversation.fold
        if fold.status in _ACTIVE and fold.created_at is not None \
                and not conversation_id.startswith(REVIEW_PREFIX):
            self.active.add(conversation_id)
        else:
            self.active.discard(conversation_id)
            heapq.heappush(self._due, (self.last_at[conversation_id] + self.retention_ms,
                                       conversation_id))
        return changes

    def expire(self, watermark_ms: int) -> None:
        """Compact and forget conversations that are not live (see the class docstring): a
        resolved or closed one (or a conversation-less review) idle for the pane retention
        keeps only its fold and event-id fingerprints; any of them idle for ``closed_ms`` is
        forgotten."""
        due = self._due
        horizon = watermark_ms - self.closed_ms
        while due and due[0][0] <= watermark_ms:
            _, cid = heapq.heappop(due)
            conversation = self.conversations.get(cid)
            if conversation is None or cid in self.active:
                continue
            idle_since = self.last_at[cid]
            if idle_since <= horizon:
                self._forget(cid)
                continue
            compact_at = idle_since + self.retention_ms
            if compact_at > watermark_ms:
                heapq.heappush(due, (compact_at, cid))
                continue
            if self.compact and cid not in self.compacted and (
                    conversation.fold.status in _ENDED or cid.startswith(REVIEW_PREFIX)):
                self.compacted[cid] = array("Q", sorted({r[2] for r in conversation.log}))
                conversation.log = []
            heapq.heappush(due, (idle_since + self.closed_ms, cid))

    def _forget(self, conversation_id: str) -> None:
        del self.conversations[conversation_id], self.last_at[conversation_id]
        self.compacted.pop(conversation_id, None)
        self.active.discard(conversation_id)
        self.forgotten += 1
        if self.forgotten_ids is not None:
            self.forgotten_ids.append(conversation_id)

    def restore(self, conversation_id: str, conversation: Conversation) -> None:
        """Adopt a conversation recovered from saved state."""
        self.conversations[conversation_id] = conversation
        log = conversation.log
        self.last_at[conversation_id] = max((r[0] for r in log), default=0)
        fold = conversation.fold
        if fold.status in _ACTIVE and fold.created_at is not None \
                and not conversation_id.startswith(REVIEW_PREFIX):
            self.active.add(conversation_id)
        else:
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
            "compacted": {cid: fps.tolist() for cid, fps in self.compacted.items()},
            "forgotten": self.forgotten,
            "due": self._due,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        for cid, (conversation_state, fold_values) in state["conversations"].items():
            conversation = Conversation.from_state(cid, conversation_state)
            for name, value in zip(_FOLD_FIELDS, fold_values, strict=True):
                setattr(conversation.fold, name, value)
            self.conversations[cid] = conversation
            fold = conversation.fold
            if fold.status in _ACTIVE and fold.created_at is not None \
                    and not cid.startswith(REVIEW_PREFIX):
                self.active.add(cid)
        self.last_at = dict(state["last_at"])
        self.compacted = {cid: array("Q", sorted(fps)) for cid, fps in state["compacted"].items()}
        self.forgotten = state.get("forgotten", 0)
        self._due = [(due, cid) for due, cid in state["due"]]
        heapq.heapify(self._due)


def live_row(summary: LiveSummary, as_of_ms: int, policy: TeamPolicy, at_risk_ratio: float
             ) -> LiveCounts:
    """One conversation's contribution to the live counts at ``as_of_ms``."""
    team, assignee, status, priority, awaiting_since, clock_kind, clock_start, waits = summary
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
        pause_while = rules.sla_pause_while(clock_kind, priority)
        if pause_while:
            elapsed = sla_elapsed_ms(rules.calendar, business, pause_while, waits, clock_start,
                                     as_of_ms)
        elif business:
            elapsed = _business_elapsed(rules.calendar, clock_start, as_of_ms, target)
        else:
            elapsed = as_of_ms - clock_start
        if elapsed > target:
            row[5] = 1
        elif elapsed > at_risk_ratio * target:
            row[6] = 1
    return row


def _business_elapsed(calendar: Any, start_ms: int, end_ms: int, target_ms: int) -> int:
    """Business ms of [start_ms, end_ms), or, for a long span, of its first
    :data:`_LIVE_SPAN_MS` when that alone is past ``target_ms``: either way the comparison with
    the target (breaching, else at risk) is exact, and its cost is bounded for any as-of."""
    if end_ms - start_ms > _LIVE_SPAN_MS:
        head = business_ms(calendar, start_ms, start_ms + _LIVE_SPAN_MS)
        if head > target_ms:
            return head
    return business_ms(calendar, start_ms, end_ms)


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

"""The conversation stage, and the live state computed from conversations.

:class:`ConversationStage` is keyed by conversation: it turns events into fact changes and
knows the live state of every conversation. What the changes feed, keyed by agent, team and
overall, is the :class:`~service.engine.owners.OwnerBook`.
"""

import heapq
import math
from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from service.engine.conversation import (
    Conversation,
    ConversationFold,
    LiveSummary,
    TeamPolicy,
    business_ms,
    sla_elapsed_ms,
)
from service.engine.facts import FactChange
from service.engine.records import Record

__all__ = [
    "DAY_MS",
    "DEFAULT_CLOSED_RETENTION_MS",
    "HOUR_MS",
    "REVIEW_PREFIX",
    "ClockState",
    "ConversationStage",
    "LiveCounts",
    "LiveRows",
    "LiveTotals",
    "clock_state",
    "clocked_row",
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


@dataclass(slots=True)
class LiveCounts:
    """The live state of one level key (SPEC §4): counts of its conversations, and the age of
    the oldest awaiting a first response (ms). Fields named as the registry's live keys."""

    open: int = 0
    unassigned: int = 0
    waiting_on_customer: int = 0
    awaiting_first_response: int = 0
    oldest_awaiting_ms: int | None = None
    sla_breaching: int = 0
    sla_at_risk: int = 0
    assigned_open: int = 0

    def add(self, row: "LiveCounts", oldest: int | None = None) -> None:
        """Sum ``row`` into these counts, the oldest wait by max (``oldest``, else the row's)."""
        self.open += row.open
        self.unassigned += row.unassigned
        self.waiting_on_customer += row.waiting_on_customer
        self.awaiting_first_response += row.awaiting_first_response
        if oldest is None:
            oldest = row.oldest_awaiting_ms
        if oldest is not None and (self.oldest_awaiting_ms is None
                                   or oldest > self.oldest_awaiting_ms):
            self.oldest_awaiting_ms = oldest
        self.sla_breaching += row.sla_breaching
        self.sla_at_risk += row.sla_at_risk
        self.assigned_open += row.assigned_open


class LiveTotals:
    __slots__ = ("agents", "overall", "teams")

    def __init__(self) -> None:
        self.overall = LiveCounts()
        self.teams: dict[str, LiveCounts] = {}
        self.agents: dict[str, LiveCounts] = {}


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
    seen before that is dated ``closed_ms`` or more behind the watermark is expired as well.

    Bounded cache (a worker: ``loader`` and ``idle_limit`` given). A held conversation is in
    ``last_at``; its decoded state is in ``conversations`` while it is live, or among the
    ``idle_limit`` conversations that are not live and were touched last. :meth:`trim` drops the
    others from memory, and :meth:`get` reads one back through ``loader`` (the worker's
    conversations table, ``memory://`` or ``rocksdb://``) when an event comes for it. Replay
    gives neither and keeps every conversation decoded."""

    def __init__(self, policy: TeamPolicy, retention_ms: int,
                 forget_after_ms: int | None = None, compact: bool = True,
                 keep_facts: bool = False,
                 loader: Callable[[str], "Conversation | None"] | None = None,
                 idle_limit: int | None = None) -> None:
        self.policy = policy
        self.live_rows = LiveRows(policy)
        self._summaries: dict[str, LiveSummary] = {}
        """Live conversations' summaries as the last report built them, dropped when an event
        comes to the conversation."""
        self.compact = compact
        self.keep_facts = keep_facts
        """Each conversation keeps its current facts (stage 1 sends them every batch)."""
        self.retention_ms = retention_ms
        self.closed_ms = (closed_retention_ms(policy) if forget_after_ms is None
                          else forget_after_ms)
        """How long after its last event a conversation that is not live is kept (ms)."""
        self.conversations: dict[str, Conversation] = {}
        """The decoded conversations: all of them, or with a ``loader`` the live ones and the
        ``idle_limit`` idle ones touched last."""
        self.last_at: dict[str, int] = {}
        """Every held conversation's latest event time (ms)."""
        self.loader = loader
        self.idle_limit = idle_limit
        self._idle: OrderedDict[str, None] = OrderedDict()
        """Decoded conversations that are not live, least recently touched first."""
        self.loads = 0
        """Conversations read back through ``loader``."""
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
        if conversation_id in self.last_at:
            if conversation_id in self.active or self.last_at[conversation_id] > horizon:
                return True
            self._forget(conversation_id)
        return at_ms > horizon

    def add(self, conversation_id: str, record: Record) -> list[FactChange] | None:
        """Apply an event to its conversation; ``None`` for a repeated event id.

        Should the fold raise, the event is taken back before the exception propagates, so that
        one event the rules cannot handle never blocks its conversation (the caller
        dead-letters it); a compacted conversation's fold may keep part of such an event."""
        self._summaries.pop(conversation_id, None)
        conversation = self.get(conversation_id)
        created = conversation is None
        if conversation is None:
            conversation = self.conversations[conversation_id] = Conversation(
                conversation_id, self.keep_facts)
            self.last_at[conversation_id] = record.at
        seen = self.compacted.get(conversation_id)
        try:
            if seen is None:
                changes = conversation.add(record, self.policy)
            else:
                fp = record.fingerprint
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
                seen.remove(record.fingerprint)
            raise
        if changes is None:
            return None
        if record.at > self.last_at[conversation_id]:
            self.last_at[conversation_id] = record.at
        if self._is_live(conversation_id, conversation):
            self.active.add(conversation_id)
            self._idle.pop(conversation_id, None)
        else:
            self.active.discard(conversation_id)
            self._note_idle(conversation_id)
            heapq.heappush(self._due, (self.last_at[conversation_id] + self.retention_ms,
                                       conversation_id))
        return changes

    @staticmethod
    def _is_live(conversation_id: str, conversation: Conversation) -> bool:
        fold = conversation.fold
        return (fold.status in _ACTIVE and fold.created_at is not None
                and not conversation_id.startswith(REVIEW_PREFIX))

    def _note_idle(self, conversation_id: str) -> None:
        if self.loader is not None:
            self._idle[conversation_id] = None
            self._idle.move_to_end(conversation_id)

    def get(self, conversation_id: str) -> Conversation | None:
        """The held conversation, read back through the loader if it is not in memory; None
        when it is not held. Raises LookupError when a held conversation's saved state is
        missing (the table lost a row: the event is dead-lettered, nothing else changes)."""
        conversation = self.conversations.get(conversation_id)
        if conversation is not None or conversation_id not in self.last_at:
            return conversation
        conversation = None if self.loader is None else self.loader(conversation_id)
        if conversation is None:
            raise LookupError(f"conversation {conversation_id!r} is held but its saved state "
                              "is missing from the conversations table")
        self.loads += 1
        self.conversations[conversation_id] = conversation
        self._note_idle(conversation_id)
        return conversation

    def trim(self, keep: Collection[str] = ()) -> int:
        """Drop from memory the idle conversations beyond ``idle_limit``, least recently
        touched first, never one in ``keep`` (those whose saved state is still to be written);
        how many were dropped. Their state stays in the table the loader reads."""
        limit = self.idle_limit
        if limit is None or self.loader is None:
            return 0
        idle, dropped = self._idle, 0
        while len(idle) > limit:
            cid = next(iter(idle))
            if cid in keep:
                break
            del idle[cid]
            self.conversations.pop(cid, None)
            self._summaries.pop(cid, None)
            dropped += 1
        return dropped

    def expire(self, watermark_ms: int) -> None:
        """Compact and forget conversations that are not live (see the class docstring): a
        resolved or closed one (or a conversation-less review) idle for the pane retention
        keeps only its fold and event-id fingerprints; any of them idle for ``closed_ms`` is
        forgotten."""
        due = self._due
        horizon = watermark_ms - self.closed_ms
        while due and due[0][0] <= watermark_ms:
            _, cid = heapq.heappop(due)
            if cid not in self.last_at or cid in self.active:
                continue
            idle_since = self.last_at[cid]
            if idle_since <= horizon:
                self._forget(cid)
                continue
            compact_at = idle_since + self.retention_ms
            if compact_at > watermark_ms:
                heapq.heappush(due, (compact_at, cid))
                continue
            conversation = self.conversations.get(cid)
            if self.compact and conversation is not None and cid not in self.compacted and (
                    conversation.fold.status in _ENDED or cid.startswith(REVIEW_PREFIX)):
                self.compacted[cid] = array("Q", sorted({r.fingerprint
                                                         for r in conversation.log}))
                conversation.log = []
            heapq.heappush(due, (idle_since + self.closed_ms, cid))

    def _forget(self, conversation_id: str) -> None:
        self._summaries.pop(conversation_id, None)
        self.conversations.pop(conversation_id, None)
        del self.last_at[conversation_id]
        self._idle.pop(conversation_id, None)
        self.compacted.pop(conversation_id, None)
        self.active.discard(conversation_id)
        self.forgotten += 1
        if self.forgotten_ids is not None:
            self.forgotten_ids.append(conversation_id)

    def restore(self, conversation_id: str, conversation: Conversation) -> None:
        """Adopt a conversation recovered from saved state."""
        self._summaries.pop(conversation_id, None)
        self.conversations[conversation_id] = conversation
        log = conversation.log
        self.last_at[conversation_id] = max((r.at for r in log), default=0)
        if self._is_live(conversation_id, conversation):
            self.active.add(conversation_id)
        else:
            self._note_idle(conversation_id)
            heapq.heappush(self._due, (self.last_at[conversation_id] + self.retention_ms,
                                       conversation_id))

    def live_folds(self) -> Iterator[ConversationFold]:
        """The folds of the live conversations held here (all decoded in memory)."""
        conversations = self.conversations
        for conversation_id in self.active:
            yield conversations[conversation_id].fold

    def live(self, as_of_ms: int, at_risk_ratio: float) -> LiveTotals:
        """Live counts at ``as_of_ms`` over conversations not resolved or closed."""
        totals = LiveTotals()
        rows = self.live_rows
        summaries = self._summaries
        for cid in self.active:
            summary = summaries.get(cid)
            if summary is None:
                summary = self.conversations[cid].fold.live_summary()
                if summary is not None:
                    summaries[cid] = summary
            if summary is not None:
                row = rows.row(summary, as_of_ms, at_risk_ratio)
                add_live(totals, summary, row, as_of_ms, ("overall", "teams", "agents"))
        rows.end_report()
        return totals


class _Kept(NamedTuple):
    row: LiveCounts
    from_ms: int
    until_ms: int


class LiveRows:
    """Conversations' live rows (:func:`live_row`), kept from one report to the next while
    they cannot have changed.

    A row changes with the as-of only where an SLA clock crosses the at-risk share of its
    target or the target. The time an SLA counts grows by at most one ms per ms of as-of
    (business hours and pauses only slow it), so a row computed at ``A`` with ``e`` ms
    counted holds until ``A + (threshold − e)``, and a breaching row holds for good; an
    earlier as-of computes the row again. Rows are kept by summary (equal summaries, equal
    rows) for the summaries the last report used."""

    __slots__ = ("_last", "_now", "_ratio", "policy")

    def __init__(self, policy: TeamPolicy) -> None:
        self.policy = policy
        self._last: dict[LiveSummary, _Kept] = {}
        self._now: dict[LiveSummary, _Kept] = {}
        self._ratio: float | None = None

    def row(self, summary: LiveSummary, as_of_ms: int, at_risk_ratio: float) -> LiveCounts:
        """The summary's row at ``as_of_ms`` (``oldest_awaiting_ms`` left None: it moves with
        every as-of, :func:`add_live` takes it from the summary)."""
        if at_risk_ratio != self._ratio:
            self._last, self._now, self._ratio = {}, {}, at_risk_ratio
        kept = self._now.get(summary) or self._last.get(summary)
        if kept is None or not kept.from_ms <= as_of_ms <= kept.until_ms:
            row, until = live_row(summary, as_of_ms, self.policy, at_risk_ratio)
            kept = _Kept(row, as_of_ms, until)
        self._now[summary] = kept
        return kept.row

    def end_report(self) -> None:
        """The report is done: keep the rows it used, forget the others."""
        self._last, self._now = self._now, {}


_FOREVER = 2**62


class ClockState(NamedTuple):
    """A running response clock measured at an as-of (SPEC §3, §4)."""

    kind: str
    """first_response or next_response."""
    start: int
    """Epoch ms the clock started."""
    target: int
    """The SLA target, ms (business ms when ``business``)."""
    business: bool
    pause_while: frozenset[str]
    elapsed: int
    """The ms the SLA counts from ``start`` to the as-of: business ms when ``business``, less
    the waits in ``pause_while`` (a business-hours clock without pauses running for over 400
    days: its first 400 days' count when that is already past the target)."""


def clock_state(summary: LiveSummary, as_of_ms: int, policy: TeamPolicy) -> ClockState | None:
    """The summary's running response clock at ``as_of_ms``, or None when none runs."""
    kind, start = summary.clock, summary.clock_start
    if kind is None or start is None:
        return None
    rules = policy.team(summary.team)
    target, business = rules.sla_target(kind, summary.priority)
    pause_while = rules.sla_pause_while(kind, summary.priority)
    if pause_while:
        elapsed = sla_elapsed_ms(rules.calendar, business, pause_while, summary.waits, start,
                                 as_of_ms)
    elif business:
        elapsed = _business_elapsed(rules.calendar, start, as_of_ms, target)
    else:
        elapsed = as_of_ms - start
    return ClockState(kind, start, target, business, pause_while, elapsed)


def live_row(summary: LiveSummary, as_of_ms: int, policy: TeamPolicy, at_risk_ratio: float
             ) -> tuple[LiveCounts, int]:
    """One conversation's contribution to the live counts at ``as_of_ms``, without its oldest
    wait (see :func:`add_live`), and the last as-of (ms, inclusive) it holds for."""
    return clocked_row(summary, clock_state(summary, as_of_ms, policy), as_of_ms, at_risk_ratio)


def clocked_row(summary: LiveSummary, clock: ClockState | None, as_of_ms: int,
                at_risk_ratio: float) -> tuple[LiveCounts, int]:
    """:func:`live_row` with the summary's running clock at ``as_of_ms`` already measured
    (:func:`clock_state`)."""
    until = _FOREVER
    row = LiveCounts()
    if summary.status == "open":
        row.open = 1
    else:
        row.waiting_on_customer = 1
    if summary.assignee is None:
        row.unassigned = 1
    elif summary.status == "open":
        row.assigned_open = 1
    if summary.awaiting_since is not None:
        row.awaiting_first_response = 1
    if clock is not None:
        target, elapsed = clock.target, clock.elapsed
        if elapsed > target:
            row.sla_breaching = 1
        elif elapsed > at_risk_ratio * target:
            row.sla_at_risk = 1
            until = as_of_ms + (target - elapsed)
        else:
            until = as_of_ms + math.floor(at_risk_ratio * target - elapsed)
    return row, until


def _business_elapsed(calendar: Any, start_ms: int, end_ms: int, target_ms: int) -> int:
    """Business ms of [start_ms, end_ms), or, for a long span, of its first
    :data:`_LIVE_SPAN_MS` when that alone is past ``target_ms``: either way the comparison with
    the target (breaching, else at risk) is exact, and its cost is bounded for any as-of."""
    if end_ms - start_ms > _LIVE_SPAN_MS:
        head = business_ms(calendar, start_ms, start_ms + _LIVE_SPAN_MS)
        if head > target_ms:
            return head
    return business_ms(calendar, start_ms, end_ms)


def add_live(totals: LiveTotals, summary: LiveSummary, row: LiveCounts, as_of_ms: int,
             levels: tuple[str, ...]) -> None:
    """Add a conversation's row to its ``levels`` of ``totals``, with its wait for a first
    response at ``as_of_ms``."""
    team, assignee = summary.team, summary.assignee
    since = summary.awaiting_since
    oldest = None if since is None else as_of_ms - since
    if "overall" in levels:
        totals.overall.add(row, oldest)
    if "teams" in levels and team is not None:
        _counts(totals.teams, team).add(row, oldest)
    if "agents" in levels and assignee is not None:
        _counts(totals.agents, assignee).add(row, oldest)


def _counts(table: dict[str, LiveCounts], key: str) -> LiveCounts:
    counts = table.get(key)
    if counts is None:
        counts = table[key] = LiveCounts()
    return counts

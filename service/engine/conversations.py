"""Conversations by id (SPEC §2, §5): events in, fact changes out, retention, and the live
state of the conversations that are not resolved or closed.

:class:`Conversations` is keyed by conversation: replay holds every conversation, a
worker those of its input partitions. What the fact changes feed, keyed by agent, team and
overall, is the :class:`~service.engine.book.OwnerBook`.
"""

import heapq
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator

from service.engine.conversation import Conversation
from service.engine.facts import FactChange
from service.engine.fold import LiveSummary
from service.engine.live import LiveSums, LiveTotals
from service.engine.owner_keys import OVERALL, Owner, agent_owner, team_owner
from service.engine.panes import DAY_MS
from service.engine.records import Record
from service.engine.sla import TeamPolicy

__all__ = ["DEFAULT_CLOSED_RETENTION_MS", "REVIEW_PREFIX", "Conversations",
           "closed_retention_ms"]

DEFAULT_CLOSED_RETENTION_MS = 35 * DAY_MS
"""SPEC §5's default ``retention.closed_days`` (35 days), in ms, for a policy without one."""
REVIEW_PREFIX = "review:"
"""A review without a conversation is kept as a conversation of its own, ``review:<event id
digest>``, so that it is de-duplicated, attributed and synced like every other fact."""
_ACTIVE = ("open", "pending", "snoozed")
_ENDED = ("resolved", "closed")


def closed_retention_ms(policy: object) -> int:
    """How long a conversation that is not live is kept after its last event (ms): the
    policy's ``closed_retention_ms`` (``KpiConfig`` and ``CachedPolicy`` give
    ``retention.closed_days``), else SPEC §5's default of 35 days."""
    value = getattr(policy, "closed_retention_ms", None)
    return DEFAULT_CLOSED_RETENTION_MS if value is None else int(value)


class Conversations:
    """Conversations by id: events in, fact changes out, and live state.

    Retention (SPEC §2, §5 ``retention.closed_days``; ``closed_ms`` below). A conversation is
    *live* while it has a known ``conversation.created`` and is open, pending or snoozed; a live
    conversation is kept however long it waits. Any other conversation (resolved, closed, or
    without a known creation) is kept until ``closed_ms`` after its last event (the latest
    ``at`` of its events), measured against the watermark (:mod:`service.engine.watermark`); a
    resolved or closed one is packed after the pane retention (25 h) into compressed bytes
    (:meth:`~service.engine.conversation.Conversation.pack`, nothing lost: a late event still
    finds its place, so a reply that arrives a day late still makes its author the last human
    responder a later rating credits). Until then a repeated event id stays a duplicate and a closed
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
                 loader: Callable[[str], "Conversation | None"] | None = None,
                 idle_limit: int | None = None, track: bool = False) -> None:
        self.policy = policy
        self.live_sums = LiveSums(policy)
        self._touched: set[str] = set()
        """Conversations whose summary may have changed since the last report."""
        self._counted: dict[Owner, dict[str, LiveSummary]] = {}
        """Overall, team and agent owner → the summaries the last report counted for it."""
        self.compact = compact
        self.track = track
        """New conversations keep the events taken since they were saved (a worker)."""
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
        self.packed: dict[str, bytes] = {}
        """Conversations idle past the pane retention, packed (replay)."""
        self.active: set[str] = set()
        self.forgotten = 0
        """Conversations forgotten so far (conversation-less reviews included)."""
        self.forgotten_ids: list[str] | None = None
        """When a list, the ids of forgotten conversations are appended to it."""
        self._due: list[tuple[int, str]] = []

    def admit(self, conversation_id: str, at_ms: int, watermark_ms: int | None) -> bool:
        """False when an event of ``conversation_id`` dated ``at_ms`` is expired: the
        conversation is not held (or is past its horizon, and is forgotten now) and the event is
        dated ``closed_ms`` or more behind ``watermark_ms`` (None: no watermark yet, nothing
        is expired). See the class docstring."""
        if watermark_ms is None:
            return True
        horizon = watermark_ms - self.closed_ms
        if conversation_id in self.last_at:
            if conversation_id in self.active or self.last_at[conversation_id] > horizon:
                return True
            self._forget(conversation_id)
        return at_ms > horizon

    def add(self, conversation_id: str, record: Record) -> list[FactChange] | None:
        """Apply an event to its conversation; ``None`` for a repeated event id.

        Should the fold raise (or the conversation refuse the event, ``KeyTooLarge``), nothing
        of the event is kept before the exception propagates, so that one event the rules
        cannot handle never blocks its conversation (the caller dead-letters it)."""
        self._touched.add(conversation_id)
        conversation = self.get(conversation_id)
        created = conversation is None
        if conversation is None:
            conversation = self.conversations[conversation_id] = Conversation(
                conversation_id, self.track)
            self.last_at[conversation_id] = record.at
        try:
            changes = conversation.add(record, self.policy)
        except Exception:
            if created:
                del self.conversations[conversation_id], self.last_at[conversation_id]
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
        packed = self.packed.pop(conversation_id, None)
        if packed is not None:
            conversation = self.conversations[conversation_id] = Conversation.unpack(
                conversation_id, packed, self.policy)
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
            dropped += 1
        return dropped

    def expire(self, watermark_ms: int) -> None:
        """Pack and forget conversations that are not live (see the class docstring): a
        resolved or closed one (or a conversation-less review) idle for the pane retention is
        packed; any of them idle for ``closed_ms`` is forgotten."""
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
            if self.compact and conversation is not None and (
                    conversation.fold.status in _ENDED or cid.startswith(REVIEW_PREFIX)):
                self.packed[cid] = conversation.pack()
                del self.conversations[cid]
            heapq.heappush(due, (idle_since + self.closed_ms, cid))

    def _forget(self, conversation_id: str) -> None:
        if conversation_id not in self._counted.get(OVERALL, ()):
            self._touched.discard(conversation_id)
        self.conversations.pop(conversation_id, None)
        del self.last_at[conversation_id]
        self._idle.pop(conversation_id, None)
        self.packed.pop(conversation_id, None)
        self.active.discard(conversation_id)
        self.forgotten += 1
        if self.forgotten_ids is not None:
            self.forgotten_ids.append(conversation_id)

    def hold(self, conversation_id: str, last_at: int, live: bool) -> None:
        """Know a conversation whose state stays in the loader's table until an event comes
        (a worker's partition after a restart): its last event time and whether it is live."""
        self.last_at[conversation_id] = last_at
        if live:
            self.active.add(conversation_id)
        else:
            heapq.heappush(self._due, (last_at + self.retention_ms, conversation_id))

    def restore(self, conversation_id: str, conversation: Conversation) -> None:
        """Adopt a conversation recovered from saved state."""
        self._touched.add(conversation_id)
        self.conversations[conversation_id] = conversation
        log = conversation.log
        self.last_at[conversation_id] = max((r.at for r in log), default=0)
        if self._is_live(conversation_id, conversation):
            self.active.add(conversation_id)
        else:
            self._note_idle(conversation_id)
            heapq.heappush(self._due, (self.last_at[conversation_id] + self.retention_ms,
                                       conversation_id))

    def live_summaries(self) -> Iterator[tuple[str, LiveSummary]]:
        """(conversation id, live summary) of the live conversations held here (all decoded in
        memory)."""
        conversations = self.conversations
        for conversation_id in self.active:
            summary = conversations[conversation_id].fold.live_summary()
            if summary is not None:
                yield conversation_id, summary

    def live(self, as_of_ms: int, at_risk_ratio: float) -> LiveTotals:
        """Live counts at ``as_of_ms`` over conversations not resolved or closed, overall and
        per team and assignee. Each owner's sum is brought from the last report's by what
        changed (:class:`~service.engine.live.LiveSums`)."""
        counted, sums = self._counted, self.live_sums
        for cid in self._touched:
            conversation = self.conversations.get(cid) if cid in self.active else None
            now = None if conversation is None else conversation.fold.live_summary()
            before = counted[OVERALL].get(cid) if OVERALL in counted else None
            if now == before:
                continue
            for owner in _owners(before):
                held = counted[owner]
                del held[cid]
                if not held:
                    del counted[owner]
                    sums.forget(owner)
                else:
                    sums.changed(owner, cid)
            if now is not None:
                for owner in _owners(now):
                    counted.setdefault(owner, {})[cid] = now
                    sums.changed(owner, cid)
        self._touched.clear()
        return sums.totals(counted.items(), as_of_ms, at_risk_ratio)


def _owners(summary: LiveSummary | None) -> list[Owner]:
    """The owners that count a conversation live: overall, its team, its assignee."""
    if summary is None:
        return []
    owners = [OVERALL]
    if summary.team is not None:
        owners.append(team_owner(summary.team))
    if summary.assignee is not None:
        owners.append(agent_owner(summary.assignee))
    return owners



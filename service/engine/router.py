"""Stage 1 of the streaming service: conversations in, owner syncs out.

The same :class:`~service.engine.conversations.ConversationStage` as replay applies the events, each
conversation keeping its current facts from the changes its fold returns (no refold per batch);
then, for every conversation a batch touched, an update goes to its owners (one sync per owner,
see ``owner_syncs``): the facts the batch changed and those some owner no longer holds (a
delta, idempotent by fact id), and the live summary. A conversation that a duplicate touched
gets a full update (all its facts: every owner replaces what it held), because the batch may
be a redelivery whose first outputs were lost. Presence events are forwarded to the agent's
owner.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from service.engine.conversation import Conversation
from service.engine.conversations import REVIEW_PREFIX, ConversationStage
from service.engine.facts import Fact
from service.engine.owners import ConversationUpdate, conversation_update
from service.engine.records import K_PRESENCE, Record
from service.engine.sla import TeamPolicy
from service.engine.watermark import Watermark

__all__ = ["BatchOutput", "ConversationRouter"]


@dataclass
class BatchOutput:
    updates: list[ConversationUpdate] = field(default_factory=list)
    presence: list[tuple[str, Record]] = field(default_factory=list)
    """(agent owner key, presence record)."""
    touched: list[str] = field(default_factory=list)
    duplicates: int = 0
    late: int = 0
    """Events applied to their conversation but dated more than the pane retention behind the
    watermark (presence events included; duplicates not)."""
    expired: int = 0
    """Events not applied: dated ``retention.closed_days`` or more behind the watermark, of a
    conversation not held (see ``ConversationStage``); ``KpiEngine.counts["expired"]``."""
    failed: list[tuple[int, Exception]] = field(default_factory=list)
    """(position in the batch, exception) of events whose fold raised: taken back, not
    applied, for the caller to dead-letter (``processing_error``)."""
    forgotten: list[str] = field(default_factory=list)
    """Conversations dropped from memory during the batch (past their retention horizon), of
    any partition this router holds, except those in ``touched`` (a touched conversation that
    is no longer held is absent from ``stage.conversations``)."""


class ConversationRouter:
    """Stage 1: the same ``ConversationStage`` rules as ``KpiEngine``, batch by batch.

    ``forget_after_ms`` None (the default) takes ``retention.closed_days`` from the policy
    (``CachedPolicy`` or ``KpiConfig``), as ``KpiEngine`` does."""

    def __init__(self, policy: TeamPolicy, retention_ms: int,
                 forget_after_ms: int | None = None,
                 saved: Callable[[str], Any] | None = None,
                 idle_limit: int | None = None) -> None:
        """``saved``: a conversation's saved state (``Conversation.to_state``) by id, or None;
        with it the stage keeps only ``idle_limit`` idle conversations decoded (see
        :class:`~service.engine.conversations.ConversationStage`)."""
        self.policy = policy
        self._saved = saved
        self.stage = ConversationStage(
            policy, retention_ms, forget_after_ms, compact=False, keep_facts=True,
            loader=None if saved is None else self._read_back, idle_limit=idle_limit)
        self.stage.forgotten_ids = []
        self.retention_ms = retention_ms
        self.watermark = Watermark(retention_ms)

    def process(self, items: Iterable[tuple[Record, str | None]]) -> BatchOutput:
        """Apply a batch of (record, conversation id) and return what to send."""
        out = BatchOutput()
        touched: dict[str, dict[str, Fact | None] | None] = {}
        """Conversation → each changed fact's state before the batch, by id; None for a full
        update (a duplicate came: the batch may be a redelivery whose outputs were lost)."""
        stage = self.stage
        for position, (record, conversation_id) in enumerate(items):
            at = record.at
            watermark_ms = self.watermark.see(at)
            late = self.watermark.late(at)
            if record.kind == K_PRESENCE:
                out.late += late
                out.presence.append((f"a:{record.agent}", record))
                continue
            cid = conversation_id or f"{REVIEW_PREFIX}{record.fingerprint:016x}"
            held = cid in stage.last_at
            if not stage.admit(cid, at, watermark_ms):
                out.expired += 1
                if held:
                    touched[cid] = None
                continue
            try:
                changes = stage.add(cid, record)
            except Exception as error:
                out.failed.append((position, error))
                continue
            if changes is None:
                out.duplicates += 1
                touched[cid] = None
                continue
            out.late += late
            if cid in touched and touched[cid] is None:
                continue
            before = touched.setdefault(cid, {})
            assert before is not None
            for old, new in changes:
                fid = (new if old is None else old).fact_id  # type: ignore[union-attr]
                before.setdefault(fid, old)
        for cid, before in touched.items():
            conversation = stage.conversations.get(cid)
            if conversation is not None:
                out.updates.append(self.update_of(conversation, before))
        out.touched = list(touched)
        if self.watermark.at_ms is not None:
            stage.expire(self.watermark.at_ms)
        stage.trim(touched)
        assert stage.forgotten_ids is not None
        out.forgotten = [cid for cid in stage.forgotten_ids if cid not in touched]
        stage.forgotten_ids = []
        return out

    def update_of(self, conversation: Conversation,
                  before: dict[str, Fact | None] | None = None) -> ConversationUpdate:
        """The conversation's update: a delta of the facts changed since ``before`` (their
        states before the batch, by id), or with None a full one."""
        current = conversation.facts(self.policy)
        changed = None if before is None else [
            (old, current.get(fid)) for fid, old in before.items() if current.get(fid) != old]
        update, holders = conversation_update(conversation.fold.conversation_id,
                                              current.values(),
                                              conversation.fold.live_summary(),
                                              conversation.owners, changed)
        if not holders <= conversation.owners:
            conversation.owners = conversation.owners | holders
        return update

    def load(self, conversation_id: str, state: Any) -> Conversation:
        """Put a conversation saved by ``Conversation.to_state`` back (recovery); idle ones
        beyond the cache bound leave memory again at once."""
        conversation = self._decode(conversation_id, state)
        self.stage.restore(conversation_id, conversation)
        last_at = self.stage.last_at[conversation_id]
        if conversation.log:
            self.watermark.see(last_at)
        self.stage.trim()
        return conversation

    def _decode(self, conversation_id: str, state: Any) -> Conversation:
        return Conversation.from_state(conversation_id, state, self.policy, keep_facts=True)

    def _read_back(self, conversation_id: str) -> Conversation | None:
        assert self._saved is not None
        state = self._saved(conversation_id)
        return None if state is None else self._decode(conversation_id, state)

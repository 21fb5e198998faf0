"""Stage 1 of the streaming service: conversations in, owner syncs out.

The same :class:`~service.engine.stages.ConversationStage` as replay applies the events; then,
for every conversation a batch touched (a duplicate included, so a batch re-delivered after a
crash re-sends what may have been lost), the conversation's current facts and live summary go
to its owners as an update (replace-syncs, one per owner, see ``owner_syncs``). Presence
events are forwarded to the agent's owner.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from service.engine.conversation import Conversation, TeamPolicy
from service.engine.owners import ConversationUpdate, conversation_update
from service.engine.records import K_PRESENCE, Record
from service.engine.stages import REVIEW_PREFIX, ConversationStage

__all__ = ["BatchOutput", "ConversationRouter"]


@dataclass
class BatchOutput:
    updates: list[ConversationUpdate] = field(default_factory=list)
    presence: list[tuple[str, Record]] = field(default_factory=list)
    """(agent owner key, presence record)."""
    touched: list[str] = field(default_factory=list)
    duplicates: int = 0
    late: int = 0


class ConversationRouter:
    def __init__(self, policy: TeamPolicy, retention_ms: int, forget_after_ms: int) -> None:
        self.policy = policy
        self.stage = ConversationStage(policy, retention_ms, forget_after_ms, compact=False)
        self.retention_ms = retention_ms
        self.watermark_ms: int | None = None

    def process(self, items: Iterable[tuple[Record, str | None]]) -> BatchOutput:
        """Apply a batch of (record, conversation id) and return what to send."""
        out = BatchOutput()
        touched: dict[str, None] = {}
        for record, conversation_id in items:
            at = record[0]
            if self.watermark_ms is None or at > self.watermark_ms:
                self.watermark_ms = at
            if at < self.watermark_ms - self.retention_ms:
                out.late += 1
            if record[3] == K_PRESENCE:
                out.presence.append((f"a:{record[5]}", record))
                continue
            cid = conversation_id or f"{REVIEW_PREFIX}{record[2]:016x}"
            if self.stage.add(cid, record) is None:
                out.duplicates += 1
            touched[cid] = None
        for cid in touched:
            conversation = self.stage.conversations.get(cid)
            if conversation is not None:
                out.updates.append(self.update_of(conversation))
        out.touched = list(touched)
        assert self.watermark_ms is not None or not touched
        if self.watermark_ms is not None:
            self.stage.expire(self.watermark_ms)
        return out

    def update_of(self, conversation: Conversation) -> ConversationUpdate:
        facts = conversation.facts(self.policy).values()
        update, holders = conversation_update(conversation.fold.conversation_id, facts,
                                              conversation.fold.live_summary(),
                                              conversation.owners)
        if not holders <= conversation.owners:
            conversation.owners = conversation.owners | holders
        return update

    def load(self, conversation_id: str, state: Any) -> Conversation:
        """Put a conversation saved by ``Conversation.to_state`` back (recovery)."""
        conversation = Conversation.from_state(conversation_id, state, self.policy)
        self.stage.restore(conversation_id, conversation)
        return conversation

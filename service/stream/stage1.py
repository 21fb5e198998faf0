"""Stage 1 of a worker: input messages of one partition in, owner updates and table rows out.

Each message is decoded once (bad input → a dead letter naming the field and reason), its
events applied by the :class:`~service.engine.router.ConversationRouter` (the engine's
conversation stage), every touched conversation's state written to the ``conversations``
table and its update addressed to each facts-topic partition holding one of its owners.
"""

import time
from collections import Counter
from typing import Any

from faust.types import EventT

from service.engine.codec import (
    Rows,
    conversation_row,
    conversation_state,
    load_router,
    partition_of_value,
)
from service.engine.engine import DEFAULT_FORGET_AFTER_MS, DEFAULT_RETENTION_MS
from service.engine.records import to_record
from service.engine.router import ConversationRouter
from service.engine.sla import TeamPolicy
from service.ingest import Decoded, decode_message
from service.settings import Settings
from service.stream.dead_letters import processing_error
from service.stream.faust_fixes import as_event
from service.stream.outputs import StageOutputs
from service.stream.wire import Outbox

__all__ = ["ConversationsStage"]


class ConversationsStage:
    """The conversations of the input partitions this worker holds."""

    def __init__(self, policy: TeamPolicy, settings: Settings, table: Any,
                 out: StageOutputs) -> None:
        self.policy = policy
        self.settings = settings
        self.table = table
        self.out = out
        self.router = self._new_router()
        self._forgotten: dict[int, set[str]] = {}
        """Rows to delete, by partition: conversations dropped past their retention horizon
        (deleted by the next batch of their partition, where the store can write)."""

    def _new_router(self) -> ConversationRouter:
        return ConversationRouter(self.policy, DEFAULT_RETENTION_MS, DEFAULT_FORGET_AFTER_MS,
                                  saved=self._saved,
                                  idle_limit=self.settings.conversation_cache)

    def _saved(self, conversation_id: str) -> Any:
        """A conversation's saved state from the table (the batch's event is current, so the
        RocksDB store reads its partition's database)."""
        value = self.table.data.get(conversation_id.encode())
        return None if value is None else conversation_state(value)[1]

    def load(self, rows: Rows, active: frozenset[int]) -> int:
        """Replace the state by the table's rows of the ``active`` partitions; how many
        conversations that is."""
        router = self._new_router()
        load_router(router, rows, active)
        self.router = router
        return len(router.stage.last_at)

    def batch(self, partition: int, group: list[EventT], outbox: Outbox) -> None:
        items = []
        sources: list[tuple[Any, Any]] = []
        types: Counter[str] = Counter()
        origin_ms = min(int(e.message.timestamp * 1000) for e in group)
        latest_ms = int((time.time() + self.settings.max_clock_skew_seconds) * 1000)
        for event in group:
            message = event.message
            self.out.health.observe_offset(message.topic, message.partition, message.offset)
            try:
                decoded = decode_message(event.value, self.settings.max_message_bytes,
                                         latest_ms)
            except Exception as error:
                decoded = Decoded([], [processing_error(error, event.value)])
            for rejection in decoded.rejections:
                self.out.dead_letter(rejection, message)
            parsed: Any
            for index, parsed in enumerate(decoded.events):
                try:
                    record = to_record(parsed, (message.offset << 20) + index)
                except Exception as error:
                    self.out.dead_letter(
                        processing_error(error, parsed.model_dump_json().encode()), message)
                    continue
                types[parsed.type] += 1
                items.append((record, getattr(parsed, "conversation_id", None)))
                sources.append((message, parsed))
        with as_event(group[-1]):
            out = self.router.process(items)
        for position, failure in out.failed:
            message, parsed = sources[position]
            types[parsed.type] -= 1
            self.out.dead_letter(
                processing_error(failure, parsed.model_dump_json().encode()), message)
        self.out.health.processed(types, out.duplicates, out.late, out.expired,
                                  len(out.forgotten))
        self._note_forgotten(out.forgotten)
        partition_of = self.out.partition_of
        for update in out.updates:
            owners = update.owners
            destinations = {partition_of(owner) for owner in owners}
            for destination in destinations:
                here = owners if len(destinations) == 1 else tuple(
                    o for o in owners if partition_of(o) == destination)
                outbox.to(destination, origin_ms).updates.append(update._replace(owners=here))
        for owner, record in out.presence:
            outbox.to(partition_of(owner), origin_ms).presence.append((owner, record))
        conversations = self.router.stage.conversations
        store, table = self.out.tables.store, self.table
        with as_event(group[-1]):
            for cid in out.touched:
                conversation = conversations.get(cid)
                if conversation is None:
                    store(table, partition, cid.encode(), None)
                else:
                    store(table, partition, *conversation_row(partition, conversation))
            for cid in self._forgotten.pop(partition, ()):
                store(table, partition, cid.encode(), None)

    def _note_forgotten(self, conversation_ids: list[str]) -> None:
        rows = self.table.data
        for cid in conversation_ids:
            value = rows.get(cid.encode())
            if value is not None:
                self._forgotten.setdefault(partition_of_value(value), set()).add(cid)

"""Stage 2 of a worker: owner messages of one facts-topic partition in, the owner book and the
``owners`` table updated, occupancy segments out.

Each update's syncs are applied to the :class:`~service.engine.owners.OwnerBook` (idempotent:
a full sync replaces what its owner held of the conversation, a delta applies by fact id);
presence goes to the agent's timeline. The occupancy loop: an agent owner turns its presence
and busy intervals into segments and sends them, through the facts topic again, to the team
and overall owners (each on its own partition), which hold them per agent
(:class:`~service.engine.owners.SegmentSync`).
"""

import time
from typing import Any

from faust.types import EventT

from service.engine.codec import (
    Row,
    Rows,
    holders_row,
    load_book,
    presence_row,
    saved_share,
    segments_row,
    share_key,
    sync_row,
)
from service.engine.engine import DEFAULT_RETENTION_MS
from service.engine.owners import OwnerBook, SegmentSync, owner_syncs
from service.engine.sla import TeamPolicy
from service.stream.dead_letters import processing_error
from service.stream.faust_fixes import as_event
from service.stream.outputs import StageOutputs
from service.stream.wire import Outbox, decode_owner_message

__all__ = ["OwnersStage"]


class OwnersStage:
    """The owners of the facts-topic partitions this worker holds."""

    def __init__(self, policy: TeamPolicy, table: Any, out: StageOutputs,
                 idle_limit: int | None = None) -> None:
        self.policy = policy
        self.table = table
        self.out = out
        self.idle_limit = idle_limit
        self.book = self._new_book()
        self.segment_holders: dict[str, frozenset[str]] = {}
        """Agent → the team and overall owners its segments were sent to (they get an empty
        sync when the agent leaves them)."""

    def load(self, rows: Rows, active: frozenset[int]) -> int:
        """Replace the state by the table's rows of the ``active`` partitions; how many
        owners that is."""
        self.book = self._new_book()
        self.segment_holders = load_book(self.book, rows, active)
        return len(self.book.owners())

    def _new_book(self) -> OwnerBook:
        return OwnerBook(self.policy, DEFAULT_RETENTION_MS, loader=self._saved_share,
                         idle_limit=self.idle_limit)

    def _saved_share(self, owner: str, conversation_id: str) -> Any:
        """What ``owner`` holds of a conversation, from the table (the batch's event is
        current, so the RocksDB store reads its partition's database)."""
        value = self.table.data.get(share_key(owner, conversation_id))
        return None if value is None else saved_share(value)

    def batch(self, partition: int, group: list[EventT], outbox: Outbox) -> None:
        book = self.book
        changed_agents: set[str] = set()
        now = time.time()
        with as_event(group[-1]):
            for event in group:
                self.out.health.observe_offset(event.message.topic, partition, event.message.offset)
                try:
                    message = decode_owner_message(event.value)
                except Exception as error:
                    self.out.dead_letter(processing_error(error, event.value), event.message)
                    continue
                # Agents are re-synced on every input that concerns them, changed or not: a
                # redelivered batch must re-send segments that a crash may have lost.
                for update in message.updates:
                    for sync in owner_syncs(update):
                        if sync.owner.startswith("a:"):
                            changed_agents.add(sync.owner[2:])
                        if book.apply_sync(sync):
                            self._put(partition, sync_row(partition, book, sync))
                for owner, record in message.presence:
                    agent = owner[2:]
                    changed_agents.add(agent)
                    book.watermark.see(record.at)
                    if book.add_presence(agent, record):
                        self._put(partition, presence_row(partition, book, agent))
                segment_sync: SegmentSync
                for segment_sync in message.segments:
                    if book.apply_segments(segment_sync):
                        self._put(partition, segments_row(partition, segment_sync))
                if message.origin_ms is not None:
                    self.out.health.latency(now - message.origin_ms / 1000)
            for agent in changed_agents:
                syncs, holders = book.segment_syncs(agent, self.segment_holders.get(agent, ()))
                for segments in syncs:
                    outbox.to(self.out.partition_of(segments.owner)).segments.append(segments)
                merged = holders | self.segment_holders.get(agent, frozenset())
                if merged != self.segment_holders.get(agent):
                    self.segment_holders[agent] = merged
                    self._put(partition, holders_row(partition, agent, merged))
        book.trim()
        self._expire()

    def _expire(self) -> None:
        """Once per hour of event time, drop what lies beyond the pane retention (panes,
        presence, held syncs), as replay does: a worker's memory follows the last 25 h, not
        its whole history."""
        if self.book.watermark.expiry_due():
            self.book.expire()

    def _put(self, partition: int, row: Row) -> None:
        """One owner-table row (:mod:`service.engine.codec`)."""
        self.out.tables.store(self.table, partition, *row)

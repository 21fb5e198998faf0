"""The conversation stage of a worker: input messages of one partition in, deltas for the owner
stage and the partition's rows out. No faust here: the stage reads a :class:`~service.stream.
store.Store` and returns what a batch sends and writes; the worker
(:mod:`service.stream.app`) sends and writes it.

Per batch, as replay does: each message is decoded once (bad input → a dead letter naming the
field and reason); each event is applied to its conversation (:class:`~service.engine.
conversations.Conversations`, the one engine), whose fact changes, coalesced over the batch,
become the deltas of the owners (:class:`~service.engine.deltas.DeltaBuilder`) with the live
summaries that changed; presence events go on to their agent's owner.

Exactly once, without transactions. The owner stage applies a pane's deltas once per source
offset (its rows remember the last offset applied from each input partition). The worker
therefore writes the batch's *intent* (its last offset, :attr:`StageResult.first`) before it
sends the deltas, sends them, and only then writes the conversations' rows. Input up to the
intent that comes again after a restart sends deltas message by message
(:meth:`ConversationStage.process`): whatever the crash point, every pane row ends up with each
message's deltas once. The conversations' events are idempotent, the deltas of input processed
again from the same state are the same, and a batch whose rows were (partly) written had all
its deltas delivered.
"""

from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from service.engine.conversation import Conversation
from service.engine.conversations import REVIEW_PREFIX, Conversations
from service.engine.deltas import DeltaBuilder, OwnerDeltas, Source
from service.engine.fold import LiveSummary
from service.engine.learned_names import sightings
from service.engine.owner_keys import Owner
from service.engine.records import K_PRESENCE, Record, to_record
from service.engine.sla import TeamPolicy
from service.engine.watermark import Watermark
from service.history.changes import HistoryBuilder
from service.history.ledger import Attributes
from service.ingest import Rejection, decode_message
from service.stream.dead_letters import processing_error
from service.stream.rows import (
    CHUNK_EVENTS,
    SEEN_CHUNK,
    Head,
    decode_records,
    decode_seen,
    dumps,
    encode_records,
    encode_seen,
    key,
    key_parts,
    loads,
    prefix,
)
from service.stream.store import Store, Writes

__all__ = ["ConversationStage", "Message", "StageResult"]


class Message(NamedTuple):
    """One Kafka message, as the stages see it (the worker makes them from faust's events)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


@dataclass
class StageResult:
    """What a stage's batch of one partition sends and writes."""

    deltas: list[tuple[int, OwnerDeltas]] = field(default_factory=list)
    """(destination partition of the deltas topic, message), in the order to send them."""
    first: Writes = field(default_factory=Writes)
    """Rows written before the messages are sent (the conversation stage's intent, an
    agent owner's segment holders)."""
    writes: Writes = field(default_factory=Writes)
    """Rows written once the messages are acknowledged."""
    dead_letters: list[tuple[Rejection, Message]] = field(default_factory=list)
    history: list[tuple[int, bytes, bytes]] = field(default_factory=list)
    """(partition, key, value) of the history topic's records (:mod:`service.history.changes`),
    sent with the deltas."""
    types: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    late: int = 0
    expired: int = 0
    forgotten: int = 0
    origin_ms: int | None = None
    """The earliest Kafka timestamp of the input behind the batch (for the latency)."""


@dataclass
class _Partition:
    store: Store
    conversations: Conversations
    watermark: Watermark
    intent: int


class ConversationStage:
    """The conversations of the input partitions this worker holds."""

    def __init__(self, policy: TeamPolicy, retention_ms: int,
                 partition_of: Callable[[Owner], int], idle_limit: int | None = None,
                 max_message_bytes: int = 1_048_576, history: bool = True) -> None:
        """``partition_of``: the deltas-topic partition of an owner; ``idle_limit``: resolved
        or closed conversations kept decoded per partition (the others are read back from the
        store when an event comes); ``history``: send the history sink its records."""
        self.policy = policy
        self.retention_ms = retention_ms
        self.partition_of = partition_of
        self.idle_limit = idle_limit
        self.max_message_bytes = max_message_bytes
        self.history = history
        self.partitions: dict[int, _Partition] = {}

    # -- assignment ----------------------------------------------------------------------------

    def load(self, partition: int, store: Store) -> int:
        """Take ``partition`` with its store: the conversations it holds are known by their
        heads (read back when an event comes), the watermark and the intent restored; how many
        conversations."""
        conversations = Conversations(
            self.policy, self.retention_ms, compact=False,
            loader=lambda cid: self.read(partition, cid), idle_limit=self.idle_limit,
            track=True)
        conversations.forgotten_ids = []
        watermark = Watermark(self.retention_ms)
        raw = store.get(key(partition, b"w"))
        if raw is not None:
            watermark.restore(loads(raw))
        intent = store.get(key(partition, b"i"))
        self.partitions[partition] = _Partition(store, conversations, watermark,
                                                -1 if intent is None else int(intent))
        for row_key, value in store.scan(prefix(partition, b"h")):
            (cid,) = key_parts(row_key, 1)
            last_at, live = loads(value)[:2]
            conversations.hold(cid, last_at, live)
        return len(conversations.last_at)

    def drop(self, partition: int) -> None:
        self.partitions.pop(partition, None)

    def read(self, partition: int, conversation_id: str) -> Conversation | None:
        """A held conversation from its rows (None when its head is missing)."""
        store = self.partitions[partition].store
        raw = store.get(key(partition, b"h", conversation_id))
        if raw is None:
            return None
        head = Head.decode(raw)
        records: list[Record] = []
        last: list[Record] = []
        for n in range(head.chunks):
            chunk = store.get(key(partition, b"e", conversation_id, n))
            last = [] if chunk is None else decode_records(chunk)
            records += last
        conversation = Conversation(conversation_id, track=True)
        if head.base is not None:
            conversation.checkpoints = [head.base]
            conversation.base_at = head.base_at
            seen = b"".join(decode_seen(raw) for n in range(head.seen_chunks)
                            if (raw := store.get(key(partition, b"s", conversation_id, n))))
            conversation.base_seen = array("Q", seen)
            records = [r for r in records if head.base_at is None or r.at > head.base_at]
        conversation.restore(sorted(records, key=lambda r: (r.at, r.seq)), self.policy)
        conversation.saved_chunks = head.chunks
        conversation.tail = last if len(last) < CHUNK_EVENTS else []
        if conversation.tail:
            conversation.saved_chunks -= 1
        return conversation

    # -- batches -------------------------------------------------------------------------------

    def process(self, partition: int, messages: list[Message],
                latest_ms: int | None = None) -> StageResult:
        """One batch of one partition (offsets in order). ``latest_ms``: later events are
        ``future`` (the wall clock plus the allowed skew).

        Input up to the partition's intent is being processed again (after a crash or a
        rebalance): its deltas may have been sent already, coalesced in a batch whose cut is not
        known, so each of those messages sends deltas of its own, stamped with its offset. The
        owner rows that have the original batch drop them all (they hold a later offset); the
        others take them one by one, so a run cut short by another crash never counts a message
        twice. The rest of the batch is coalesced, stamped with its last offset. The history
        gets a snapshot of each conversation of that input instead of its changes
        (:mod:`service.history.changes`)."""
        part = self.partitions[partition]
        conversations, watermark = part.conversations, part.watermark
        out = StageResult()
        out.origin_ms = min(m.timestamp_ms for m in messages)
        again = [[m] for m in messages if m.offset <= part.intent]
        new = [m for m in messages if m.offset > part.intent]
        touched: set[str] = set()
        history = HistoryBuilder() if self.history else None
        for group in [*again, *([new] if new else [])]:
            if group is new and again and history is not None:
                self._snapshots(conversations, touched, history)
            source = Source(partition, group[0].offset, group[-1].offset, None,
                            min(m.timestamp_ms for m in group))
            builder = DeltaBuilder(source, self.partition_of, watermark.cutoff_ms)
            before: dict[str, LiveSummary | None] = {}
            for message in group:
                for record, conversation_id, event, event_type in self._decode(
                        message, latest_ms, out):
                    self._apply(part, record, conversation_id, event, event_type, message,
                                builder, before, out, history)
            for cid, summary in before.items():
                conversation = conversations.conversations.get(cid)
                builder.live(cid, summary,
                             None if conversation is None else conversation.fold.live_summary())
            touched.update(before)
            sent = builder.finish(watermark.at_ms)
            out.deltas += sent.items()
            if group is new and sent:
                part.intent = new[-1].offset
                out.first[key(partition, b"i")] = str(part.intent).encode()
        if history is not None:
            if again and not new:
                self._snapshots(conversations, touched, history)
            out.history = [(partition, k, v) for k, v in history.records(watermark.at_ms)]
        if watermark.at_ms is not None and watermark.expiry_due():
            conversations.expire(watermark.at_ms)
        assert conversations.forgotten_ids is not None
        out.forgotten = len(conversations.forgotten_ids)
        for cid in conversations.forgotten_ids:
            self._forget_rows(part.store, partition, cid, out.writes)
            touched.discard(cid)
        conversations.forgotten_ids = []
        for cid in touched:
            conversation = conversations.conversations.get(cid)
            if conversation is not None:
                self._save(partition, conversation, conversations.last_at[cid],
                           cid in conversations.active, out.writes)
        out.writes[key(partition, b"w")] = dumps(watermark.state())
        conversations.trim()
        return out

    def _snapshots(self, conversations: Conversations, keys: Iterable[str],
                   history: HistoryBuilder) -> None:
        """Every fact of the conversations ``keys`` to the history, replacing what it holds."""
        for cid in keys:
            conversation = conversations.conversations.get(cid)
            if conversation is not None:
                history.snapshot(cid, conversation.facts(self.policy), conversation.base_at)

    def _decode(self, message: Message, latest_ms: int | None, out: StageResult
                ) -> Iterable[tuple[Record, str | None, Any, str]]:
        decoded = decode_message(message.value, self.max_message_bytes, latest_ms)
        for rejection in decoded.rejections:
            out.dead_letters.append((rejection, message))
        event: Any
        for index, event in enumerate(decoded.events):
            try:
                record = to_record(event, (message.offset << 20) + index)
            except Exception as error:
                out.dead_letters.append((processing_error(
                    error, event.model_dump_json().encode()), message))
                continue
            yield record, getattr(event, "conversation_id", None), event, event.type

    def _apply(self, part: _Partition, record: Record, conversation_id: str | None, event: Any,
               event_type: str, message: Message, builder: DeltaBuilder,
               before: dict[str, LiveSummary | None], out: StageResult,
               history: HistoryBuilder | None) -> None:
        watermark, conversations = part.watermark, part.conversations
        at = record.at
        for owner, sighting in sightings(event, at):
            builder.name(owner, sighting)
        watermark_ms = watermark.see(at)
        late = watermark.late(at)
        if record.kind == K_PRESENCE:
            assert record.agent is not None
            out.types[event_type] += 1
            out.late += late
            builder.presence(record.agent, record)
            return
        cid = conversation_id or f"{REVIEW_PREFIX}{record.fingerprint:016x}"
        if not conversations.admit(cid, at, watermark_ms):
            out.types[event_type] += 1
            out.expired += 1
            return
        try:
            if cid not in before:
                held = conversations.get(cid)
                before[cid] = None if held is None else held.fold.live_summary()
            changes = conversations.add(cid, record)
        except Exception as error:
            out.dead_letters.append((processing_error(
                error, event.model_dump_json().encode()), message))
            return
        out.types[event_type] += 1
        if changes is None:
            out.duplicates += 1
            return
        out.late += late
        builder.cutoff_ms = watermark.cutoff_ms
        for change in changes:
            builder.change(change)
            if history is not None:
                history.change(cid, change)
        if history is not None and event_type == "conversation.created":
            history.attributes(cid, Attributes(event.channel, event.priority,
                                               event.customer_id, event.source))

    # -- rows ----------------------------------------------------------------------------------

    def _save(self, partition: int, conversation: Conversation, last_at: int, live: bool,
              writes: Writes) -> None:
        """The rows of a conversation the batch touched: its new events appended to the last
        chunk (or, after the base moved, every chunk and the base's ids anew) and its head."""
        cid = conversation.conversation_id
        fresh = conversation.fresh if conversation.fresh is not None else []
        base = conversation.checkpoints[0]
        seen_chunks = -(-len(conversation.base_seen) // SEEN_CHUNK)
        if conversation.rebased:
            old_chunks = conversation.saved_chunks + (1 if conversation.tail else 0)
            for n in range(old_chunks):
                writes[key(partition, b"e", cid, n)] = None
            conversation.saved_chunks, conversation.tail = 0, []
            fresh = list(conversation.log)
            conversation.rebased = False
            seen, step = conversation.base_seen.tobytes(), SEEN_CHUNK * 8
            for index in range(seen_chunks):
                writes[key(partition, b"s", cid, index)] = encode_seen(
                    seen[index * step:(index + 1) * step])
        tail = conversation.tail + fresh
        n = conversation.saved_chunks
        while len(tail) >= CHUNK_EVENTS:
            writes[key(partition, b"e", cid, n)] = encode_records(tail[:CHUNK_EVENTS])
            tail = tail[CHUNK_EVENTS:]
            n += 1
        if tail:
            writes[key(partition, b"e", cid, n)] = encode_records(tail)
        conversation.saved_chunks, conversation.tail = n, tail
        if conversation.fresh is not None:
            conversation.fresh = []
        writes[key(partition, b"h", cid)] = Head(
            last_at, live, n + (1 if tail else 0), base, conversation.base_at,
            seen_chunks).encode()

    @staticmethod
    def _forget_rows(store: Store, partition: int, conversation_id: str,
                     writes: Writes) -> None:
        writes[key(partition, b"h", conversation_id)] = None
        for kind in (b"e", b"s"):
            for row_key, _ in store.scan(prefix(partition, kind, conversation_id)):
                writes[row_key] = None


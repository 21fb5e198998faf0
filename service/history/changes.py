"""What the workers send the history sink (SPEC §8): the records of the history topic
(``SUPPORT_KPI_HISTORY_TOPIC``, default ``support.history``), their builders and their codec.

Two kinds of record, each a JSON array led by its kind and :data:`HISTORY_VERSION`:

* :class:`ConversationHistory` — keyed by conversation, sent by the conversation stage on the
  partition of the input it came from (so a conversation's records keep their order): the facts
  a batch set (by id, the fact now) and removed (by id, with the removed fact's stop), the
  attributes of its ``conversation.created``. A *snapshot* holds every fact the conversation has
  (at or after ``since_ms`` when it folded older events away) and replaces what the history
  holds of it: a worker sends one for each conversation of input it processes again after a
  crash, whose first sending may have reached the sink whole, in part or not at all.
* :class:`AgentHistory` — keyed by agent, sent by the owner stage on the agent's deltas-topic
  partition: the changes presence and busy time made to the agent's logged-in segments (never
  the cuts retention makes), the presence events' team marks, and, when the stage loads the
  partition, a *resync*: the agent's segments from its timeline's horizon on, replacing those
  the history holds from there (a change whose removed part is one segment without end).

Every record is absolute by id, by conversation or by time span, so applying it twice changes
nothing; records of one key come in order. A record that does not decode raises
:class:`BadHistoryRecord` naming what is wrong.
"""

from dataclasses import dataclass, field
from typing import Any

import orjson

from service.engine.conversations import REVIEW_PREFIX
from service.engine.facts import Busy, Fact, FactChange, fact_from
from service.engine.presence import Segment, SegmentChange
from service.history.ledger import Attributes

__all__ = [
    "HISTORY_VERSION",
    "AgentHistory",
    "BadHistoryRecord",
    "ConversationHistory",
    "HistoryBuilder",
    "decode_history",
    "encode_history",
    "history_conversation_id",
    "resync_change",
]

HISTORY_VERSION = 1

RECORD_ITEMS = 1000
"""Facts, or segments and marks, per record at most (a record stays well below the producer's
batch of 900 KB)."""


class BadHistoryRecord(ValueError):
    """A history record that does not decode: another version, not JSON, a wrong shape."""


def history_conversation_id(key: str) -> str | None:
    """The conversation a worker key stands for in the history (None for a review that came
    without one)."""
    return None if key.startswith(REVIEW_PREFIX) else key


@dataclass(slots=True)
class ConversationHistory:
    """One conversation's fact changes of one batch, or its snapshot (module docstring)."""

    conversation_id: str
    """The worker's key: the conversation id, or a review's own key (``review:…``)."""
    sets: dict[str, Fact] = field(default_factory=dict)
    removed: set[tuple[str, int]] = field(default_factory=set)
    """(fact id, ``at`` in epoch ms) of each removed version of a fact: every one the batch
    removed, as one of them is the version the history holds."""
    attributes: Attributes | None = None
    snapshot: bool = False
    since_ms: int | None = None
    """With ``snapshot``: the facts before this stop were folded away by the worker and are
    kept as they are."""
    watermark_ms: int | None = None


@dataclass(slots=True)
class AgentHistory:
    """One agent's segment changes (in order) and team marks (agent, ``at``, team) of one
    batch."""

    agent: str
    changes: list[SegmentChange] = field(default_factory=list)
    marks: set[tuple[int, str]] = field(default_factory=set)
    watermark_ms: int | None = None


def resync_change(horizon_ms: int, segments: tuple[Segment, ...]) -> SegmentChange:
    """The change that replaces an agent's segments from ``horizon_ms`` on by ``segments``."""
    return SegmentChange((Segment(horizon_ms, None, None, False),), segments)


class HistoryBuilder:
    """Gathers one batch's records: fact changes coalesced per conversation, segment changes and
    marks per agent."""

    def __init__(self) -> None:
        self.conversations: dict[str, ConversationHistory] = {}
        self.agents: dict[str, AgentHistory] = {}

    def _conversation(self, key: str) -> ConversationHistory:
        held = self.conversations.get(key)
        if held is None:
            held = self.conversations[key] = ConversationHistory(key)
        return held

    def change(self, key: str, change: FactChange) -> None:
        old, new = change
        if isinstance(old, Busy) or isinstance(new, Busy):
            return
        held = self._conversation(key)
        if old is not None:
            held.sets.pop(old.fact_id, None)
            held.removed.add((old.fact_id, old.at))
        if new is not None:
            held.sets[new.fact_id] = new

    def attributes(self, key: str, attributes: Attributes) -> None:
        self._conversation(key).attributes = attributes

    def snapshot(self, key: str, facts: dict[str, Fact], since_ms: int | None) -> None:
        """Replace what the batch says of the conversation by all its facts."""
        held = self._conversation(key)
        held.sets = {fid: fact for fid, fact in facts.items() if not isinstance(fact, Busy)}
        held.removed = set()
        held.snapshot, held.since_ms = True, since_ms

    def segments(self, agent: str, change: SegmentChange) -> None:
        if change.removed or change.added:
            self._agent(agent).changes.append(change)

    def mark(self, agent: str, at_ms: int, team: str) -> None:
        self._agent(agent).marks.add((at_ms, team))

    def _agent(self, agent: str) -> AgentHistory:
        held = self.agents.get(agent)
        if held is None:
            held = self.agents[agent] = AgentHistory(agent)
        return held

    def records(self, watermark_ms: int | None) -> list[tuple[bytes, bytes]]:
        """(key, value) of every record, conversations first, each carrying ``watermark_ms``.
        A record with more than :data:`RECORD_ITEMS` facts or segments is sent as several, in
        order, which apply as the one would (a snapshot's first part replaces, the others add),
        so that every record fits a producer batch."""
        out: list[tuple[bytes, bytes]] = []
        for key, conversation in self.conversations.items():
            conversation.watermark_ms = watermark_ms
            for part in _conversation_parts(conversation):
                out.append((key.encode(), encode_history(part)))
        for agent, held in self.agents.items():
            held.watermark_ms = watermark_ms
            for agent_part in _agent_parts(held):
                out.append((agent.encode(), encode_history(agent_part)))
        return out

    def __bool__(self) -> bool:
        return bool(self.conversations or self.agents)


def _conversation_parts(held: ConversationHistory) -> list[ConversationHistory]:
    """Removals first, then the facts set; the first part carries the snapshot's mark."""
    if len(held.sets) + len(held.removed) <= RECORD_ITEMS:
        return [held]
    removed, sets = sorted(held.removed), list(held.sets.items())
    parts = [ConversationHistory(held.conversation_id, {}, set(removed[i:i + RECORD_ITEMS]),
                                 watermark_ms=held.watermark_ms)
             for i in range(0, len(removed), RECORD_ITEMS)]
    parts += [ConversationHistory(held.conversation_id, dict(sets[i:i + RECORD_ITEMS]),
                                  watermark_ms=held.watermark_ms)
              for i in range(0, len(sets), RECORD_ITEMS)]
    first = parts[0]
    first.attributes, first.snapshot, first.since_ms = (held.attributes, held.snapshot,
                                                        held.since_ms)
    return parts


def _agent_parts(held: AgentHistory) -> list[AgentHistory]:
    """A large change is cut into its removals, then its additions (what applying it does)."""
    pieces: list[SegmentChange] = []
    for change in held.changes:
        removed, added = change
        if len(removed) + len(added) <= RECORD_ITEMS:
            pieces.append(change)
            continue
        pieces += [SegmentChange(removed[i:i + RECORD_ITEMS], ())
                   for i in range(0, len(removed), RECORD_ITEMS)]
        pieces += [SegmentChange((), added[i:i + RECORD_ITEMS])
                   for i in range(0, len(added), RECORD_ITEMS)]
    marks = sorted(held.marks)
    parts = [AgentHistory(held.agent, watermark_ms=held.watermark_ms)]
    size = 0
    for piece in pieces:
        items = len(piece.removed) + len(piece.added)
        if size + items > RECORD_ITEMS:
            parts.append(AgentHistory(held.agent, watermark_ms=held.watermark_ms))
            size = 0
        parts[-1].changes.append(piece)
        size += items
    for mark in marks:
        if size >= RECORD_ITEMS:
            parts.append(AgentHistory(held.agent, watermark_ms=held.watermark_ms))
            size = 0
        parts[-1].marks.add(mark)
        size += 1
    return parts


def _segment(values: Any) -> Segment:
    start, end, team, busy = values
    if not isinstance(start, int) or not (end is None or isinstance(end, int)) or not (
            team is None or isinstance(team, str)) or not isinstance(busy, bool):
        raise BadHistoryRecord(f"a segment is [start, end, team, busy], not {values!r}")
    return Segment(start, end, team, busy)


def encode_history(record: ConversationHistory | AgentHistory) -> bytes:
    """The JSON of a record (module docstring)."""
    if isinstance(record, ConversationHistory):
        attributes = record.attributes
        return orjson.dumps([
            "c", HISTORY_VERSION, record.conversation_id, record.watermark_ms,
            [list(fact) for fact in record.sets.values()],
            sorted([fid, at] for fid, at in record.removed),
            None if attributes is None else [attributes.channel, attributes.priority,
                                             attributes.customer_id, attributes.source],
            record.snapshot, record.since_ms])
    return orjson.dumps([
        "a", HISTORY_VERSION, record.agent, record.watermark_ms,
        [[[list(s) for s in change.removed], [list(s) for s in change.added]]
         for change in record.changes],
        sorted([at, team] for at, team in record.marks)])


def decode_history(raw: bytes | None) -> ConversationHistory | AgentHistory:
    """A record from its JSON. Raises BadHistoryRecord naming what is wrong."""
    if raw is None:
        raise BadHistoryRecord("an empty record (a tombstone); the history topic has none")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BadHistoryRecord(f"not JSON: {error}") from None
    if not isinstance(data, list) or len(data) < 4:
        raise BadHistoryRecord("a history record is a JSON array [kind, version, key, …]")
    kind, version, key, watermark = data[:4]
    if version != HISTORY_VERSION:
        raise BadHistoryRecord(f"version {version!r}; this sink reads version "
                               f"{HISTORY_VERSION} (upgrade the sink with the workers)")
    if not isinstance(key, str) or not (watermark is None or isinstance(watermark, int)):
        raise BadHistoryRecord("the key is a string and the watermark an integer or null")
    try:
        if kind == "c" and len(data) == 9:
            sets, removed, attributes, snapshot, since = data[4:]
            facts = [fact_from(values) for values in sets]
            return ConversationHistory(
                key, {fact.fact_id: fact for fact in facts},
                {(str(fid), int(at)) for fid, at in removed},
                None if attributes is None else Attributes(*attributes), bool(snapshot),
                since, watermark)
        if kind == "a" and len(data) == 6:
            changes, marks = data[4:]
            return AgentHistory(
                key, [SegmentChange(tuple(map(_segment, removed)), tuple(map(_segment, added)))
                      for removed, added in changes],
                {(int(at), str(team)) for at, team in marks}, watermark)
    except BadHistoryRecord:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise BadHistoryRecord(f"a {kind!r} record with a wrong part: {error!r}") from None
    raise BadHistoryRecord(f"kind {kind!r} with {len(data)} parts is no history record")

"""What crosses partitions in the streaming service: the deltas one batch of a conversation
partition sends to the owners, and the occupancy segments an agent's owner sends on.

The conversation stage turns a batch's fact changes into one :class:`OwnerDeltas` per partition
of the deltas topic that holds one of their owners, coalesced over the batch:

* ``panes`` — (owner, minute) → pane entries summed over the batch (negative amounts retract):
  exact integers, the same entries replay adds to its panes;
* ``marks`` — (agent, minute) → the (time, team) marks of the facts credited to the agent, for
  its team label, with their counts;
* ``feedback`` — owner → fact id → the rating or review its page lists, or None;
* ``attention`` — agent → fact id → the interval it is assignee of a conversation awaiting a
  response, or None once gone;
* ``live`` — owner → conversation id → its live summary, or None once it no longer counts;
* ``presence`` — agent → its presence events;
* ``names`` — team or agent owner → the latest name the batch's events gave it
  (:mod:`service.engine.learned_names`).

The first two add up: the owner stage applies them to a row (one owner's pane of one minute)
only if that row has not applied the same source's offsets before (a redelivered batch, after
a crash, is dropped there). The others are absolute values, the same however often they
come. An agent's owner turns attention and presence into occupancy segment changes
(:class:`~service.engine.presence.SegmentChange`, absolute by segment start) that go to the
partitions of the team and overall owners (:class:`OwnerDeltas` ``segments``).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from service.engine.facts import Busy, FactChange, Rating, Review
from service.engine.feeds import Entries
from service.engine.fold import LiveSummary
from service.engine.kpis import PANES
from service.engine.learned_names import Sighting, keep_latest
from service.engine.owner_keys import Owner, agent_owner, fact_owners, owners_of
from service.engine.panes import MINUTE_MS
from service.engine.presence import Segment, SegmentChange
from service.engine.records import Record

__all__ = ["DELTAS_VERSION", "DeltaBuilder", "OwnerDeltas", "Source"]

DELTAS_VERSION = 2
"""The version of the deltas topic's messages (:mod:`service.stream.messages`); version 2 added
``names``, and a worker reads version 1 too."""

PaneKey = tuple[Owner, int]
"""(owner, minute): one owner's 1-minute pane, epoch ms."""


@dataclass(frozen=True, slots=True)
class Source:
    """Where a message comes from: ``partition`` of the input topic (deltas), or ``-1 -
    partition`` of the deltas topic (segments), the offsets ``first..last`` of its batch, the
    source's watermark after it, and the earliest Kafka timestamp of its input (``origin_ms``,
    for the latency)."""

    partition: int
    first: int
    last: int
    watermark_ms: int | None = None
    origin_ms: int | None = None


@dataclass(slots=True)
class OwnerDeltas:
    """Everything one batch sends to one partition of the deltas topic (see the module
    docstring)."""

    source: Source
    panes: dict[PaneKey, dict[int, int]] = field(default_factory=dict)
    marks: dict[PaneKey, dict[tuple[int, str], int]] = field(default_factory=dict)
    feedback: dict[Owner, dict[str, Rating | Review | None]] = field(default_factory=dict)
    attention: dict[str, dict[str, tuple[int, int | None] | None]] = field(default_factory=dict)
    live: dict[Owner, dict[str, LiveSummary | None]] = field(default_factory=dict)
    presence: dict[str, list[Record]] = field(default_factory=dict)
    names: dict[Owner, Sighting] = field(default_factory=dict)
    segments: dict[tuple[Owner, str], SegmentChange] = field(default_factory=dict)
    """(team or overall owner, agent) → the agent's segments it counts that went and came."""
    resync: dict[tuple[Owner, str], tuple[Segment, ...]] = field(default_factory=dict)
    """(team or overall owner, agent) → all the agent's segments it counts, replacing what it
    held: sent by an agent's owner when it loads its partition (after a restart or a
    rebalance), so the changes that follow start from what it holds."""

    def __bool__(self) -> bool:
        return bool(self.panes or self.marks or self.feedback or self.attention or self.live
                    or self.presence or self.names or self.segments or self.resync)

    def row_keys(self) -> set[PaneKey]:
        """The (owner, minute) rows the additive parts touch."""
        return set(self.panes) | set(self.marks)


class DeltaBuilder:
    """Coalesces a batch's changes into :class:`OwnerDeltas`, one per destination partition."""

    def __init__(self, source: Source, partition_of: Callable[[Owner], int],
                 cutoff_ms: int) -> None:
        """``cutoff_ms``: pane entries of facts dated before it are left out (their panes are
        out of retention), as replay leaves them out."""
        self.source = source
        self.partition_of = partition_of
        self.cutoff_ms = cutoff_ms
        self.out: dict[int, OwnerDeltas] = {}
        self._owners: dict[Owner, OwnerDeltas] = {}

    def _to(self, owner: Owner) -> OwnerDeltas:
        deltas = self._owners.get(owner)
        if deltas is None:
            partition = self.partition_of(owner)
            deltas = self.out.get(partition)
            if deltas is None:
                deltas = self.out[partition] = OwnerDeltas(self.source)
            self._owners[owner] = deltas
        return deltas

    def change(self, change: FactChange) -> None:
        """One fact change, both sides."""
        old, new = change
        if isinstance(new, Busy) or isinstance(old, Busy):
            if isinstance(old, Busy) and not (isinstance(new, Busy) and new.agent == old.agent):
                self._to(agent_owner(old.agent)).attention.setdefault(
                    old.agent, {})[old.fact_id] = None
            if isinstance(new, Busy):
                self._to(agent_owner(new.agent)).attention.setdefault(
                    new.agent, {})[new.fact_id] = (new.start_ms, new.end_ms)
            return
        for fact, sign in ((old, -1), (new, 1)):
            if fact is None:
                continue
            minute = fact.at - fact.at % MINUTE_MS
            entries: Entries = PANES.entries(fact) if fact.at >= self.cutoff_ms else ()
            for owner in fact_owners(fact):
                deltas = self._to(owner)
                key = (owner, minute)
                if entries:
                    pane = deltas.panes.get(key)
                    if pane is None:
                        pane = deltas.panes[key] = {}
                    for slot, amount in entries:
                        pane[slot] = pane.get(slot, 0) + sign * amount
                if owner.level == "agent":
                    marks = deltas.marks.setdefault(key, {})
                    if fact.team is not None:
                        mark = (fact.at, fact.team)
                        marks[mark] = marks.get(mark, 0) + sign
                if isinstance(fact, Rating | Review) and owner.level != "overall":
                    deltas.feedback.setdefault(owner, {})[fact.fact_id] = (
                        fact if sign > 0 else None)

    def live(self, conversation_id: str, before: LiveSummary | None,
             after: LiveSummary | None) -> None:
        """A conversation's live summary went from ``before`` to ``after`` in the batch."""
        if before == after:
            return
        now = set() if after is None else set(owners_of(after.team, after.assignee))
        if before is not None:
            for owner in owners_of(before.team, before.assignee):
                if owner not in now:
                    self._to(owner).live.setdefault(owner, {})[conversation_id] = None
        for owner in now:
            self._to(owner).live.setdefault(owner, {})[conversation_id] = after

    def presence(self, agent: str, record: Record) -> None:
        self._to(agent_owner(agent)).presence.setdefault(agent, []).append(record)

    def name(self, owner: Owner, sighting: Sighting) -> None:
        """An event gave ``owner`` a name; the batch sends the latest."""
        keep_latest(self._to(owner).names, owner, sighting)

    def segments(self, owner: Owner, agent: str, change: SegmentChange) -> None:
        """Segment changes of ``agent`` counted by ``owner`` (an owner stage's hop); several of
        one batch are merged in order."""
        deltas = self._to(owner)
        known = deltas.segments.get((owner, agent))
        if known is not None:
            change = merge_changes(known, change)
        deltas.segments[(owner, agent)] = change

    def finish(self, watermark_ms: int | None) -> dict[int, OwnerDeltas]:
        """:meth:`messages`, each carrying the source's watermark after the batch."""
        source = self.source
        self.source = Source(source.partition, source.first, source.last, watermark_ms,
                             source.origin_ms)
        for deltas in self.out.values():
            deltas.source = self.source
        return self.messages()

    def messages(self) -> dict[int, OwnerDeltas]:
        """The deltas by destination partition, zero amounts and empty parts dropped."""
        for deltas in self.out.values():
            _drop_zeros(deltas.panes)
            _drop_zeros(deltas.marks)
        return {partition: deltas for partition, deltas in self.out.items() if deltas}


def _drop_zeros(amounts: dict[Any, dict[Any, int]]) -> None:
    """Drop the zero amounts of each entry, and the entries left empty."""
    for key in list(amounts):
        kept = {slot: amount for slot, amount in amounts[key].items() if amount}
        if kept:
            amounts[key] = kept
        else:
            del amounts[key]


def merge_changes(first: SegmentChange, then: SegmentChange) -> SegmentChange:
    """One change that does what ``first`` then ``then`` do (removals by start first)."""
    added = {s.start: s for s in first.added}
    removed = {s.start: s for s in first.removed}
    for segment in then.removed:
        if added.pop(segment.start, None) is None:
            removed[segment.start] = segment
    for segment in then.added:
        added[segment.start] = segment
    return SegmentChange(tuple(removed.values()), tuple(added.values()))

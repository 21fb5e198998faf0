"""The fact ledger (SPEC §8): the fact changes, timeline changes and conversation attributes
replay's engine makes, gathered for the history database (:mod:`service.history.database`).

Plain Python, no I/O. Facts and attributes are *pending* until a writer drains them (they are
written by id, so a drained ledger holds only what changed since); a fact change replaces the
fact by id, a retraction removes it, a redelivery changes nothing. Logged-in time is kept whole
as the timelines' segments (:class:`~service.engine.presence.Segment`), a few per agent and
shift: a timeline change gives the segments it removed and added, and the ledger takes the
removed ones' time out and puts the added ones in. The cuts retention makes to a timeline are
not changes of the agent's time and never reach the ledger, so its segments reach back past the
timelines' horizon.
"""

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Any, Protocol

from service.engine.facts import Busy, Fact, FactChange
from service.engine.presence import Segment, SegmentChange
from service.engine.records import to_epoch_ms

__all__ = ["Attributes", "Ledger", "LedgerFact", "LedgerWriter", "change_segments"]

_OPEN = 1 << 62
"""Where a running segment (end None) ends, for comparisons."""


@dataclass(frozen=True, slots=True)
class Attributes:
    """A conversation's attributes (SPEC §2's ``conversation.created``), by which history
    slices its facts."""

    channel: str
    priority: str
    customer_id: str | None
    source: str | None


@dataclass(frozen=True, slots=True)
class LedgerFact:
    """A fact with the conversation it belongs to (None for a review without one)."""

    conversation_id: str | None
    fact: Fact


def _end(segment: Segment) -> int:
    return _OPEN if segment.end is None else segment.end


def _start(segment: Segment) -> int:
    return segment.start


class Ledger:
    """Pending facts by id (None: removed) and attributes by conversation; segments by agent
    (sorted, not overlapping); presence team marks."""

    def __init__(self) -> None:
        self.facts: dict[str, LedgerFact | None] = {}
        """The facts changed since the last drain: the fact now, or None when it went."""
        self.segments: dict[str, list[Segment]] = {}
        self.attributes: dict[str, Attributes] = {}
        """Attributes learnt since the last drain."""
        self.revised: set[str] = set()
        """Ids of facts changed or removed after they came: the only ones a writer that drains
        the ledger now and then may have written more than once."""
        self.team_marks: set[tuple[str, int, str]] = set()
        """(agent, time, team) of the presence events that name a team: with the facts' teams
        they give an agent's team label (:mod:`service.engine.labels`)."""

    def observe(self, event: Any) -> None:
        """Take what an event says of its conversation's attributes (``conversation.created``)
        or of its agent's team (``agent.status_changed`` naming one). The event is validated
        and new (not a duplicate)."""
        if event.type == "conversation.created":
            self.attributes[event.conversation_id] = Attributes(
                event.channel, event.priority, event.customer_id, event.source)
        elif event.type == "agent.status_changed" and event.team is not None:
            self.team_marks.add((event.agent_id, to_epoch_ms(event.at), event.team))

    def apply(self, conversation_id: str | None, changes: list[FactChange]) -> None:
        """The fact changes one event caused. Busy time is left to :meth:`apply_segments`."""
        facts = self.facts
        for old, new in changes:
            if old is not None and not isinstance(old, Busy):
                facts[old.fact_id] = None
                self.revised.add(old.fact_id)
            if new is not None and not isinstance(new, Busy):
                facts[new.fact_id] = LedgerFact(conversation_id, new)

    def drain(self) -> tuple[dict[str, LedgerFact | None], dict[str, Attributes]]:
        """The pending facts and attributes, handed over (the ledger keeps none of them)."""
        facts, attributes = self.facts, self.attributes
        self.facts, self.attributes = {}, {}
        return facts, attributes

    def apply_segments(self, agent: str, change: SegmentChange) -> None:
        """An agent's timeline change (:func:`change_segments`)."""
        segments = self.segments.setdefault(agent, [])
        change_segments(segments, change)
        if not segments:
            del self.segments[agent]


def _cut(segments: list[Segment], low: int, high: int) -> None:
    """Take the time [low, high) out of ``segments`` (sorted, not overlapping)."""
    first = bisect_right(segments, low, key=_end)
    last = bisect_left(segments, high, key=_start)
    kept: list[Segment] = []
    for segment in segments[first:last]:
        if segment.start < low:
            kept.append(segment._replace(end=low))
        if _end(segment) > high:
            kept.append(segment._replace(start=high))
    segments[first:last] = kept


def change_segments(segments: list[Segment], change: SegmentChange) -> None:
    """Apply a timeline change to an agent's ``segments`` (sorted, not overlapping), in place:
    the time of each segment it removed is taken out (a segment the timeline's retention had cut
    keeps its older part), and each segment it added is put in over whatever held its time. So
    a change applied twice is applied once (the history sink's redeliveries)."""
    for removed in change.removed:
        _cut(segments, removed.start, _end(removed))
    for added in change.added:
        _cut(segments, added.start, _end(added))
        segments.insert(bisect_left(segments, added.start, key=_start), added)


class LedgerWriter(Protocol):
    """Where replay drains a ledger while it runs (:class:`~service.history.database.
    HistoryWriter`)."""

    def flush(self, ledger: Ledger) -> None: ...

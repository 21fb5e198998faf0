"""The owner stage of a worker: the deltas topic's messages of one partition in, the owners'
book and rows updated, occupancy segments out. No faust here, as in
:mod:`service.stream.conversations`.

The owner stage only adds: pane entries and team marks to the pane row of their owner and
minute, which remembers the last offset it applied from each input partition and drops a delta
it has already applied (a batch processed again after a crash); ratings and reviews, live
summaries, attention intervals, presence events and segments are absolute values, the same
however often they come. An agent's owner turns presence and attention into occupancy segments
(its timeline recomputes only what a change touches) and sends the segments that went and came
to the partitions of the team and overall owners that count them (a message of its own source,
``-1 - partition``). It sends them before its rows are written, so a crash never loses a change
its rows already hold; a change sent twice is the same change.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from service.engine.book import OwnerBook, segment_routes
from service.engine.deltas import DeltaBuilder, OwnerDeltas, Source
from service.engine.learned_names import LearnedNames, Sighting
from service.engine.owner_keys import OVERALL, Owner, owner_for, owner_of_code, team_owner
from service.engine.panes import MINUTE_MS
from service.engine.presence import AgentTimeline, Segment, SegmentChange
from service.engine.records import Record
from service.engine.sla import TeamPolicy
from service.history.changes import HistoryBuilder, resync_change
from service.ingest import Rejection
from service.stream.conversations import Message, StageResult
from service.stream.messages import BadDelta, decode_deltas
from service.stream.rows import (
    PaneRow,
    decode_feedback,
    decode_segment,
    decode_summary,
    dumps,
    encode_fact,
    encode_segment,
    encode_summary,
    key,
    key_parts,
    loads,
    pane_key_parts,
    prefix,
)
from service.stream.store import Store, Writes

__all__ = ["OwnerStage"]

_PaneKey = tuple[Owner, int]


@dataclass
class _Partition:
    store: Store
    book: OwnerBook
    applied: dict[_PaneKey, dict[int, int]] = field(default_factory=dict)
    """(owner, minute) → input partition → the last offset applied to that pane row."""
    holders: dict[str, set[str]] = field(default_factory=dict)
    """Agent → the teams it ever sent segments to (written before it sends to a new one, so
    that a restarted owner knows whom to resync)."""
    undecodable: int = 0


class OwnerStage:
    """The owners of the deltas-topic partitions this worker holds, one book per partition."""

    def __init__(self, policy: TeamPolicy, retention_ms: int,
                 partition_of: Callable[[Owner], int], history: bool = True) -> None:
        """``history``: send the history sink the agents' segment changes and team marks."""
        self.policy = policy
        self.retention_ms = retention_ms
        self.partition_of = partition_of
        self.history = history
        self.partitions: dict[int, _Partition] = {}
        self.loaded_history: list[tuple[int, bytes, bytes]] = []
        """The history's resync records of the partitions loaded since the worker last sent
        them (:meth:`load`), as (partition, key, value)."""

    @property
    def undecodable(self) -> int:
        """Messages of the deltas topic dead-lettered because they did not decode."""
        return sum(part.undecodable for part in self.partitions.values())

    # -- assignment ----------------------------------------------------------------------------

    def load(self, partition: int, store: Store) -> list[tuple[int, OwnerDeltas]]:
        """Take ``partition`` with its store: the book rebuilt from its rows. Returns the
        messages to send at once, before any batch: every agent's segments to the team and
        overall owners that count them (a resync), so that the changes of the batches that
        follow (those processed again after a crash included) start from what they hold. The
        history's resync of every agent, from its timeline's horizon on, goes to
        :attr:`loaded_history`."""
        book = OwnerBook(self.policy, self.retention_ms)
        part = self.partitions[partition] = _Partition(store, book)
        raw = store.get(key(partition, b"w"))
        if raw is not None:
            book.watermark.restore(loads(raw))
        panes = prefix(partition, b"p")
        start, last_code, owner = len(panes), b"", OVERALL
        load_pane, applied = book.aggregates.load_pane, part.applied
        for row_key, value in store.scan(panes):
            raw_code, minute = pane_key_parts(row_key, start)
            if raw_code != last_code:
                owner, last_code = owner_of_code(raw_code.decode()), raw_code
            row = PaneRow.decode(value)
            load_pane(owner.level, owner.key, minute, row.entries)
            if row.marks:
                book.agent_teams.load(owner.key, minute, row.marks)
            applied[(owner, minute)] = row.applied
        for row_key, value in store.scan(prefix(partition, b"f")):
            code, fid = key_parts(row_key, 2)
            book.set_feedback(owner_of_code(code), fid, decode_feedback(value), -(2**62))
        for row_key, value in store.scan(prefix(partition, b"l")):
            code, cid = key_parts(row_key, 2)
            book.set_live(owner_of_code(code), cid, decode_summary(value))
        for row_key, value in store.scan(prefix(partition, b"c")):
            (agent,) = key_parts(row_key, 1)
            at, team, horizon = loads(value)
            timeline = book.timeline(agent)
            timeline.carried = None if team is None else (at, team)
            timeline.horizon = horizon
        presence: dict[str, list[Record]] = {}
        for row_key, value in store.scan(prefix(partition, b"r")):
            agent, _ = key_parts(row_key, 2)
            presence.setdefault(agent, []).append(Record(*loads(value)))
        attention: dict[str, list[tuple[str, tuple[int, int | None]]]] = {}
        for row_key, value in store.scan(prefix(partition, b"a")):
            agent, fid = key_parts(row_key, 2)
            start, end = loads(value)
            attention.setdefault(agent, []).append((fid, (start, end)))
        for agent in presence.keys() | attention.keys():
            book.timeline(agent).load(presence.get(agent, ()), attention.get(agent, ()))
        segments: dict[tuple[str, str], list[Segment]] = {}
        for row_key, value in store.scan(prefix(partition, b"g")):
            code, agent, _ = key_parts(row_key, 3)
            segments.setdefault((code, agent), []).append(decode_segment(value))
        for (code, agent), held in segments.items():
            book.load_segments(owner_of_code(code), agent, held)
        for row_key, value in store.scan(prefix(partition, b"h")):
            (agent,) = key_parts(row_key, 1)
            part.holders[agent] = set(loads(value))
        for row_key, value in store.scan(prefix(partition, b"n")):
            (code,) = key_parts(row_key, 1)
            book.names.learn(owner_of_code(code), Sighting(*loads(value)))
        if self.history:
            history = HistoryBuilder()
            for agent, timeline in book.timelines.items():
                horizon = book.cutoff_ms if timeline.horizon is None else timeline.horizon
                history.segments(agent, resync_change(horizon, tuple(timeline.segments())))
            self.loaded_history += [(partition, k, v)
                                    for k, v in history.records(book.watermark.at_ms)]
        return self._resync(partition, part)

    def _resync(self, partition: int, part: _Partition) -> list[tuple[int, OwnerDeltas]]:
        out = DeltaBuilder(Source(-1 - partition, -1, -1), self.partition_of, 0)
        for agent, timeline in part.book.timelines.items():
            teams = part.holders.get(agent, set())
            held: dict[Owner, list[Segment]] = {OVERALL: [], **{team_owner(t): [] for t in teams}}
            for segment in timeline.segments():
                held[OVERALL].append(segment)
                if segment.team is not None:
                    held.setdefault(team_owner(segment.team), []).append(segment)
            for owner, segments in held.items():
                out._to(owner).resync[(owner, agent)] = tuple(segments)
        return list(out.messages().items())

    def drop(self, partition: int) -> None:
        self.partitions.pop(partition, None)

    def books(self) -> Iterable[tuple[int, OwnerBook]]:
        return ((p, part.book) for p, part in self.partitions.items())

    # -- batches -------------------------------------------------------------------------------

    def process(self, partition: int, messages: list[Message]) -> StageResult:
        """One batch of one partition of the deltas topic; ``deltas`` of the result are the
        segment changes for the team and overall owners."""
        part = self.partitions[partition]
        book, writes = part.book, Writes()
        out = StageResult(writes=writes)
        source = Source(-1 - partition, messages[0].offset, messages[-1].offset)
        hop = DeltaBuilder(source, self.partition_of, book.cutoff_ms)
        history = HistoryBuilder() if self.history else None
        touched: set[_PaneKey] = set()
        carried: set[str] = set()
        for message in messages:
            try:
                deltas = decode_deltas(message.value)
            except BadDelta as error:
                part.undecodable += 1
                out.dead_letters.append((Rejection("undecodable_delta", str(error),
                                                   message.value or b""), message))
                continue
            origin = deltas.source.origin_ms
            if origin is not None and (out.origin_ms is None or origin < out.origin_ms):
                out.origin_ms = origin
            self._apply(partition, part, deltas, hop, touched, carried, writes, out.first,
                        history)
        for pane_key in touched:
            owner, minute = pane_key
            panes = book.aggregates.level_panes(owner.level, owner.key, create=False)
            entries = panes.minutes.get(minute) if panes is not None else None
            marks = book.agent_teams.in_minute(owner.key, minute) \
                if owner.level == "agent" else {}
            row_key = key(partition, b"p", owner.code, minute)
            if entries is None and not marks:
                writes[row_key] = None
                continue
            writes[row_key] = PaneRow(part.applied.get(pane_key, {}), dict(entries or {}),
                                      dict(marks)).encode()
        if book.watermark.expiry_due():
            self._expire(partition, part, carried, writes, hop, out.first)
        for agent in carried:
            self._carried_row(partition, agent, book.timelines.get(agent), writes)
        writes[key(partition, b"w")] = dumps(book.watermark.state())
        out.deltas = list(hop.messages().items())
        if history is not None:
            out.history = [(partition, k, v)
                           for k, v in history.records(book.watermark.at_ms)]
        return out

    def _apply(self, partition: int, part: _Partition, deltas: OwnerDeltas, hop: DeltaBuilder,
               touched: set[_PaneKey], carried: set[str], writes: Writes,
               first: Writes, history: HistoryBuilder | None) -> None:
        book = part.book
        source = deltas.source
        book.watermark.follow(source.watermark_ms)
        cutoff = book.cutoff_ms
        for pane_key in deltas.row_keys():
            owner, minute = pane_key
            applied = part.applied.get(pane_key)
            if applied is not None and applied.get(source.partition, -1) >= source.last:
                continue
            if minute + MINUTE_MS <= cutoff:
                continue
            entries = deltas.panes.get(pane_key)
            if entries:
                book.add_entries(owner, minute, entries.items())
            marks = deltas.marks.get(pane_key)
            if marks:
                book.add_marks(owner.key, marks)
            if applied is None:
                applied = part.applied[pane_key] = {}
            applied[source.partition] = source.last
            touched.add(pane_key)
        for owner, facts in deltas.feedback.items():
            for fid, fact in facts.items():
                book.set_feedback(owner, fid, fact)
                row_key = key(partition, b"f", owner.code, fid)
                held = book.feedback.get(owner, {}).get(fid)
                writes[row_key] = None if held is None else encode_fact(held)
        for owner, summaries in deltas.live.items():
            for cid, summary in summaries.items():
                book.set_live(owner, cid, summary)
                writes[key(partition, b"l", owner.code, cid)] = (
                    None if summary is None else encode_summary(summary))
        for agent, intervals in deltas.attention.items():
            for fid, interval in intervals.items():
                busy = book.set_attention(agent, fid, interval)
                self._route(part, partition, hop, agent, busy, first)
                if history is not None:
                    history.segments(agent, busy)
                writes[key(partition, b"a", agent, fid)] = (
                    None if interval is None else dumps(list(interval)))
        for agent, records in deltas.presence.items():
            timeline = book.timeline(agent)
            for record in records:
                horizon, mark = timeline.horizon, timeline.carried
                presence = book.add_presence(agent, record)
                if presence is None:
                    continue
                self._route(part, partition, hop, agent, presence, first)
                if history is not None:
                    history.segments(agent, presence)
                    if record.team is not None:
                        history.mark(agent, record.at, record.team)
                if (timeline.horizon, timeline.carried) != (horizon, mark):
                    carried.add(agent)
                elif horizon is None or record.at >= horizon:
                    writes[key(partition, b"r", agent, f"{record.fingerprint:016x}")] = dumps(
                        tuple(record))
        for (owner, agent), segments in deltas.resync.items():
            current = book.segments.get(owner, {}).get(agent, {})
            for start in list(current):
                writes[key(partition, b"g", owner.code, agent, start)] = None
            book.apply_segments(owner, agent, SegmentChange(tuple(current.values()), segments))
            for segment in segments:
                writes[key(partition, b"g", owner.code, agent, segment.start)] = \
                    encode_segment(segment)
        for owner, sighting in deltas.names.items():
            if book.names.learn(owner, sighting):
                writes[key(partition, b"n", owner.code)] = dumps(list(sighting))
        for (owner, agent), change in deltas.segments.items():
            book.apply_segments(owner, agent, change)
            for segment in change.removed:
                writes[key(partition, b"g", owner.code, agent, segment.start)] = None
            for segment in change.added:
                writes[key(partition, b"g", owner.code, agent, segment.start)] = \
                    encode_segment(segment)

    @staticmethod
    def _carried_row(partition: int, agent: str, timeline: AgentTimeline | None,
                     writes: Writes) -> None:
        """An agent's horizon and carried team. Written before the rows an expiry deletes, and
        the watermark (which says the expiry ran) after them: a worker that dies in between
        loads the events after the horizon only, so its segments are the ones it sent."""
        mark = None if timeline is None else timeline.carried
        writes[key(partition, b"c", agent)] = dumps(
            [None if mark is None else mark[0], None if mark is None else mark[1],
             None if timeline is None else timeline.horizon])

    @staticmethod
    def _route(part: _Partition, partition: int, hop: DeltaBuilder, agent: str,
               change: SegmentChange, first: Writes) -> None:
        """Send the segment changes of an agent's timeline to the owners that count them; a
        team the agent never sent to before is noted first (:attr:`_Partition.holders`)."""
        if not (change.removed or change.added):
            return
        for owner, routed in segment_routes(change).items():
            hop.segments(owner, agent, routed)
            if owner.level == "team":
                teams = part.holders.setdefault(agent, set())
                if owner.key not in teams:
                    teams.add(owner.key)
                    first[key(partition, b"h", agent)] = dumps(sorted(teams))

    def _expire(self, partition: int, part: _Partition, carried: set[str], writes: Writes,
                hop: DeltaBuilder, first: Writes) -> None:
        """Retire what lies beyond the retention, rows included."""
        book = part.book
        cutoff = book.cutoff_ms
        records = {agent: list(t.presence) for agent, t in book.timelines.items()}
        attention = {agent: dict(t.attention) for agent, t in book.timelines.items()}
        horizons = {agent: (t.horizon, t.carried) for agent, t in book.timelines.items()}
        feedback = {owner: dict(held) for owner, held in book.feedback.items()}
        segments = {(owner, agent): dict(held) for owner, by_agent in book.segments.items()
                    for agent, held in by_agent.items()}
        for level, name, minute in book.aggregates.expire(cutoff):
            owner = owner_for(level, name)
            writes[key(partition, b"p", owner.code, minute)] = None
            part.applied.pop((owner, minute), None)
        for agent, change in book.expire(cutoff, forward=False).items():
            self._route(part, partition, hop, agent, change, first)
        for agent in records:
            timeline: AgentTimeline | None = book.timelines.get(agent)
            if timeline is None or (timeline.horizon, timeline.carried) != horizons[agent]:
                self._carried_row(partition, agent, timeline, writes)
        for agent, before in records.items():
            timeline = book.timelines.get(agent)
            kept = set() if timeline is None else {r.fingerprint for r in timeline.presence}
            for record in before:
                if record.fingerprint not in kept:
                    writes[key(partition, b"r", agent, f"{record.fingerprint:016x}")] = None
            held = {} if timeline is None else timeline.attention
            for fid in attention[agent]:
                if fid not in held:
                    writes[key(partition, b"a", agent, fid)] = None
        for owner, facts in feedback.items():
            held_facts = book.feedback.get(owner, {})
            for fid in facts:
                if fid not in held_facts:
                    writes[key(partition, b"f", owner.code, fid)] = None
        for (owner, agent), held_segments in segments.items():
            now = book.segments.get(owner, {}).get(agent, {})
            for start in held_segments:
                if start not in now:
                    writes[key(partition, b"g", owner.code, agent, start)] = None
        for pane_key in [k for k in part.applied if k[1] + MINUTE_MS <= cutoff]:
            del part.applied[pane_key]

    # -- reads ---------------------------------------------------------------------------------

    def owned(self) -> set[tuple[int, Owner]]:
        """(partition, owner) of every owner held, overall on its own partition."""
        found = {(p, o) for p, part in self.partitions.items() for o in part.book.owners()}
        home = self.partition_of(OVERALL)
        if home in self.partitions:
            found.add((home, OVERALL))
        return found

    def learned_names(self) -> LearnedNames:
        """The names the events gave the owners held here, all books together."""
        names = LearnedNames()
        for part in self.partitions.values():
            names.held.update(part.book.names.held)
        return names

    def book_of(self, owner: Owner) -> OwnerBook | None:
        """The book that holds ``owner``, if its partition is here."""
        part = self.partitions.get(self.partition_of(owner))
        return None if part is None else part.book


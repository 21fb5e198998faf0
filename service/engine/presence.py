"""Agent presence and occupancy (SPEC §3): logged-in and busy time, clipped to a window.

Logged in = available, busy or after_work. Busy = busy or after_work, or available while the
agent is the assignee of a conversation that awaits a human response (the conversation reports
those stretches as ``F_BUSY`` interval facts, the agent's *attention*). Each presence interval
counts for the ``team`` on the status event that began it, else the last team named on an
earlier presence event of the agent: an agent stays in its team until a presence event names
another (SPEC §3).

An :class:`AgentTimeline` keeps its logged-in time as *canonical segments*: the maximal
stretches of one (team, busy) state, so that any way of computing them gives the same list.
A change (a presence event, an attention interval set or dropped) recomputes only the segments
of the stretch it can change and says which segments went and came (:class:`SegmentChange`):
what an event costs follows what it changes, not the agent's history. :class:`PresenceSums`
keeps the time those segments cover so that a report reads any window's logged-in and busy time
in O(log n), for an agent as for a team or overall owner holding every agent's segments.
"""

from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from itertools import accumulate, islice
from typing import NamedTuple

from service.engine.records import Record

__all__ = ["LOGGED_IN", "NO_CHANGE", "AgentTimeline", "PresenceSums", "Segment",
           "SegmentChange", "clipped"]

LOGGED_IN = frozenset({"available", "busy", "after_work"})
_BUSY = frozenset({"busy", "after_work"})
_OPEN = 2**62


class Segment(NamedTuple):
    """A stretch of logged-in time, epoch ms."""

    start: int
    end: int | None
    """None while it runs."""
    team: str | None
    busy: bool


class SegmentChange(NamedTuple):
    """What one change of a timeline did to its segments: those that went, those that came."""

    removed: tuple[Segment, ...]
    added: tuple[Segment, ...]


NO_CHANGE = SegmentChange((), ())


def _end(at: int) -> int | None:
    return None if at >= _OPEN else at


def _segment_end(segment: Segment) -> int:
    return _OPEN if segment.end is None else segment.end


def _segment_start(segment: Segment) -> int:
    return segment.start


def _order(record: Record) -> tuple[int, int]:
    return record.at, record.seq


def _at(record: Record) -> int:
    return record.at


def clipped(segments: Iterable[Segment], start_ms: int, end_ms: int
            ) -> Iterator[tuple[Segment, int, int]]:
    """(segment, low, high): each segment's part inside [start_ms, end_ms), when not empty."""
    for segment in segments:
        begin, finish = segment.start, segment.end
        low = begin if begin > start_ms else start_ms
        high = end_ms if finish is None or finish > end_ms else finish
        if high > low:
            yield segment, low, high


class _Column:
    """Sorted integers (epoch ms) with lazily kept prefix sums, relative to ``_base`` (the
    first value when they were last computed in full) so that they stay far inside 64 bits.

    A change at position k invalidates the sums after it, and the next read extends them from
    there: changes are mostly near the end (recent times). :meth:`extend` (a bulk load) appends
    unsorted and sorts once, at the next use."""

    __slots__ = ("_base", "_sorted", "_sums", "_valid", "values")

    def __init__(self) -> None:
        self.values = array("q")
        self._sums = array("q", (0,))
        self._valid = 1
        """How many leading prefix sums are still right."""
        self._sorted = True
        self._base = 0

    def _settle(self) -> "array[int]":
        if not self._sorted:
            self.values = array("q", sorted(self.values))
            self._sorted = True
            self._valid = 1
        return self.values

    def add(self, value: int) -> None:
        values = self._settle()
        if not values or value >= values[-1]:
            values.append(value)
            return
        i = bisect_right(values, value)
        values.insert(i, value)
        self._valid = min(self._valid, i + 1)

    def extend(self, values: Iterable[int]) -> None:
        """Add many values at once (sorted at the next use)."""
        self.values.extend(values)
        self._sorted = False

    def remove(self, value: int) -> None:
        """Take out one occurrence of a value that was added."""
        values = self._settle()
        i = bisect_left(values, value)
        del values[i]
        self._valid = min(self._valid, i + 1)

    def before(self, t: int) -> int:
        """Σ (t − value) over the values before ``t``."""
        values = self._settle()
        sums, valid = self._sums, self._valid
        if valid <= len(values):
            if valid == 1 and values:
                self._base = values[0]
            base = self._base
            del sums[valid:]
            sums.extend(islice(accumulate((v - base for v in islice(values, valid - 1, None)),
                                          initial=sums[valid - 1]), 1, None))
            self._valid = len(values) + 1
        i = bisect_left(values, t)
        return i * (t - self._base) - sums[i]


class _Edges:
    """The starts and ends of a multiset of intervals: the time they cover before any instant
    in O(log n), as Σ over starts before t of (t − start) − Σ over ends before t of (t − end)
    (an interval without end covers every instant after its start)."""

    __slots__ = ("ends", "starts")

    def __init__(self) -> None:
        self.starts = _Column()
        self.ends = _Column()

    def add(self, start: int, end: int | None) -> None:
        self.starts.add(start)
        if end is not None:
            self.ends.add(end)

    def remove(self, start: int, end: int | None) -> None:
        self.starts.remove(start)
        if end is not None:
            self.ends.remove(end)

    def extend(self, intervals: Iterable[tuple[int, int | None]]) -> None:
        intervals = list(intervals)
        self.starts.extend(start for start, _ in intervals)
        self.ends.extend(end for _, end in intervals if end is not None)

    def covered(self, start_ms: int, end_ms: int) -> int:
        """The time (ms) the intervals cover inside [start_ms, end_ms), overlaps counted once
        per interval."""
        starts, ends = self.starts, self.ends
        return (starts.before(end_ms) - ends.before(end_ms)
                - starts.before(start_ms) + ends.before(start_ms))


class PresenceSums:
    """The logged-in and busy time of a changing set of segments inside any span, without a
    walk over them: what a report asks for every owner and window (the team and overall owners
    hold every agent's segments). :meth:`span` equals the sum of each held segment's part
    inside the span (what :func:`clipped` lists)."""

    __slots__ = ("_busy", "_logged")

    def __init__(self) -> None:
        self._logged = _Edges()
        self._busy = _Edges()

    def add(self, segment: Segment) -> None:
        self._logged.add(segment.start, segment.end)
        if segment.busy:
            self._busy.add(segment.start, segment.end)

    def extend(self, segments: Iterable[Segment]) -> None:
        """Add many segments at once (a bulk load: one sort instead of an insert each)."""
        segments = list(segments)
        self._logged.extend((s.start, s.end) for s in segments)
        self._busy.extend((s.start, s.end) for s in segments if s.busy)

    def remove(self, segment: Segment) -> None:
        """Take out a segment that was added (by value)."""
        self._logged.remove(segment.start, segment.end)
        if segment.busy:
            self._busy.remove(segment.start, segment.end)

    def span(self, start_ms: int, end_ms: int) -> tuple[int, int]:
        """(logged-in ms, busy ms) inside [start_ms, end_ms)."""
        if end_ms <= start_ms:
            return 0, 0
        return self._logged.covered(start_ms, end_ms), self._busy.covered(start_ms, end_ms)


class AgentTimeline:
    """One agent's presence events (in time order, with the team each one carries), attention
    intervals, and the canonical segments of its logged-in time."""

    __slots__ = ("_closed", "_max_len", "_open", "_segments", "attention", "carried",
                 "earliest_end", "horizon", "presence", "presence_ids", "sums", "teams")

    def __init__(self) -> None:
        self.presence: list[Record] = []
        """Presence events after the horizon, in (time, arrival) order."""
        self.teams: list[str | None] = []
        """The team each presence event carries: its own, else the last one named before."""
        self.presence_ids: set[int] = set()
        self.horizon: int | None = None
        """Presence events before this time were expired (the first kept one is in force at
        the last expiry's cutoff)."""
        self.carried: tuple[int, str] | None = None
        """(time, team) of the latest team named before the horizon."""
        self.attention: dict[str, tuple[int, int | None]] = {}
        self._closed: list[tuple[int, int, str]] = []
        """Finished attention intervals (start, end, fact id), sorted."""
        self._open: dict[str, int] = {}
        """Attention intervals still running: fact id → start."""
        self._max_len = 0
        """The longest finished attention interval (ms): bounds the search for overlaps."""
        self.earliest_end: int | None = None
        """A lower bound of the ends of finished attention intervals, so expiry can skip
        agents with nothing to drop."""
        self._segments: list[Segment] = []
        self.sums = PresenceSums()
        """The segments' logged-in and busy time in any span."""

    def segments(self) -> list[Segment]:
        """The logged-in time as canonical segments, in time order; the last may still run
        (end ``None``). Do not modify the list."""
        return self._segments

    # -- changes ---------------------------------------------------------------------------

    def add_presence(self, record: Record) -> SegmentChange | None:
        """Put a presence event in its place; None for a repeated id. One dated before the
        horizon only carries its team, if it names the latest one."""
        fp = record.fingerprint
        if fp in self.presence_ids:
            return None
        presence, teams = self.presence, self.teams
        if self.horizon is not None and record.at < self.horizon:
            if record.team is None or (self.carried is not None
                                       and (record.at, record.team) <= self.carried):
                return NO_CHANGE
            self.carried = (record.at, record.team)
            return self._retag(0, record.team)
        self.presence_ids.add(fp)
        if not presence or _order(record) > _order(presence[-1]):
            i = len(presence)
        else:
            i = bisect_right(presence, _order(record), key=_order)
        presence.insert(i, record)
        before = teams[i - 1] if i else self._carried_team()
        teams.insert(i, before)
        if record.team is None:
            return self._refresh(record.at, presence[i + 1].at if i + 1 < len(presence)
                                 else _OPEN)
        return self._retag(i, record.team)

    def load(self, records: Iterable[Record],
             attention: Iterable[tuple[str, tuple[int, int | None]]]) -> None:
        """Presence events and attention intervals (fact id, (start, end)) read back from a
        store, into a timeline that holds none yet (its horizon and carried team may be set):
        the same state as :meth:`add_presence` and :meth:`set_attention` one by one give, with
        the segments built once instead of once per item."""
        presence, teams = self.presence, self.teams
        for record in sorted(records, key=_order):
            fp = record.fingerprint
            if fp in self.presence_ids:
                continue
            if self.horizon is not None and record.at < self.horizon:
                if record.team is not None and (self.carried is None
                                                or (record.at, record.team) > self.carried):
                    self.carried = (record.at, record.team)
                continue
            self.presence_ids.add(fp)
            presence.append(record)
            teams.append(record.team if record.team is not None
                         else teams[-1] if teams else self._carried_team())
        for fid, (start, end) in attention:
            self._put_attention(fid, start, end)
        if presence:
            self._refresh(presence[0].at, _OPEN)

    def _carried_team(self) -> str | None:
        return None if self.carried is None else self.carried[1]

    def _retag(self, i: int, team: str | None) -> SegmentChange:
        """Presence event ``i`` carries ``team``, and so do the ones after it up to the next
        that names a team; their stretch is recomputed."""
        presence, teams = self.presence, self.teams
        if i >= len(presence) or (i == 0 and presence[0].team is not None
                                  and teams[0] == presence[0].team):
            return NO_CHANGE
        teams[i] = presence[i].team if presence[i].team is not None else team
        j = i + 1
        while j < len(presence) and presence[j].team is None:
            teams[j] = teams[i]
            j += 1
        return self._refresh(presence[i].at, presence[j].at if j < len(presence) else _OPEN)

    def set_attention(self, fid: str, start: int, end: int | None) -> SegmentChange:
        """The agent is assignee of a conversation awaiting a response over [start, end)."""
        old = self.attention.get(fid)
        if old == (start, end):
            return NO_CHANGE
        self._put_attention(fid, start, end)
        low = start if old is None else min(start, old[0])
        if self._held_busy(low, fid):
            return NO_CHANGE
        high = _OPEN if end is None else end
        if old is not None:
            high = max(high, _OPEN if old[1] is None else old[1])
        return self._refresh(low, high)

    def _put_attention(self, fid: str, start: int, end: int | None) -> None:
        """Hold ``fid``'s interval (replacing the one held) without touching the segments."""
        old = self.attention.get(fid)
        if old is not None:
            self._unindex(fid, old)
        self.attention[fid] = (start, end)
        self._index(fid, start, end)
        if end is not None and (self.earliest_end is None or end < self.earliest_end):
            self.earliest_end = end

    def drop_attention(self, fid: str) -> SegmentChange:
        old = self.attention.pop(fid, None)
        if old is None:
            return NO_CHANGE
        self._unindex(fid, old)
        if self._held_busy(old[0], fid):
            return NO_CHANGE
        return self._refresh(old[0], _OPEN if old[1] is None else old[1])

    def _held_busy(self, low: int, fid: str) -> bool:
        """Another conversation awaits the agent without end since ``low`` or earlier: the
        agent counts as busy from ``low`` on whatever ``fid``'s interval is, so no segment can
        change (most attention changes of a busy agent)."""
        return any(start <= low for other, start in self._open.items() if other != fid)

    def _index(self, fid: str, start: int, end: int | None) -> None:
        if end is None:
            self._open[fid] = start
        else:
            insort(self._closed, (start, end, fid))
            self._max_len = max(self._max_len, end - start)

    def _unindex(self, fid: str, interval: tuple[int, int | None]) -> None:
        start, end = interval
        if end is None:
            self._open.pop(fid, None)
            return
        closed = self._closed
        i = bisect_left(closed, (start, end, fid))
        if i < len(closed) and closed[i] == (start, end, fid):
            del closed[i]

    def _covering(self, low: int, high: int) -> list[tuple[int, int]]:
        """The attention intervals that overlap [low, high), open ones ending at _OPEN."""
        closed = self._closed
        first = bisect_left(closed, (low - self._max_len,))
        last = bisect_left(closed, (high,))
        found = [(s, e) for s, e, _ in closed[first:last] if e > low]
        found += [(s, _OPEN) for s in self._open.values() if s < high]
        return found

    # -- the segments ------------------------------------------------------------------------

    def _refresh(self, low: int, high: int) -> SegmentChange:
        """Recompute the segments of [low, high) and splice them in: the segments that overlap
        or touch the span are cut at its ends, the span's own put between, and neighbours of
        one state merged, so that the list stays canonical. The work follows the events and
        attention intervals inside the span, never the length of the segments around it (an
        agent available all day with a status event every second)."""
        if low >= high:
            return NO_CHANGE
        segments = self._segments
        first = bisect_right(segments, low - 1, key=_segment_end)
        last = bisect_right(segments, high, key=_segment_start)
        old = segments[first:last]
        pieces: list[Segment] = []
        if old and old[0].start < low:
            head = old[0]
            pieces.append(Segment(head.start, min(_segment_end(head), low), head.team,
                                  head.busy))
        pieces += self._build(low, high)
        if old and _segment_end(old[-1]) > high:
            tail = old[-1]
            pieces.append(Segment(max(tail.start, high), tail.end, tail.team, tail.busy))
        new: list[Segment] = []
        for piece in pieces:
            if new and new[-1].end == piece.start and (new[-1].team, new[-1].busy) == (
                    piece.team, piece.busy):
                new[-1] = Segment(new[-1].start, piece.end, piece.team, piece.busy)
            else:
                new.append(piece)
        if old == new:
            return NO_CHANGE
        segments[first:last] = new
        kept = set(old) & set(new)
        change = SegmentChange(tuple(s for s in old if s not in kept),
                               tuple(s for s in new if s not in kept))
        sums = self.sums
        for segment in change.removed:
            sums.remove(segment)
        for segment in change.added:
            sums.add(segment)
        return change

    def _build(self, low: int, high: int) -> list[Segment]:
        """The canonical segments of [low, high): the state (status and team of the presence
        event in force, attention coverage) at every change inside it."""
        presence, teams = self.presence, self.teams
        k = bisect_right(presence, low, key=_at) - 1
        stop = bisect_left(presence, high, key=_at)
        intervals = self._covering(low, high)
        points = {low}
        points.update(r.at for r in presence[k + 1:stop])
        points.update(s for s, _ in intervals if low < s < high)
        points.update(e for _, e in intervals if low < e < high)
        starts = sorted(s for s, _ in intervals)
        ends = sorted(e for _, e in intervals)
        started = ended = 0
        out: list[Segment] = []
        run: tuple[int, str | None, bool] | None = None
        """(start, team, busy) of the logged-in run in progress."""
        for point in sorted(points):
            while k + 1 < len(presence) and presence[k + 1].at <= point:
                k += 1
            while started < len(starts) and starts[started] <= point:
                started += 1
            while ended < len(ends) and ends[ended] <= point:
                ended += 1
            status = presence[k].a if k >= 0 else "offline"
            state: tuple[str | None, bool] | None = None
            if status in LOGGED_IN:
                state = (teams[k], status in _BUSY or started > ended)
            if run is not None and (run[1], run[2]) == state:
                continue
            if run is not None:
                out.append(Segment(run[0], point, run[1], run[2]))
            run = None if state is None else (point, state[0], state[1])
        if run is not None:
            out.append(Segment(run[0], _end(high), run[1], run[2]))
        return out

    # -- reads and retention -------------------------------------------------------------------

    def team_mark(self) -> tuple[int, str] | None:
        """(time, team) of the latest presence event that names a team (the carried one when
        none of those kept does)."""
        for record in reversed(self.presence):
            if record.team is not None:
                return record.at, record.team
        return self.carried

    def status_at(self, at_ms: int) -> str:
        """The status of the latest presence event before ``at_ms`` (offline without one)."""
        i = bisect_left(self.presence, at_ms, key=_at)
        return self.presence[i - 1].a if i else "offline"

    def expire(self, cutoff_ms: int) -> SegmentChange:
        """Forget what ended before ``cutoff_ms``, keeping the presence event in force at the
        cutoff (and the team it carries) and the segments that end after it. The ids of
        dropped events dated at the horizon itself stay known: a redelivered one must not be
        taken for a new event that sorts after the one kept.

        A kept segment that began before the horizon is cut there, so that the segments stay
        those of the events kept (what a timeline loaded from them has); that cut is the
        change returned (the segments that merely ended before the cutoff are not in it:
        whoever holds them drops them at the same cutoff)."""
        presence = self.presence
        keep_from = max(bisect_left(presence, cutoff_ms, key=_at) - 1, 0)
        if keep_from:
            horizon = presence[keep_from].at
            for record in presence[:keep_from]:
                if record.at < horizon:
                    self.presence_ids.discard(record.fingerprint)
                if record.team is not None and (self.carried is None
                                                or (record.at, record.team) > self.carried):
                    self.carried = (record.at, record.team)
            del presence[:keep_from]
            del self.teams[:keep_from]
            self.horizon = presence[0].at
        segments = self._segments
        gone = bisect_right(segments, cutoff_ms - 1, key=_segment_end)
        if gone:
            for segment in segments[:gone]:
                self.sums.remove(segment)
            del segments[:gone]
        change = NO_CHANGE
        if self.horizon is not None and segments and segments[0].start < self.horizon:
            change = self._refresh(segments[0].start, self.horizon)
        if self.earliest_end is not None and self.earliest_end < cutoff_ms:
            for fid, (start, end) in list(self.attention.items()):
                if end is not None and end < cutoff_ms:
                    del self.attention[fid]
                    self._unindex(fid, (start, end))
            ends = [end for _, end in self.attention.values() if end is not None]
            self.earliest_end = min(ends) if ends else None
        return change

    @property
    def empty(self) -> bool:
        return not self.presence and not self.attention

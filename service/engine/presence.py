"""Agent presence and occupancy (SPEC §3): logged-in and busy time, clipped to a window.

Logged in = available, busy or after_work. Busy = busy or after_work, or available while the
agent is the assignee of a conversation that awaits a human response (the conversation reports
those stretches as ``F_BUSY`` interval facts). Each presence interval counts for the ``team`` on
the status event that began it, else the last team named on an earlier presence event of the
agent: an agent stays in its team until a presence event names another (SPEC §3).
"""

from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from service.engine.records import Record

__all__ = ["LOGGED_IN", "AgentTimeline", "Segment", "clip_segments", "clipped"]

LOGGED_IN = frozenset({"available", "busy", "after_work"})
_BUSY = frozenset({"busy", "after_work"})

class Segment(NamedTuple):
    """A stretch of logged-in time, epoch ms."""

    start: int
    end: int | None
    """None while it runs."""
    team: str | None
    busy: bool
_OPEN = 2**62


def _end(at: int) -> int | None:
    return None if at >= _OPEN else at


def clipped(segments: Iterable[Segment], start_ms: int, end_ms: int
            ) -> Iterator[tuple[Segment, int, int]]:
    """(segment, low, high): each segment's part inside [start_ms, end_ms), when not empty."""
    for segment in segments:
        begin, finish = segment.start, segment.end
        low = begin if begin > start_ms else start_ms
        high = end_ms if finish is None or finish > end_ms else finish
        if high > low:
            yield segment, low, high


def clip_segments(segments: Iterable[Segment], start_ms: int, end_ms: int
                  ) -> Iterator[tuple[str | None, int, int]]:
    """(team, logged-in ms, busy ms) of each segment inside [start_ms, end_ms)."""
    for segment, low, high in clipped(segments, start_ms, end_ms):
        yield segment.team, high - low, (high - low) if segment.busy else 0


class AgentTimeline:
    """One agent's presence events (sorted by time) and attention intervals."""

    __slots__ = ("_segments", "attention", "carried", "earliest_end", "horizon", "presence",
                 "presence_ids")

    def __init__(self) -> None:
        self._segments: list[Segment] | None = None
        self.presence: list[Record] = []
        self.presence_ids: set[int] = set()
        self.horizon: int | None = None
        """Presence events before this time were expired (the first kept one is in force at
        the last expiry's cutoff)."""
        self.carried: tuple[int, str] | None = None
        """(time, team) of the latest team named by an expired presence event: the team of
        the first kept event when it names none."""
        self.attention: dict[str, tuple[int, int | None]] = {}
        self.earliest_end: int | None = None
        """A lower bound of the ends of finished attention intervals, so expiry can skip
        agents with nothing to drop."""

    def set_attention(self, fid: str, start: int, end: int | None) -> None:
        self._segments = None
        self.attention[fid] = (start, end)
        if end is not None and (self.earliest_end is None or end < self.earliest_end):
            self.earliest_end = end

    def drop_attention(self, fid: str) -> None:
        if self.attention.pop(fid, None) is not None:
            self._segments = None

    def add_presence(self, record: Record) -> bool:
        """Insert a presence event in (time, arrival) order; False for a repeated id."""
        fp = record.fingerprint
        if fp in self.presence_ids:
            return False
        self._segments = None
        if self.horizon is not None and record.at < self.horizon:
            self._carry(record)
            return True
        self.presence_ids.add(fp)
        presence = self.presence
        if not presence or _order(record) > _order(presence[-1]):
            presence.append(record)
        else:
            insort(presence, record, key=_order)
        return True

    def status_at(self, at_ms: int) -> str:
        """The status of the latest presence event before ``at_ms`` (offline without one)."""
        i = bisect_left(self.presence, at_ms, key=_at)
        return self.presence[i - 1].a if i else "offline"

    def segments(self) -> list[Segment]:
        """The logged-in time as non-overlapping segments, each busy or not, with the team of
        the status event that began it; the last may still run (end ``None``). Kept until the
        timeline changes: do not modify the list."""
        if self._segments is None:
            self._segments = self._build_segments()
        return self._segments

    def _build_segments(self) -> list[Segment]:
        attention = _merged((start, _OPEN if end is None else end)
                            for start, end in self.attention.values())
        out: list[Segment] = []
        presence = self.presence
        cursor = 0
        team = None if self.carried is None else self.carried[1]
        for i, record in enumerate(presence):
            if record.team is not None:
                team = record.team
            status = record.a
            if status not in LOGGED_IN:
                continue
            begin = record.at
            finish = presence[i + 1].at if i + 1 < len(presence) else _OPEN
            if finish <= begin:
                continue
            if status in _BUSY:
                out.append(Segment(begin, _end(finish), team, True))
                continue
            while cursor < len(attention) and attention[cursor][1] <= begin:
                cursor += 1
            position, j = begin, cursor
            while j < len(attention) and attention[j][0] < finish:
                low, high = max(begin, attention[j][0]), min(finish, attention[j][1])
                if low > position:
                    out.append(Segment(position, low, team, False))
                out.append(Segment(low, _end(high), team, True))
                position = high
                j += 1
            if position < finish:
                out.append(Segment(position, _end(finish), team, False))
        return out

    def expire(self, cutoff_ms: int) -> None:
        """Forget what ended before ``cutoff_ms``, keeping the presence in force at the cutoff
        (with the team it carries, should it name none)."""
        presence = self.presence
        keep_from = max(bisect_left(presence, cutoff_ms, key=_at) - 1, 0)
        if keep_from:
            self._segments = None
            for record in presence[:keep_from]:
                self.presence_ids.discard(record.fingerprint)
                self._carry(record)
            del presence[:keep_from]
            self.horizon = presence[0].at
        if self.earliest_end is not None and self.earliest_end < cutoff_ms:
            self._segments = None
            self.attention = {
                fid: (start, end)
                for fid, (start, end) in self.attention.items()
                if end is None or end >= cutoff_ms
            }
            ends = [end for _, end in self.attention.values() if end is not None]
            self.earliest_end = min(ends) if ends else None

    def _carry(self, record: Record) -> None:
        """Take in the team of a presence event before the horizon (expired, or arriving after
        its time was expired): the latest named one is carried."""
        if record.team is not None and (self.carried is None
                                        or (record.at, record.team) > self.carried):
            self.carried = (record.at, record.team)

    @property
    def empty(self) -> bool:
        return not self.presence and not self.attention


def _order(record: Record) -> tuple[int, int]:
    return record.at, record.seq


def _at(record: Record) -> int:
    return record.at


def _merged(intervals: Any) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged

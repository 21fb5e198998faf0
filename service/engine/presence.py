"""Agent presence and occupancy (SPEC §3): logged-in and busy time, clipped to a window.

Logged in = available, busy or after_work. Busy = busy or after_work, or available while the
agent is the assignee of a conversation that awaits a human response (the conversation reports
those stretches as ``F_BUSY`` interval facts). Each presence interval counts for the ``team`` on
the status event that began it.
"""

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

    __slots__ = ("_segments", "attention", "earliest_end", "presence", "presence_ids")

    def __init__(self) -> None:
        self._segments: list[Segment] | None = None
        self.presence: list[Record] = []
        self.presence_ids: set[int] = set()
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
        """Insert a presence event in time order; False for a repeated id."""
        fp = record.fingerprint
        if fp in self.presence_ids:
            return False
        self.presence_ids.add(fp)
        self._segments = None
        presence = self.presence
        presence.append(record)
        if len(presence) > 1 and (record.at, record.seq) < (presence[-2].at, presence[-2].seq):
            presence.sort(key=lambda r: (r.at, r.seq))
        return True

    def status_at(self, at_ms: int) -> str:
        status = "offline"
        for record in self.presence:
            if record.at >= at_ms:
                break
            status = record.a
        return status

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
        for i, record in enumerate(presence):
            status = record.a
            if status not in LOGGED_IN:
                continue
            begin, team = record.at, record.team
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
        """Forget what ended before ``cutoff_ms``, keeping the presence in force at the cutoff."""
        presence = self.presence
        keep_from = 0
        for i, record in enumerate(presence):
            if record.at < cutoff_ms:
                keep_from = i
            else:
                break
        if keep_from:
            self._segments = None
            for record in presence[:keep_from]:
                self.presence_ids.discard(record.fingerprint)
            del presence[:keep_from]
        if self.earliest_end is not None and self.earliest_end < cutoff_ms:
            self._segments = None
            self.attention = {
                fid: (start, end)
                for fid, (start, end) in self.attention.items()
                if end is None or end >= cutoff_ms
            }
            ends = [end for _, end in self.attention.values() if end is not None]
            self.earliest_end = min(ends) if ends else None

    @property
    def empty(self) -> bool:
        return not self.presence and not self.attention


def _merged(intervals: Any) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged

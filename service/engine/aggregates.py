"""Pane aggregates per level key: exact counters and sums, and quantile sketches.

Every fact adds to (or, retracted, subtracts from) one 1-minute pane and one 15-minute pane of
each level it belongs to: its agent, its team, and overall. Counts and sums are integers (times
in ms, QA scores in thousandths), so a retraction restores the previous totals exactly.
"""

import heapq
import itertools
from collections.abc import Container, Iterable

from service.engine.facts import Fact
from service.engine.feeds import SKETCH_BASE, Entries, Pane, split_sketch_key
from service.engine.kpis import PANES
from service.engine.panes import MINUTE_MS, WindowSpec, panes_summed
from service.engine.sketch import QuantileSketch

__all__ = ["Aggregates", "LevelPanes", "RunningSum", "Totals", "contributions"]


def contributions(fact: Fact) -> Entries:
    """What one fact adds to a pane (the registry's :data:`~service.engine.kpis.PANES`): as
    few entries as the KPIs need, since every entry is written at three levels. Raises
    ValueError for a fact that feeds no pane (busy time)."""
    return PANES.entries(fact)


class Totals:
    """Panes merged over a window: what a KPI's value is computed from."""

    __slots__ = ("busy_ms", "counters", "logged_in_ms", "sketches")

    def __init__(self, pane: Pane | None = None, counters: list[int] | None = None,
                 distributions: Container[int] | None = None) -> None:
        """The totals of ``pane``; with ``counters``, those instead of the pane's (kept up to
        date by the caller); with ``distributions`` (indexes), only those sketches (the others
        stay empty)."""
        self.counters = [0] * len(PANES.counters) if counters is None else counters
        self.sketches: list[QuantileSketch] = [QuantileSketch() for _ in PANES.distributions]
        self.logged_in_ms: int = 0
        self.busy_ms: int = 0
        if pane and (counters is None or distributions is None or distributions):
            self._merge(pane, counters is None, distributions)

    def _merge(self, pane: Pane, with_counters: bool,
               distributions: Container[int] | None) -> None:
        counters, sketches = self.counters, self.sketches
        for key, value in pane.items():
            if key < SKETCH_BASE:
                if with_counters:
                    counters[key] += value
            else:
                index, bucket = split_sketch_key(key)
                if distributions is None or index in distributions:
                    sketches[index].add_packed(bucket, value)

    def __getitem__(self, slot: int) -> int:
        return self.counters[slot]


_VERSIONS = itertools.count()
_PLACES = len(PANES.counters) + len(PANES.distributions)


class RunningSum:
    """The panes of one window span, summed into one sparse pane: ``[start, end)`` in epoch
    ms, both on whole minutes. It follows its panes (a fact applied to a pane inside the span
    is applied here too, an expired pane is taken out) and slides to a later span by adding
    the panes that enter and subtracting those that leave, so a report reads one pane per
    owner and window instead of up to 1,440.

    Once a report has asked for its :meth:`counters`, they are kept with the version each feed
    last changed at: the changes since are logged (up to an eighth of the pane's entries, else
    the counters are summed again), so that a report reads the counters and learns which
    values to compute again at a cost that follows what changed."""

    __slots__ = ("_changed_at", "_counters", "_log", "_logged", "end", "pane", "start",
                 "version")

    def __init__(self, start: int, end: int) -> None:
        self.start = start
        self.end = end
        self.pane: Pane = {}
        self.version = next(_VERSIONS)
        """Drawn anew from one process-wide counter on every change: no two contents of any
        running sums share a version."""
        self._counters: list[int] | None = None
        self._changed_at: list[int] = []
        self._log: list[tuple[Entries, int]] | None = None
        """The changes (entries, sign) since the counters were last brought up to date."""
        self._logged = 0

    def add(self, entries: Iterable[tuple[int, int]], sign: int) -> None:
        self.version = next(_VERSIONS)
        log = self._log
        if log is not None:
            entries = tuple(entries)
            self._logged += len(entries)
            if self._logged > len(self.pane) // 8 + 16:
                self._log = None
            else:
                log.append((entries, sign))
        total = self.pane
        for key, amount in entries:
            value = total.get(key, 0) + sign * amount
            if value:
                total[key] = value
            else:
                del total[key]

    def counters(self) -> tuple[list[int], list[int]]:
        """The pane's counters (kept: read them before the next change) and, by feed place
        (:meth:`~service.engine.feeds.PaneLayout.place`), the version each feed last changed
        at (at most the current one)."""
        version, kept, log = self.version, self._counters, self._log
        if kept is not None and log is not None:
            changed_at = self._changed_at
            first_sketch = len(kept)
            for entries, sign in log:
                for key, amount in entries:
                    if key < SKETCH_BASE:
                        kept[key] += sign * amount
                        changed_at[key] = version
                    else:
                        changed_at[first_sketch + split_sketch_key(key)[0]] = version
        else:
            counters = [0] * len(PANES.counters)
            for key, value in self.pane.items():
                if key < SKETCH_BASE:
                    counters[key] += value
            changed_at = [version] * _PLACES
            if kept is not None:
                for slot, (now, before) in enumerate(zip(counters, kept, strict=True)):
                    if now == before:
                        changed_at[slot] = self._changed_at[slot]
            self._counters, self._changed_at = counters, changed_at
        self._log, self._logged = [], 0
        assert self._counters is not None
        return self._counters, self._changed_at


class LevelPanes:
    """The 1-minute panes of one level key (an agent, a team, or overall), and their running
    sums per window (made by the first report).

    Both windows read these: the 24h window's 15-minute panes are runs of 15 whole minutes, so
    keeping one pane size halves the writes per fact and reads any as-of on a whole minute
    exactly (the pane holding it contributes only the minutes before it)."""

    __slots__ = ("minutes", "running")

    def __init__(self) -> None:
        self.minutes: dict[int, Pane] = {}
        self.running: dict[str, RunningSum] | None = None

    def follow(self, minute: int, entries: Iterable[tuple[int, int]], sign: int) -> None:
        """Apply a change of the pane at ``minute`` to the running sums whose span holds it."""
        for running in (self.running or {}).values():
            if running.start <= minute < running.end:
                running.add(entries, sign)

    def pop(self, minute: int) -> None:
        """Drop the pane at ``minute`` (expired), out of the running sums too."""
        pane = self.minutes.pop(minute, None)
        if pane and self.running:
            self.follow(minute, pane.items(), -1)

    def clear(self) -> None:
        self.minutes.clear()
        self.running = None

    def window_sum(self, window: WindowSpec, as_of_ms: int) -> RunningSum:
        """The window's running sum, slid to ``as_of_ms``: the panes that start in
        ``[start, as_of)``."""
        start, end = panes_summed(window, as_of_ms)
        if self.running is None:
            self.running = {}
        running = self.running.get(window.name)
        if running is None:
            running = self.running[window.name] = RunningSum(start, start)
        self._slide(running, start, end)
        return running

    def _slide(self, running: RunningSum, start: int, end: int) -> None:
        """Move ``running`` to ``[start, end)``: the panes in only one of the two spans are
        added or subtracted, found by stepping through the minutes between the spans' edges or
        by scanning the panes, whichever is fewer."""
        old_start, old_end = running.start, running.end
        if (old_start, old_end) == (start, end):
            return
        minutes = self.minutes
        steps = (abs(start - old_start) + abs(end - old_end)) // MINUTE_MS
        if steps < len(minutes):
            candidates: Iterable[int] = (
                *range(min(start, old_start), max(start, old_start), MINUTE_MS),
                *range(min(end, old_end), max(end, old_end), MINUTE_MS))
        else:
            candidates = list(minutes)
        for minute in candidates:
            pane = minutes.get(minute)
            if not pane:
                continue
            was = old_start <= minute < old_end
            now = start <= minute < end
            if was != now:
                running.add(pane.items(), 1 if now else -1)
        running.start, running.end = start, end


LevelKey = tuple[str, str]


LEVELS = ("overall", "team", "agent")


class Aggregates:
    """All pane aggregates, with retention driven by event time."""

    def __init__(self, retention_ms: int) -> None:
        self.retention_ms = retention_ms
        self.agents: dict[str, LevelPanes] = {}
        self.teams: dict[str, LevelPanes] = {}
        self.overall = LevelPanes()
        self._created: list[tuple[int, str, str]] = []
        """A heap of (minute, level, key) of the panes made, earliest first."""

    def level_panes(self, level: str, key: str, create: bool = True) -> LevelPanes | None:
        if level == "overall":
            return self.overall
        table = self.agents if level == "agent" else self.teams
        panes = table.get(key)
        if panes is None and create:
            panes = table[key] = LevelPanes()
        return panes

    def apply(self, fact: Fact, sign: int, cutoff_ms: int,
              levels: tuple[str, ...] = LEVELS) -> bool:
        """Add (sign 1) or retract (sign -1) a fact at its ``levels`` (of overall, its team and
        its agent); False when it is out of retention."""
        at = fact.at
        if at < cutoff_ms:
            return False
        entries = contributions(fact)
        minute = at - at % MINUTE_MS
        for level in levels:
            if level == "overall":
                self.add("overall", "", minute, entries, sign)
            else:
                key = fact.team if level == "team" else fact.agent
                if key is not None:
                    self.add(level, key, minute, entries, sign)
        return True

    def load_pane(self, level: str, key: str, minute: int, pane: dict[int, int]) -> None:
        """A pane read back from a store (slot → amount, taken as it is), as :meth:`add` of its
        entries to a pane not held yet would make it."""
        level_panes = self.level_panes(level, key)
        assert level_panes is not None
        if minute in level_panes.minutes or level_panes.running:
            self.add(level, key, minute, pane.items())
            return
        level_panes.minutes[minute] = pane
        heapq.heappush(self._created, (minute, level, key))

    def add(self, level: str, key: str, minute: int, entries: Iterable[tuple[int, int]],
            sign: int = 1) -> None:
        """Add ``sign`` × each (slot, amount) of ``entries`` to the pane of ``level`` and
        ``key`` at ``minute`` (epoch ms on a whole minute)."""
        level_panes = self.level_panes(level, key)
        assert level_panes is not None
        panes = level_panes.minutes
        pane = panes.get(minute)
        if pane is None:
            pane = panes[minute] = {}
            heapq.heappush(self._created, (minute, level, key))
        if level_panes.running:
            level_panes.follow(minute, entries, sign)
        if sign > 0:
            for slot, amount in entries:
                value = pane.get(slot, 0) + amount
                if value:
                    pane[slot] = value
                else:
                    del pane[slot]
            return
        for slot, amount in entries:
            value = pane.get(slot, 0) - amount
            if value:
                pane[slot] = value
            else:
                del pane[slot]

    def expire(self, cutoff_ms: int) -> list[tuple[str, str, int]]:
        """Drop panes that end before ``cutoff_ms``; (level, key, minute) of each dropped."""
        created = self._created
        dropped: list[tuple[str, str, int]] = []
        while created and created[0][0] + MINUTE_MS <= cutoff_ms:
            start, level, key = heapq.heappop(created)
            level_panes = self.level_panes(level, key, create=False)
            if level_panes is not None and start in level_panes.minutes:
                level_panes.pop(start)
                dropped.append((level, key, start))
        for table in (self.agents, self.teams):
            for key in [k for k, v in table.items() if not v.minutes]:
                del table[key]
        return dropped

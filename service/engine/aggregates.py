"""Pane aggregates per level key: exact counters and sums, and quantile sketches.

Every fact adds to (or, retracted, subtracts from) one 1-minute pane and one 15-minute pane of
each level it belongs to: its agent, its team, and overall. Counts and sums are integers (times
in ms, QA scores in thousandths), so a retraction restores the previous totals exactly.
"""

import itertools
from collections import deque
from collections.abc import Iterable

from service.engine.facts import (
    F_ABANDONED,
    F_AFTER_HANDOFF,
    F_BOT_RESOLVED,
    F_CREATED,
    F_FIRST_RESPONSE,
    F_FULL_RESOLVED,
    F_HANDED_OFF,
    F_REOPENED,
    Assigned,
    Closed,
    Duration,
    Fact,
    Marker,
    Rating,
    Resolved,
    Response,
    Review,
)
from service.engine.panes import MINUTE_MS, WindowSpec
from service.engine.sketch import QuantileSketch, bucket_of, packed

__all__ = [
    "DISTRIBUTIONS", "DIST_INDEX", "SLOT", "Aggregates", "LevelPanes", "Pane", "RunningSum",
    "Totals",
    "contributions",
]

_COUNTERS = (
    "created", "resolved", "closed", "reopened", "abandoned", "assigned", "pulled",
    "fcr_one_touch", "fcr_more_touches", "handed_off", "bot_resolved",
    "sla_first_response_achieved", "sla_first_response_breached",
    "sla_next_response_achieved", "sla_next_response_breached",
    "sla_resolution_achieved", "sla_resolution_breached",
    "csat_responses", "csat_positive", "csat_sum",
    "csat_all_responses", "csat_all_positive", "csat_all_sum",
    "nps_responses", "nps_promoters", "nps_detractors",
    "ces_responses", "ces_sum", "qa_reviews", "qa_sum_milli",
)

DISTRIBUTIONS = (
    "first_response_seconds",
    "first_response_business_seconds",
    "next_response_seconds",
    "next_response_business_seconds",
    "resolution_seconds",
    "resolution_business_seconds",
    "time_to_close_seconds",
    "wait_seconds",
    "wait_business_seconds",
    "full_resolution_seconds",
    "full_resolution_business_seconds",
    "first_response_after_handoff_seconds",
    "first_response_after_handoff_business_seconds",
)

SLOT: dict[str, int] = {name: i for i, name in enumerate(_COUNTERS)}
"""Counter positions by name. A distribution has no counter: its count and exact sum are those
of its sketch's buckets."""
N_SLOTS = len(SLOT)
DIST_INDEX = {name: i for i, name in enumerate(DISTRIBUTIONS)}

Contribution = tuple[tuple[int, int], ...]
"""(pane key, amount) pairs: counter slots, and one packed bucket of a sketch (count 1 and the
value, :func:`~service.engine.sketch.packed`) per distribution value."""

def _pairs(*items: tuple[int, int | None]) -> tuple[tuple[int, int], ...]:
    return tuple(item for item in items if item[1])  # type: ignore[misc]


_D = DIST_INDEX
_FR = (_D["first_response_seconds"], _D["first_response_business_seconds"],
       SLOT["sla_first_response_breached"], SLOT["sla_first_response_achieved"])
_NR = (_D["next_response_seconds"], _D["next_response_business_seconds"],
       SLOT["sla_next_response_breached"], SLOT["sla_next_response_achieved"])
_CONSTANT: dict[int, Contribution] = {
    F_CREATED: ((SLOT["created"], 1),),
    F_REOPENED: ((SLOT["reopened"], 1),),
    F_ABANDONED: ((SLOT["abandoned"], 1),),
    F_HANDED_OFF: ((SLOT["handed_off"], 1),),
    F_BOT_RESOLVED: ((SLOT["bot_resolved"], 1),),
}
_DURATIONS: dict[int, tuple[int, int]] = {
    F_FULL_RESOLVED: (_D["full_resolution_seconds"], _D["full_resolution_business_seconds"]),
    F_AFTER_HANDOFF: (_D["first_response_after_handoff_seconds"],
                      _D["first_response_after_handoff_business_seconds"]),
}
_ASSIGNED: dict[int, Contribution] = {
    0: ((SLOT["assigned"], 1),),
    1: ((SLOT["assigned"], 1), (SLOT["pulled"], 1)),
}


def contributions(fact: Fact) -> Contribution:
    """What one fact adds to a pane: as few entries as the KPIs need, since every entry is
    written at three levels. A distribution value adds its count and value to one bucket of its
    sketch; an SLA result to achieved or breached; FCR to one or more touches.

    Raises ValueError for a fact that feeds no pane (busy time) or is not a typed fact."""
    constant = _CONSTANT.get(fact.kind)
    if constant is not None and isinstance(fact, Marker):
        return constant
    counters: tuple[tuple[int, int], ...] = ()
    dists: tuple[tuple[int, int], ...] = ()
    if isinstance(fact, Assigned):
        return _ASSIGNED[fact.pulled]
    if isinstance(fact, Response):
        plain, business, breached, achieved = _FR if fact.kind == F_FIRST_RESPONSE else _NR
        dists = ((plain, fact.ms), (business, fact.business_ms))
        counters = ((achieved if fact.sla_achieved else breached, 1),)
    elif isinstance(fact, Resolved):
        dists = ((_D["resolution_seconds"], fact.ms),
                 (_D["resolution_business_seconds"], fact.business_ms),
                 (_D["wait_seconds"], fact.wait_ms),
                 (_D["wait_business_seconds"], fact.wait_business_ms))
        pairs = [(SLOT["resolved"], 1), (SLOT["sla_resolution_achieved" if fact.sla_achieved
                                              else "sla_resolution_breached"], 1)]
        if fact.fcr is not None:
            pairs.append((SLOT["fcr_one_touch" if fact.fcr else "fcr_more_touches"], 1))
        counters = tuple(pairs)
    elif isinstance(fact, Closed):
        counters = ((SLOT["closed"], 1),)
        if fact.ms is not None:
            dists = ((_D["time_to_close_seconds"], fact.ms),)
    elif isinstance(fact, Duration):
        plain, business = _DURATIONS[fact.kind]
        dists = ((plain, fact.ms), (business, fact.business_ms))
    elif isinstance(fact, Rating):
        counters = _rating(fact.survey, fact.score, fact.about)
    elif isinstance(fact, Review):
        counters = _pairs((SLOT["qa_reviews"], 1), (SLOT["qa_sum_milli"], fact.score_milli))
    else:
        raise ValueError(f"not a pane fact: {fact!r}")
    if dists:
        counters = counters + tuple((sketch_key(index, ms), packed(ms)) for index, ms in dists)
    return counters


def _rating(survey: str, score: int, about: str) -> tuple[tuple[int, int], ...]:
    if survey == "csat":
        positive = int(score >= 4)
        pairs = [(SLOT["csat_all_responses"], 1), (SLOT["csat_all_positive"], positive),
                 (SLOT["csat_all_sum"], score)]
        if about in ("agent", "unspecified"):
            pairs += [(SLOT["csat_responses"], 1), (SLOT["csat_positive"], positive),
                      (SLOT["csat_sum"], score)]
        return _pairs(*pairs)
    if survey == "nps":
        return _pairs((SLOT["nps_responses"], 1), (SLOT["nps_promoters"], int(score >= 9)),
                      (SLOT["nps_detractors"], int(score <= 6)))
    return _pairs((SLOT["ces_responses"], 1), (SLOT["ces_sum"], score))


Pane = dict[int, int]
"""A pane is one sparse dict: counter slots (below ``SKETCH_BASE``) and, above it, the packed
buckets (count and sum) of each distribution's sketch. Most panes hold a handful of facts, so a
dict of the non-zero entries is several times smaller than dense arrays and sketch objects."""

SKETCH_BASE = 1 << 20
_BUCKETS_PER_DIST = 1 << 16


def sketch_key(index: int, value_ms: int) -> int:
    """The pane key of the bucket ``value_ms`` falls in, in distribution ``index``'s sketch."""
    return SKETCH_BASE + index * _BUCKETS_PER_DIST + bucket_of(value_ms)


class Totals:
    """Panes merged over a window: what a KPI's value is computed from."""

    __slots__ = ("busy_ms", "counters", "logged_in_ms", "sketches")

    def __init__(self, pane: Pane | None = None, sketches: bool = True) -> None:
        """The totals of ``pane``; with ``sketches`` False, its counters only (the sketches
        stay empty)."""
        self.counters = [0] * N_SLOTS
        self.sketches: list[QuantileSketch] = [QuantileSketch() for _ in DISTRIBUTIONS]
        self.logged_in_ms = 0
        self.busy_ms = 0
        if pane and sketches:
            self.merge(pane)
        elif pane:
            counters = self.counters
            for key, value in pane.items():
                if key < SKETCH_BASE:
                    counters[key] += value

    def merge(self, pane: Pane) -> None:
        counters = self.counters
        for key, value in pane.items():
            if key < SKETCH_BASE:
                counters[key] += value
            else:
                index, bucket = divmod(key - SKETCH_BASE, _BUCKETS_PER_DIST)
                self.sketches[index].add_packed(bucket, value)

    def __getitem__(self, slot: int) -> int:
        return self.counters[slot]


_VERSIONS = itertools.count()


class RunningSum:
    """The panes of one window span, summed into one sparse pane: ``[start, end)`` in epoch
    ms, both on whole minutes. It follows its panes (a fact applied to a pane inside the span
    is applied here too, an expired pane is taken out) and slides to a later span by adding
    the panes that enter and subtracting those that leave, so a report reads one pane per
    owner and window instead of up to 1,440."""

    __slots__ = ("end", "pane", "start", "version")

    def __init__(self, start: int, end: int) -> None:
        self.start = start
        self.end = end
        self.pane: Pane = {}
        self.version = next(_VERSIONS)
        """Drawn anew from one process-wide counter on every change: no two contents of any
        running sums share a version."""

    def add(self, entries: Iterable[tuple[int, int]], sign: int) -> None:
        self.version = next(_VERSIONS)
        total = self.pane
        for key, amount in entries:
            value = total.get(key, 0) + sign * amount
            if value:
                total[key] = value
            else:
                del total[key]


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
        start, _ = window.span(as_of_ms)
        end = -(-as_of_ms // MINUTE_MS) * MINUTE_MS
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
        self._created: deque[tuple[int, str, str]] = deque()

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
        created = self._created
        for level in levels:
            key: str | None
            if level == "overall":
                level_panes, key = self.overall, ""
            else:
                key = fact.team if level == "team" else fact.agent
                if key is None:
                    continue
                table = self.teams if level == "team" else self.agents
                level_panes = table.get(key)  # type: ignore[assignment]
                if level_panes is None:
                    level_panes = table[key] = LevelPanes()
            panes = level_panes.minutes
            pane = panes.get(minute)
            if pane is None:
                pane = panes[minute] = {}
                created.append((minute, level, key))
            if level_panes.running:
                level_panes.follow(minute, entries, sign)
            if sign > 0:
                for slot, amount in entries:
                    pane[slot] = pane.get(slot, 0) + amount
                continue
            for slot, amount in entries:
                value = pane.get(slot, 0) - amount
                if value:
                    pane[slot] = value
                else:
                    del pane[slot]
        return True

    def expire(self, cutoff_ms: int) -> None:
        """Drop panes that end before ``cutoff_ms``."""
        created = self._created
        while created and created[0][0] + MINUTE_MS <= cutoff_ms:
            start, level, key = created.popleft()
            level_panes = self.level_panes(level, key, create=False)
            if level_panes is not None:
                level_panes.pop(start)
        for table in (self.agents, self.teams):
            for key in [k for k, v in table.items() if not v.minutes]:
                del table[key]

"""What a fact adds to a pane: the counters and distributions the KPI specs declare.

A windowed KPI in :mod:`service.engine.kpis` names the feeds it reads (:class:`Count`,
:class:`Distribution`) next to the formula that reads them. :class:`PaneLayout` collects the
feeds of every spec, allocates their places in a pane and turns a fact into its pane entries.

A pane (:data:`Pane`) is one sparse dict of integers: a counter's slot (below
:data:`SKETCH_BASE`) → its total, and above it a distribution's sketch bucket → that bucket's
packed count and sum of ms (:func:`~service.engine.sketch.packed`). Everything is an integer,
so a retraction restores the previous totals exactly.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from service.engine.sketch import bucket_of, packed

__all__ = ["SKETCH_BASE", "Count", "Distribution", "Feed", "Pane", "PaneLayout", "sketch_key"]

Pane = dict[int, int]
"""Counter slots and sketch buckets with a non-zero total. Most panes hold a handful of facts,
so a dict of the non-zero entries is several times smaller than dense arrays and sketches."""

SKETCH_BASE = 1 << 20
_BUCKETS_PER_DIST = 1 << 16

Entries = tuple[tuple[int, int], ...]
"""(pane key, amount) pairs: what one fact adds to a pane."""


def sketch_key(index: int, value_ms: int) -> int:
    """The pane key of the bucket ``value_ms`` falls in, in distribution ``index``'s sketch."""
    return SKETCH_BASE + index * _BUCKETS_PER_DIST + bucket_of(value_ms)


def split_sketch_key(key: int) -> tuple[int, int]:
    """(distribution index, bucket) of a pane key at or above :data:`SKETCH_BASE`."""
    return divmod(key - SKETCH_BASE, _BUCKETS_PER_DIST)


def _one(fact: Any) -> int:
    return 1


@dataclass(eq=False)
class Count:
    """A pane counter: each fact of ``kinds`` (``service.engine.facts.F_*``) adds
    ``amount(fact)`` to it (0 adds nothing). ``slot`` is set by the layout."""

    name: str
    kinds: tuple[int, ...]
    amount: Callable[[Any], int] = _one
    slot: int = field(default=-1, init=False)


@dataclass(eq=False)
class Distribution:
    """A pane quantile sketch: each fact of ``kinds`` adds ``value(fact)`` (ms; None adds
    nothing) to one bucket. Its count and exact sum are those of the buckets. ``index`` is set
    by the layout."""

    name: str
    kinds: tuple[int, ...]
    value: Callable[[Any], int | None]
    index: int = field(default=-1, init=False)


Feed = Count | Distribution


class PaneLayout:
    """The places of the given feeds in a pane (counters in order of first appearance, then
    distributions), and what a fact adds to one.

    Raises ValueError when two different feeds share a name."""

    def __init__(self, feeds: Iterable[Feed]) -> None:
        self.counters: list[Count] = []
        self.distributions: list[Distribution] = []
        names: dict[str, Feed] = {}
        for feed in feeds:
            known = names.setdefault(feed.name, feed)
            if known is not feed:
                raise ValueError(f"two pane feeds are named {feed.name!r}")
            if feed in self.counters or feed in self.distributions:
                continue
            if isinstance(feed, Count):
                feed.slot = len(self.counters)
                self.counters.append(feed)
            else:
                feed.index = len(self.distributions)
                self.distributions.append(feed)
        by_kind: dict[int, list[Feed]] = {}
        every: list[Feed] = [*self.counters, *self.distributions]
        for feed in every:
            for kind in feed.kinds:
                by_kind.setdefault(kind, []).append(feed)
        self._by_kind = {kind: tuple(feeds) for kind, feeds in by_kind.items()}

    def place(self, feed: Feed) -> int:
        """The feed's place among all feeds: a counter's slot, or a distribution's index after
        the counters."""
        return feed.slot if isinstance(feed, Count) else len(self.counters) + feed.index

    def feeds(self, kind: int) -> tuple[Feed, ...]:
        """The feeds facts of ``kind`` add to (none for busy time)."""
        return self._by_kind.get(kind, ())

    def entries(self, fact: Any) -> Entries:
        """What ``fact`` adds to a pane: one entry per counter with a non-zero amount and per
        distribution value. Raises ValueError for a fact no feed takes (busy time, which feeds
        occupancy instead)."""
        feeds = self._by_kind.get(fact.kind)
        if feeds is None:
            raise ValueError(f"not a pane fact: {fact!r}")
        out: list[tuple[int, int]] = []
        for feed in feeds:
            if isinstance(feed, Count):
                amount = feed.amount(fact)
                if amount:
                    out.append((feed.slot, amount))
            else:
                value = feed.value(fact)
                if value is not None:
                    out.append((sketch_key(feed.index, value), packed(value)))
        return tuple(out)

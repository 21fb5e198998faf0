"""A mergeable quantile sketch with deletions, for durations in integer milliseconds.

Values fall into logarithmic buckets of ratio ``gamma = (1 + a) / (1 - a)`` (the DDSketch
construction): bucket ``i`` holds the values in ``(gamma^(i-1), gamma^i]``. Each bucket keeps
its count and the exact sum of its values, and a bucket's value is their mean. The mean lies
within the values of its bucket, so:

* every quantile lies within the observed values' range (SPEC §3), and equal values give that
  value exactly;
* the value at a rank and the mean of its bucket are in the same bucket, so they differ by at
  most a factor ``gamma``: a relative error below ``gamma - 1`` (0.81% for ``a = 0.004``), which
  the linear interpolation between two ranks keeps (SPEC §3 allows 1%).

Counts and sums are plain integers, so two sketches merge by adding them and a fact is
retracted by subtracting it: exactly what panes need when a late event changes a fact that was
already counted. A pane stores a bucket as one integer, ``count + (sum << PACK_SHIFT)``
(:func:`packed`), which adds and subtracts like the pair it stands for.
"""

import math
from collections.abc import Iterable

__all__ = ["PACK_SHIFT", "RELATIVE_ACCURACY", "QuantileSketch", "bucket_of", "packed", "unpack"]

RELATIVE_ACCURACY = 0.004
"""``a``: the bucket ratio is ``(1 + a) / (1 - a)``, a relative error below 0.81% (< 1%)."""

_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_INV_LOG_GAMMA = 1.0 / math.log(_GAMMA)

PACK_SHIFT = 32
"""A packed bucket holds its count in the low 32 bits and the sum of its values (ms) above."""
_COUNT_MASK = (1 << PACK_SHIFT) - 1


def bucket_of(value_ms: int) -> int:
    """The bucket a value falls in: 0 for zero (and negatives), else its log index + 1 (≥ 1
    for any value of at least 1 ms)."""
    if value_ms <= 0:
        return 0
    return math.ceil(math.log(value_ms) * _INV_LOG_GAMMA) + 1


def packed(value_ms: int) -> int:
    """One value as a pane entry: count 1 and sum ``value_ms`` (0 for a negative value, which
    counts in the zero bucket)."""
    return 1 + (max(value_ms, 0) << PACK_SHIFT)


def unpack(entry: int) -> tuple[int, int]:
    """(count, sum in ms) of a packed bucket whose count is below 2^32 and sum is ≥ 0."""
    return entry & _COUNT_MASK, entry >> PACK_SHIFT


class QuantileSketch:
    """Bucket counts and sums by bucket (from :func:`bucket_of`; 0 holds the zeros)."""

    __slots__ = ("counts", "sums")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.sums: dict[int, int] = {}

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    @property
    def sum_ms(self) -> int:
        """The exact sum of the values, in ms."""
        return sum(self.sums.values())

    def add(self, value_ms: int, weight: int = 1) -> None:
        """Add (weight 1) or retract (weight -1) one value."""
        self.add_bucket(bucket_of(value_ms), weight, weight * max(value_ms, 0))

    def add_bucket(self, bucket: int, count: int, sum_ms: int) -> None:
        """Add ``count`` values summing to ``sum_ms`` to a bucket (negative to retract)."""
        counts, sums = self.counts, self.sums
        total = counts.get(bucket, 0) + count
        if total:
            counts[bucket] = total
            sums[bucket] = sums.get(bucket, 0) + sum_ms
        else:
            counts.pop(bucket, None)
            sums.pop(bucket, None)

    def add_packed(self, bucket: int, entry: int) -> None:
        """Add a pane's packed bucket (see :func:`packed`)."""
        counts = self.counts
        total = counts.get(bucket, 0) + (entry & _COUNT_MASK)
        if total:
            counts[bucket] = total
            self.sums[bucket] = self.sums.get(bucket, 0) + (entry >> PACK_SHIFT)
        else:
            counts.pop(bucket, None)
            self.sums.pop(bucket, None)

    def merge(self, other: "QuantileSketch") -> None:
        for bucket, count in other.counts.items():
            self.add_bucket(bucket, count, other.sums.get(bucket, 0))

    def quantiles(self, qs: Iterable[float]) -> list[float | None]:
        """Linear interpolation between the closest ranks (numpy's default), in milliseconds,
        each rank valued at the mean of its bucket; always within [min, max] of the values."""
        n = self.count
        qs = list(qs)
        if n <= 0:
            return [None] * len(qs)
        wanted: set[int] = set()
        for q in qs:
            rank = q * (n - 1)
            wanted.update((math.floor(rank), math.ceil(rank)))
        values = self._values_at_ranks(sorted(wanted))
        out: list[float | None] = []
        for q in qs:
            rank = q * (n - 1)
            low, high = values[math.floor(rank)], values[math.ceil(rank)]
            estimate = low + (high - low) * (rank - math.floor(rank))
            out.append(min(max(estimate, low), high))
        return out

    def _values_at_ranks(self, ranks: list[int]) -> dict[int, float]:
        found: dict[int, float] = {}
        pending = iter(ranks)
        rank = next(pending, None)
        seen = 0
        counts, sums = self.counts, self.sums
        for bucket in sorted(counts):
            count = counts[bucket]
            seen += count
            mean = sums.get(bucket, 0) / count
            while rank is not None and rank < seen:
                found[rank] = mean
                rank = next(pending, None)
            if rank is None:
                break
        return found

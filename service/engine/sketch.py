"""A mergeable quantile sketch with deletions, for durations in integer milliseconds.

Values fall into logarithmic buckets of ratio ``gamma = (1 + a) / (1 - a)``; the estimate of a
bucket, ``2 gamma^i / (gamma + 1)``, is within relative error ``a`` of every value in it (the
DDSketch construction). Buckets are plain counts, so two sketches merge by adding counts and a
fact is retracted by subtracting one: exactly what panes need when a late event changes a fact
that was already counted.
"""

import math
from collections.abc import Iterable

__all__ = ["RELATIVE_ACCURACY", "QuantileSketch", "bucket_of"]

RELATIVE_ACCURACY = 0.005
"""Half of the 1% the SPEC allows, leaving room for the interpolation between two ranks."""

_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_INV_LOG_GAMMA = 1.0 / math.log(_GAMMA)
_BUCKET_VALUE_FACTOR = 2.0 / (_GAMMA + 1.0)


def bucket_of(value_ms: int) -> int:
    """The bucket a value falls in: 0 for zero (and negatives), else its log index + 1 (≥ 1
    for any value of at least 1 ms)."""
    if value_ms <= 0:
        return 0
    return math.ceil(math.log(value_ms) * _INV_LOG_GAMMA) + 1


class QuantileSketch:
    __slots__ = ("bins", "zeros")

    def __init__(self) -> None:
        self.bins: dict[int, int] = {}
        self.zeros = 0

    @property
    def count(self) -> int:
        return self.zeros + sum(self.bins.values())

    def add(self, value_ms: int, weight: int = 1) -> None:
        """Add (weight 1) or retract (weight -1) one value."""
        if value_ms <= 0:
            self.zeros += weight
            return
        index = math.ceil(math.log(value_ms) * _INV_LOG_GAMMA)
        bins = self.bins
        count = bins.get(index, 0) + weight
        if count:
            bins[index] = count
        else:
            del bins[index]

    def add_bucket(self, bucket: int, count: int) -> None:
        """Add ``count`` values of a bucket from :func:`bucket_of`."""
        if bucket == 0:
            self.zeros += count
            return
        index = bucket - 1
        total = self.bins.get(index, 0) + count
        if total:
            self.bins[index] = total
        else:
            del self.bins[index]

    def merge(self, other: "QuantileSketch") -> None:
        self.zeros += other.zeros
        bins = self.bins
        for index, count in other.bins.items():
            total = bins.get(index, 0) + count
            if total:
                bins[index] = total
            else:
                del bins[index]

    def quantiles(self, qs: Iterable[float]) -> list[float | None]:
        """Linear interpolation between the closest ranks (numpy's default), in milliseconds."""
        n = self.count
        qs = list(qs)
        if n <= 0:
            return [None] * len(qs)
        wanted: list[int] = []
        for q in qs:
            rank = q * (n - 1)
            wanted.extend((math.floor(rank), math.ceil(rank)))
        values = self._values_at_ranks(sorted(set(wanted)))
        out: list[float | None] = []
        for q in qs:
            rank = q * (n - 1)
            low, high = values[math.floor(rank)], values[math.ceil(rank)]
            out.append(low + (high - low) * (rank - math.floor(rank)))
        return out

    def _values_at_ranks(self, ranks: list[int]) -> dict[int, float]:
        found: dict[int, float] = {}
        pending = iter(ranks)
        rank = next(pending, None)
        seen = self.zeros
        while rank is not None and rank < seen:
            found[rank] = 0.0
            rank = next(pending, None)
        for index in sorted(self.bins):
            seen += self.bins[index]
            while rank is not None and rank < seen:
                found[rank] = _GAMMA**index * _BUCKET_VALUE_FACTOR
                rank = next(pending, None)
            if rank is None:
                break
        return found

    def to_state(self) -> list[int]:
        flat = [self.zeros]
        for index, count in self.bins.items():
            flat.extend((index, count))
        return flat

    @classmethod
    def from_state(cls, flat: list[int]) -> "QuantileSketch":
        sketch = cls()
        sketch.zeros = flat[0]
        sketch.bins = dict(zip(flat[1::2], flat[2::2], strict=True))
        return sketch

"""The quantile sketch: SPEC §3 (within 1%, always within the observed values' range, equal
values give that value), merges, and exact retraction. Expected values are numpy-style linear
interpolation between closest ranks, computed by hand from sorted values."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.engine.sketch import QuantileSketch, bucket_of, packed, unpack


def exact_quantile(values: list[int], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low, high = ordered[math.floor(rank)], ordered[math.ceil(rank)]
    return low + (high - low) * (rank - math.floor(rank))


def sketch_of(*values: int) -> QuantileSketch:
    sketch = QuantileSketch()
    for value in values:
        sketch.add(value)
    return sketch


def test_identical_values_give_that_value() -> None:
    sketch = sketch_of(*[7_200_000] * 10)
    assert sketch.quantiles([0.0, 0.5, 0.9, 1.0]) == [7_200_000] * 4
    assert (sketch.count, sketch.sum_ms) == (10, 72_000_000)


def test_one_value() -> None:
    assert sketch_of(1234).quantiles([0.5, 0.9]) == [1234, 1234]


def test_two_values_in_different_buckets() -> None:
    # sorted [1000, 3000]: p50 at rank 0.5 = 2000, p90 at rank 0.9 = 1000 + 0.9 * 2000 = 2800
    assert bucket_of(1000) != bucket_of(3000)
    p50, p90 = sketch_of(3000, 1000).quantiles([0.5, 0.9])
    assert p50 == 2000
    assert p90 == pytest.approx(2800, rel=1e-12)


def test_two_values_in_one_bucket_give_their_mean() -> None:
    # 1000 and 1001 share a bucket (ratio 1.001 < 1.008): every rank reads the mean, 1000.5,
    # the exact median; p90 (exact 1000.9) is 0.04% off and inside [1000, 1001].
    assert bucket_of(1000) == bucket_of(1001)
    assert sketch_of(1000, 1001).quantiles([0.5, 0.9]) == [1000.5, 1000.5]


def test_values_straddling_buckets() -> None:
    # sorted [100, 100, 100, 200]: p50 at rank 1.5 = 100; p90 at rank 2.7 = 100 + 0.7 * 100
    p50, p90 = sketch_of(100, 200, 100, 100).quantiles([0.5, 0.9])
    assert p50 == 100
    assert p90 == pytest.approx(170, rel=1e-12)


def test_zeros() -> None:
    # sorted [0, 0, 10]: p50 at rank 1 = 0; p90 at rank 1.8 = 0 + 0.8 * 10 = 8
    p50, p90 = sketch_of(0, 10, 0).quantiles([0.5, 0.9])
    assert p50 == 0
    assert p90 == pytest.approx(8, rel=1e-12)


def test_retraction() -> None:
    sketch = sketch_of(1000, 5000, 9000)
    sketch.add(9000, -1)
    # sorted [1000, 5000]: p50 = 3000
    assert sketch.quantiles([0.5]) == [3000]
    assert (sketch.count, sketch.sum_ms) == (2, 6000)
    sketch.add(1000, -1)
    sketch.add(5000, -1)
    assert sketch.counts == {} and sketch.sums == {}
    assert sketch.quantiles([0.5, 0.9]) == [None, None]


def test_merge() -> None:
    left = sketch_of(1000)
    left.merge(sketch_of(3000))
    assert left.quantiles([0.5]) == [2000]
    assert (left.count, left.sum_ms) == (2, 4000)


def test_packed_buckets_add_and_subtract_like_pairs() -> None:
    assert unpack(packed(5) + packed(7)) == (2, 12)
    assert unpack(packed(5) + packed(7) - packed(5)) == (1, 7)
    assert unpack(packed(0)) == (1, 0)
    assert unpack(packed(10**12) * 3) == (3, 3 * 10**12)


def test_packed_merge_equals_adding_values() -> None:
    from_pane = QuantileSketch()
    from_pane.add_packed(bucket_of(7_200_000), packed(7_200_000) * 10)
    assert from_pane.quantiles([0.5, 0.9]) == [7_200_000, 7_200_000]
    assert (from_pane.count, from_pane.sum_ms) == (10, 72_000_000)


def test_empty_sketch_has_no_quantiles() -> None:
    assert QuantileSketch().quantiles([0.5, 0.9]) == [None, None]


values_ms = st.lists(
    st.one_of(st.integers(0, 10), st.integers(1, 10**9), st.integers(1000, 5000),
              st.sampled_from([59_999, 60_000, 60_001, 3_600_000])),
    min_size=1, max_size=300)


@given(values_ms, st.sampled_from([0.0, 0.1, 0.5, 0.9, 0.99, 1.0]))
def test_quantile_within_range_and_one_percent(values: list[int], q: float) -> None:
    (estimate,) = sketch_of(*values).quantiles([q])
    assert estimate is not None
    assert min(values) <= estimate <= max(values)
    assert math.isclose(estimate, exact_quantile(values, q), rel_tol=0.01, abs_tol=1e-9)


@given(values_ms, values_ms, st.sampled_from([0.5, 0.9]))
def test_retracted_values_leave_no_trace(kept: list[int], retracted: list[int],
                                         q: float) -> None:
    sketch = sketch_of(*kept, *retracted)
    for v in retracted:
        sketch.add(v, -1)
    reference = sketch_of(*kept)
    assert sketch.counts == reference.counts and sketch.sums == reference.sums
    (estimate,) = sketch.quantiles([q])
    assert estimate is not None and min(kept) <= estimate <= max(kept)


@given(values_ms, values_ms)
def test_merge_equals_adding_everything(a: list[int], b: list[int]) -> None:
    left = sketch_of(*a)
    left.merge(sketch_of(*b))
    both = sketch_of(*a, *b)
    assert left.counts == both.counts and left.sums == both.sums
    assert (left.count, left.sum_ms) == (len(a) + len(b), sum(a) + sum(b))

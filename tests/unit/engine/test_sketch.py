"""The quantile sketch: SPEC §3's 1% bound, merges, and exact retraction."""

import math

from hypothesis import given
from hypothesis import strategies as st

from service.engine.sketch import QuantileSketch


def exact_quantile(values: list[int], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low, high = ordered[math.floor(rank)], ordered[math.ceil(rank)]
    return low + (high - low) * (rank - math.floor(rank))


values_ms = st.lists(
    st.one_of(st.integers(0, 10), st.integers(1, 10**9), st.integers(1000, 5000)),
    min_size=1, max_size=300)


@given(values_ms, st.sampled_from([0.0, 0.1, 0.5, 0.9, 0.99, 1.0]))
def test_quantile_within_one_percent(values: list[int], q: float) -> None:
    sketch = QuantileSketch()
    for v in values:
        sketch.add(v)
    (estimate,) = sketch.quantiles([q])
    assert estimate is not None
    assert math.isclose(estimate, exact_quantile(values, q), rel_tol=0.01, abs_tol=1e-9)


@given(values_ms, values_ms)
def test_merge_equals_adding_everything(a: list[int], b: list[int]) -> None:
    left, right, both = QuantileSketch(), QuantileSketch(), QuantileSketch()
    for v in a:
        left.add(v)
        both.add(v)
    for v in b:
        right.add(v)
        both.add(v)
    left.merge(right)
    assert left.bins == both.bins and left.zeros == both.zeros
    assert left.count == len(a) + len(b)


@given(values_ms, values_ms)
def test_retraction_restores_previous_state(kept: list[int], retracted: list[int]) -> None:
    sketch, reference = QuantileSketch(), QuantileSketch()
    for v in kept:
        sketch.add(v)
        reference.add(v)
    for v in retracted:
        sketch.add(v)
    for v in retracted:
        sketch.add(v, -1)
    assert sketch.bins == reference.bins and sketch.zeros == reference.zeros


def test_empty_sketch_has_no_quantiles() -> None:
    assert QuantileSketch().quantiles([0.5, 0.9]) == [None, None]


def test_state_round_trip() -> None:
    sketch = QuantileSketch()
    for v in (0, 1, 5, 5, 120_000, 3_600_000):
        sketch.add(v)
    restored = QuantileSketch.from_state(sketch.to_state())
    assert restored.bins == sketch.bins and restored.zeros == sketch.zeros

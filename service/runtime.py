"""Process settings shared by the long-running entry points (replay, workers, benchmarks)."""

import gc

__all__ = ["tune_gc"]


def tune_gc() -> None:
    """Raise the cyclic collector's thresholds.

    The engine holds millions of small tuples and dicts that form no reference cycles; with the
    default thresholds the collector re-scans them over and over, which costs about a quarter of
    replay time. Freezing what exists at start-up and collecting young objects less often keeps
    cycle collection without that cost.
    """
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)

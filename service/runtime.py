"""Process settings shared by the long-running entry points (replay, workers, benchmarks)."""

import ctypes
import ctypes.util
import gc
from collections.abc import Callable

__all__ = ["release_free_memory", "tune_gc"]


def tune_gc() -> None:
    """Raise the cyclic collector's thresholds.

    The engine holds millions of small tuples and dicts that form no reference cycles; with the
    default thresholds the collector re-scans them over and over, which costs about a quarter of
    replay time. Freezing what exists at start-up and collecting young objects less often keeps
    cycle collection without that cost.
    """
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    trim: Callable[[int], int] | None = getattr(ctypes.CDLL(name), "malloc_trim", None)
    return trim


_TRIM = _malloc_trim()


def release_free_memory() -> bool:
    """Hand the C heap's free pages back to the OS (glibc's ``malloc_trim(0)``); False where
    the C library has no such call.

    A worker reading a backlog allocates and frees large buffers (prefetched messages, encoded
    batches) between its long-lived objects; glibc keeps the freed pages in the process, so its
    RSS would stay at the peak of the backlog long after the data behind it is gone."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True

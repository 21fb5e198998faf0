"""Busy keys: replay of one conversation or one agent with many events, at doubling sizes.

The cost of an event may not grow with its key's history (issue 23): doubling a busy key's
events should double the time, so the time per event stays flat across the sizes. Each size
runs in a fresh child process (its peak RSS is its own). The shapes:

* ``conversation`` — a bot and a customer's auto-responder answering each other every 300 ms,
  in order (past :data:`~service.engine.conversation.MAX_LOG_EVENTS`, the older half of the
  log is folded into the base);
* ``agent`` — one agent's presence changes every 100 ms, in order;
* ``agent-shuffled`` — the same every 250 ms, in a random order.
"""

import json
import random
import resource
import sys
import time
from typing import Any

from bench.core import run_child

__all__ = ["SHAPES", "run_keys"]

SHAPES = ("conversation", "agent", "agent-shuffled")
START_MS = 1_709_542_800_000
"""2024-03-04T09:00:00Z."""


def _events(shape: str, count: int) -> list[dict[str, Any]]:
    from service.synthetic import bot_loop, presence_run

    if shape == "conversation":
        return bot_loop("busy", count, START_MS)
    if shape == "agent":
        return presence_run("agent-busy", count, "team-1", START_MS, 100)
    events = presence_run("agent-shuffled", count, "team-1", START_MS, 250)
    random.Random(23).shuffle(events)
    return events


def child_replay(shape: str, count: int) -> dict[str, Any]:
    import orjson

    from service.config import KpiConfig
    from service.engine.engine import KpiEngine
    from service.replay import replay_lines
    from service.runtime import tune_gc

    tune_gc()
    lines = [orjson.dumps(event) for event in _events(shape, count)]
    engine = KpiEngine(KpiConfig())
    started = time.perf_counter()
    stats = replay_lines(engine, lines)
    seconds = time.perf_counter() - started
    return {"shape": shape, "events": stats.events, "seconds": seconds,
            "us_per_event": seconds / count * 1e6,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_keys(sizes: dict[str, list[int]]) -> dict[str, list[dict[str, Any]]]:
    """Per shape, one replay per size (``{shape: [events, …]}``), smallest first. Returns
    ``{shape: [{shape, events, seconds, us_per_event, peak_rss_mb}, …]}``."""
    results: dict[str, list[dict[str, Any]]] = {}
    for shape, counts in sizes.items():
        for count in counts:
            print(f"keys: one {shape} of {count:,} events …", flush=True)
            results.setdefault(shape, []).append(run_child("bench.keys", shape, str(count)))
    return results


if __name__ == "__main__":
    print(json.dumps(child_replay(sys.argv[1], int(sys.argv[2]))))

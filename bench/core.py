"""Engine figures: replay throughput of the benchmark's events file and memory per open
conversation. Each measurement runs in a fresh child process, so peak RSS is its own."""

import gc
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["run_child", "run_core"]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child_replay(path: str, as_of: str, report_path: str) -> dict[str, Any]:
    import orjson

    from service.config import config_from_env
    from service.engine.engine import KpiEngine
    from service.replay import open_lines, replay_lines
    from service.runtime import tune_gc

    tune_gc()
    engine = KpiEngine(config_from_env())
    started = time.perf_counter()
    stats = replay_lines(engine, open_lines(path))
    replay_s = time.perf_counter() - started
    started = time.perf_counter()
    engine.report()
    report_s = time.perf_counter() - started
    as_of_ms = engine.default_as_of()
    again: list[float] = []
    for later_s in (15, 30, 45, 60, 75):
        started = time.perf_counter()
        engine.report(as_of_ms + later_s * 1000)
        again.append(time.perf_counter() - started)
    from service.timefmt import parse_as_of

    Path(report_path).write_bytes(orjson.dumps(engine.report(parse_as_of(as_of))))
    return {
        "events": stats.events,
        "seconds": replay_s,
        "events_per_s": stats.events / replay_s,
        "report_seconds": report_s,
        "report_again_median_seconds": sorted(again)[len(again) // 2],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "conversations": len(engine.conversations.conversations),
        "open_conversations": len(engine.conversations.active),
    }


def child_memory(conversations: int, traced: bool) -> dict[str, Any]:
    """Open conversations (created, assigned, a customer message, a reply and another customer
    message, so a next-response clock runs) over 2,000 agents.

    Two figures: the RSS growth per conversation, which includes its share of the pane
    aggregates (those stay when the conversation ends), and the conversation state alone: the
    traced memory released when the conversation stage lets go of them."""
    import tracemalloc

    from schemas import event_adapter
    from service.config import KpiConfig
    from service.engine.engine import KpiEngine
    from service.runtime import tune_gc
    from service.synthetic import iso

    tune_gc()
    engine = KpiEngine(KpiConfig())
    start = 1_709_546_400_000
    gc.collect()
    before = _rss_bytes()
    if traced:
        tracemalloc.start()
    for n in range(conversations):
        at = start + n * 500
        cid, agent = f"conv-{n}", f"agent-{n % 2000:04d}"
        for i, fields in enumerate((
            {"type": "conversation.created", "team": f"team-{n % 20}", "channel": "chat"},
            {"type": "conversation.assigned", "agent_id": agent, "method": "pull"},
            {"type": "message.created", "author": "customer"},
            {"type": "message.created", "author": "agent", "agent_id": agent},
            {"type": "message.created", "author": "customer"},
        )):
            engine.process(event_adapter.validate_python(
                {"id": f"{cid}-{i}", "at": iso(at + i * 60_000), "conversation_id": cid,
                 **fields}))
    gc.collect()
    if not traced:
        return {
            "open_conversations": len(engine.conversations.active),
            "rss_growth_bytes_per_open_conversation": (_rss_bytes() - before) / conversations,
            "rss_mb": _rss_bytes() / 2**20,
        }
    traced_with = tracemalloc.get_traced_memory()[0]
    stage = engine.conversations
    stage.conversations.clear()
    stage.last_at.clear()
    stage.active.clear()
    stage.packed.clear()
    gc.collect()
    state = traced_with - tracemalloc.get_traced_memory()[0]
    return {"conversation_state_bytes_per_open_conversation": state / conversations}


def run_child(module: str, *args: str) -> dict[str, Any]:
    """``python -m module args…`` in a fresh process (its peak RSS its own); its last output
    line, JSON."""
    out = subprocess.run([sys.executable, "-m", module, *args], check=True,
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run_core(events: Path, as_of: str, report_path: Path,
             open_conversations: int | None) -> dict[str, Any]:
    """Replay ``events`` (its report at ``as_of`` written to ``report_path``, the reference
    the service is compared with), then, unless ``open_conversations`` is None, the memory
    figures."""
    print(f"core: replaying {events.name} ({events.stat().st_size / 2**20:.0f} MB) …",
          flush=True)
    replay = run_child("bench.core", "replay", str(events), as_of, str(report_path))
    if open_conversations is None:
        return {"replay": replay}
    print(f"core: memory with {open_conversations:,} open conversations …", flush=True)
    memory = run_child("bench.core", "memory", str(open_conversations))
    memory |= run_child("bench.core", "state", str(open_conversations))
    return {"replay": replay, "memory": memory}


if __name__ == "__main__":
    kind, *values = sys.argv[1:]
    if kind == "replay":
        result = child_replay(*values)
    else:
        result = child_memory(int(values[0]), traced=kind == "state")
    print(json.dumps(result))

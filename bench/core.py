"""``make bench-core``: replay a generated 1,000,000-event file; events/s and memory.

Each measurement runs in a fresh child process, so peak RSS is the replay's own. The events file
is generated once (deterministic) into the cache directory and reused.
"""

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CACHE = Path(os.environ.get("SUPPORT_KPI_CACHE", Path.home() / ".cache" / "support-kpi")) / "bench"
RESULTS = ROOT / "bench" / "results.json"
TARGET_EVENTS_PER_S = 50_000
TARGET_BYTES_PER_OPEN = 2048


def events_file(events: int) -> Path:
    import orjson

    from service.synthetic import TrafficShape, generate_events

    path = CACHE / f"events-v2-{events}.jsonl"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    shape = TrafficShape(conversations=events // 8, agents=2000, conversations_per_minute=60)
    partial = path.with_suffix(".partial")
    written = 0
    with partial.open("wb") as out:
        for event in generate_events(shape, seed=1):
            out.write(orjson.dumps(event) + b"\n")
            written += 1
            if written % 50_000 == 0:
                print(f"\r  generating {path.name}: {written:,} events", end="", flush=True)
            if written >= events:
                break
    print()
    partial.rename(path)
    return path


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child_replay(path: str) -> dict[str, Any]:
    from service.config import KpiConfig
    from service.engine.engine import KpiEngine
    from service.replay import open_lines, replay_lines
    from service.runtime import tune_gc

    tune_gc()
    engine = KpiEngine(KpiConfig())
    started = time.perf_counter()
    stats = replay_lines(engine, open_lines(path))
    replay_s = time.perf_counter() - started
    started = time.perf_counter()
    engine.report()
    report_s = time.perf_counter() - started
    return {
        "events": stats.events,
        "seconds": replay_s,
        "events_per_s": stats.events / replay_s,
        "report_seconds": report_s,
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
    stage.compacted.clear()
    gc.collect()
    state = traced_with - tracemalloc.get_traced_memory()[0]
    return {"conversation_state_bytes_per_open_conversation": state / conversations}


def _run_child(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--open-conversations", type=int, default=100_000)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, value = args.child
        if kind == "replay":
            result = child_replay(value)
        else:
            result = child_memory(int(value), traced=kind == "state")
        print(json.dumps(result))
        return 0
    path = events_file(args.events)
    print(f"replaying {path} ({path.stat().st_size / 2**20:.0f} MB) …", flush=True)
    replay = _run_child("replay", str(path))
    print(f"measuring memory with {args.open_conversations:,} open conversations …", flush=True)
    memory = _run_child("memory", str(args.open_conversations))
    memory |= _run_child("state", str(args.open_conversations))
    core = {"replay": replay, "memory": memory,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                       f"Python {platform.python_version()}",
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["core"] = core
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    rate = replay["events_per_s"]
    per_open = memory["conversation_state_bytes_per_open_conversation"]
    rows = [
        ("replay throughput", f"{rate:,.0f} events/s", f"≥ {TARGET_EVENTS_PER_S:,}",
         rate >= TARGET_EVENTS_PER_S),
        ("state per open conversation", f"{per_open:,.0f} B", f"≤ {TARGET_BYTES_PER_OPEN:,}",
         per_open <= TARGET_BYTES_PER_OPEN),
        ("RSS growth per open conversation",
         f"{memory['rss_growth_bytes_per_open_conversation']:,.0f} B", "", True),
        ("peak RSS, 1M-event replay", f"{replay['peak_rss_mb']:,.0f} MB", "", True),
        ("report build", f"{replay['report_seconds'] * 1000:,.0f} ms", "", True),
    ]
    print(f"\n{'measure':32} {'value':>18} {'target':>10}")
    for name, value, target, ok in rows:
        verdict = "" if not target else ("ok" if ok else "MISS")
        print(f"{name:32} {value:>18} {target:>10} {verdict}")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

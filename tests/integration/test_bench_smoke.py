"""``python -m bench --smoke``: the benchmark suite still runs end to end (tiny sizes, the
session broker). It checks that every phase produced its figures and that the service's
reports equal replay's; it asserts no speed: speed is measured by ``make bench``."""

import json
import os
import subprocess
import sys
from pathlib import Path

from fixtures.workers import Namespace

ROOT = Path(__file__).resolve().parents[2]


def test_bench_smoke_run_produces_every_figure(namespace: Namespace, tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=namespace.bootstrap,
               SUPPORT_KPI_CACHE=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--output", str(output)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(output.read_text())
    assert {"raw", "core", "keys", "service", "restart", "recovery", "scale",
            "latency"} <= set(results)
    assert results["raw"]["events"] == results["dataset"]["events"]
    for phase in ("service", "restart", "recovery", "scale"):
        assert results[phase]["equal_to_replay"], results[phase]["differences"]
    assert results["service"]["events"] == results["dataset"]["events"]
    assert results["scale"]["speedup"] > 0
    assert results["core"]["replay"]["events"] == results["dataset"]["events"]
    restart = results["restart"]
    assert restart["restored_records"] == 0 and restart["new_event_seconds"] > 0
    assert set(results["keys"]) == {"conversation", "agent", "agent-shuffled"}
    for runs in results["keys"].values():
        assert [run["events"] for run in runs] == [runs[0]["events"], 2 * runs[0]["events"]]
        assert all(run["seconds"] > 0 for run in runs)
    assert "keys: one agent-shuffled" in done.stdout
    assert results["latency"]["samples"] > 0
    assert 0 < results["latency"]["p50_seconds"] <= results["latency"]["p99_seconds"]
    assert results["service"]["rss_mb"] > 0
    scrape = results["service"]["metrics"]
    assert scrape["agents"] > 0 and scrape["series"] > scrape["agent_series"] > 0
    assert scrape["bytes"] > 0 and 0 < scrape["median_seconds"] <= scrape["max_seconds"]
    with_data = scrape["as_of_dataset"]
    assert 0 < with_data["default"]["series"] < with_data["all"]["series"]
    assert "service: /metrics" in done.stdout
    gateway = results["gateway"]
    assert gateway["deliveries_per_s"] > 0
    assert gateway["paced_deliveries"] > 0
    assert 0 < gateway["p50_seconds"] <= gateway["p99_seconds"]
    assert "service: one worker, end to end" in done.stdout
    peer = results["peer"]
    assert peer["complete"] and peer["events"] == results["dataset"]["events"]
    assert 0 < peer["first_responses"] < peer["events"]
    # Two implementations of SPEC §3's first response on in-order input: the same count.
    assert peer["first_responses"] == peer["replay_first_responses"]
    assert peer["our_rate_ratio"] > 0 and peer["our_cpu_ratio"] > 0
    assert "peer: quixstreams" in done.stdout

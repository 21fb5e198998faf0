"""`make demo` starts Kafka, two workers and the simulator, prints the URLs, and stops cleanly."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_starts_serves_and_stops_cleanly() -> None:
    done = subprocess.run([sys.executable, "-m", "service.demo", "--duration", "25",
                           "--rate", "40"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    out = done.stdout
    assert done.returncode == 0, done.stderr[-3000:]
    assert "worker 1   http://127.0.0.1:" in out and "worker 2   http://127.0.0.1:" in out
    assert "/metrics" in out and "/kpis" in out and "support-kpi report" in out
    assert "open " in out and "awaiting first response" in out
    assert out.rstrip().endswith("stopped.")
    leftovers = subprocess.run(["pgrep", "-f", f"{ROOT}/.demo/"], capture_output=True, text=True)
    assert leftovers.stdout == ""


def test_demo_through_the_gateway_counts_conversations() -> None:
    """``make demo VIA=gateway``: the simulator's traffic arrives as signed Intercom webhooks
    and reaches the workers' windows."""
    done = subprocess.run([sys.executable, "-m", "service.demo", "--duration", "30",
                           "--rate", "40", "--via-gateway"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    out = done.stdout
    assert done.returncode == 0, done.stderr[-3000:]
    assert "gateway    http://127.0.0.1:" in out and "/webhooks/intercom" in out
    created = [int(n) for n in re.findall(r"1h: created (\d+)", out)]
    assert created and max(created) > 0, out[-2000:]
    assert out.rstrip().endswith("stopped.")
    leftovers = subprocess.run(["pgrep", "-f", f"{ROOT}/.demo/"], capture_output=True, text=True)
    assert leftovers.stdout == ""

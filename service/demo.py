"""``make demo``: a local Kafka broker, two workers and the simulator; Ctrl-C stops them all.

Prints the URLs of each worker's /metrics and /kpis and the command for the merged report,
then a one-line summary of the live KPIs every few seconds.
"""

import argparse
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

from service.engine.owners import merge_reports

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent / "support-kpi"


def _local_kafka() -> ModuleType:
    path = ROOT / "deploy" / "kafka" / "local_kafka.py"
    spec = importlib.util.spec_from_file_location("local_kafka", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["local_kafka"] = module
    spec.loader.exec_module(module)
    return module


def _free(port: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a worker exited with {process.returncode}; see its log above")
        try:
            if _get(url + "/readyz").get("status") == "ready":
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} was not ready after {timeout_s:.0f} s")


def _summary(urls: list[str]) -> str:
    report = merge_reports([_get(u + "/kpis") for u in urls])
    live = report["live"]["overall"] or {}
    hour = report["windows"]["1h"]["overall"] or {}
    first = hour.get("first_response_seconds") or {}
    p90 = "–" if first.get("p90") is None else f"{first['p90']:.0f} s"
    return (f"open {live.get('open', 0)} · awaiting first response "
            f"{live.get('awaiting_first_response', 0)} · at risk {live.get('sla_at_risk', 0)} · "
            f"breaching {live.get('sla_breaching', 0)} · 1h: created "
            f"{hour.get('conversations_created', 0)}, resolved "
            f"{hour.get('conversations_resolved', 0)}, first response p90 {p90}, agents "
            f"{len(report['live']['agents'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20, help="simulated events per second")
    parser.add_argument("--duration", type=float, help="stop by itself after this many seconds")
    args = parser.parse_args()
    local_kafka = _local_kafka()
    local_kafka.fetch()
    print("starting Kafka …", flush=True)
    kafka = local_kafka.LocalKafka(port=_free(9092)).start()
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap)
        urls = []
        for n, port in enumerate((_free(8001), _free(8002)), 1):
            data_dir = ROOT / ".demo" / f"worker-{n}"
            data_dir.mkdir(parents=True, exist_ok=True)
            children.append(subprocess.Popen(
                [str(BIN), "worker", "--port", str(port)],
                env=dict(env, SUPPORT_KPI_DATA_DIR=str(data_dir)), start_new_session=True))
            urls.append(f"http://127.0.0.1:{port}")
        print("starting two workers …", flush=True)
        for url, child in zip(urls, children, strict=True):
            _wait_ready(url, child)
        children.append(subprocess.Popen(
            [str(BIN), "simulate", "--rate", str(args.rate)], env=env, start_new_session=True))
        print(f"\nKafka      {kafka.bootstrap} (topic support.events)")
        for n, url in enumerate(urls, 1):
            print(f"worker {n}   {url}/metrics   {url}/kpis   {url}/readyz")
        print(f"report     KAFKA_BOOTSTRAP_SERVERS={kafka.bootstrap} "
              f"SUPPORT_KPI_WORKERS={','.join(urls)} .venv/bin/support-kpi report")
        print("Ctrl-C stops everything.\n", flush=True)
        started = time.monotonic()
        next_line = started + 5
        while not stopping:
            if args.duration is not None and time.monotonic() - started >= args.duration:
                break
            if time.monotonic() >= next_line:
                next_line += 10
                try:
                    print(_summary(urls), flush=True)
                except OSError as error:
                    print(f"(report unavailable: {error})", flush=True)
            time.sleep(0.2)
    finally:
        print("\nstopping …", flush=True)
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        kafka.stop()
        print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``make demo``: a local Kafka broker, two workers and the simulator; Ctrl-C stops them all.
With ``--via-gateway`` (``make demo VIA=gateway``) the simulator posts signed Intercom webhooks
to a ``support-kpi gateway`` instead of publishing canonical events.

Prints the URLs of each worker's /metrics and /kpis and the command for the merged report,
then a one-line summary of the live KPIs every few seconds.
"""

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from service.config import CONFIG_ENV_VAR
from service.engine.owners import merge_reports
from service.processes import (
    BIN,
    GatewayProcess,
    WorkerExited,
    WorkerProcess,
    free_port,
    local_kafka,
    poll_until,
)
from service.synthetic import SIMULATED_CONFIG

ROOT = Path(__file__).resolve().parents[1]


def _summary(workers: list[WorkerProcess]) -> str:
    report = merge_reports([w.kpis() for w in workers])
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
    parser.add_argument("--via-gateway", action="store_true",
                        help="feed the workers through the webhook gateway (signed Intercom "
                        "webhooks)")
    args = parser.parse_args()
    kafka_launcher = local_kafka()
    kafka_launcher.fetch()
    print("starting Kafka …", flush=True)
    kafka = kafka_launcher.LocalKafka(port=free_port(9092)).start()
    workers: list[WorkerProcess] = []
    gateways: list[WorkerProcess] = []
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap)
        env.setdefault(CONFIG_ENV_VAR, str(SIMULATED_CONFIG))
        for n, port in enumerate((8001, 8002), 1):
            workers.append(WorkerProcess(f"worker-{n}", env, ROOT / ".demo" / f"worker-{n}",
                                         port=port).start())
        print("starting two workers …", flush=True)
        for worker in workers:
            try:
                worker.wait_ready(120)
            except (TimeoutError, WorkerExited) as error:
                raise SystemExit(f"{error}; see the worker's log above") from error
        simulate = [str(BIN), "simulate", "--rate", str(args.rate)]
        if args.via_gateway:
            env["SUPPORT_KPI_GATEWAY_INTERCOM_SECRET"] = secrets.token_urlsafe(24)
            gateway = GatewayProcess("gateway", env, ROOT / ".demo" / "gateway",
                                     port=8088).start()
            gateways.append(gateway)
            poll_until(gateway.readiness, 60, "the gateway to answer /healthz")
            print(f"gateway    {gateway.url}/webhooks/intercom   {gateway.url}/metrics")
            simulate += ["--gateway", gateway.url]
        children.append(subprocess.Popen(simulate, env=env, start_new_session=True))
        print(f"\nKafka      {kafka.bootstrap} (topic support.events)")
        urls = [w.url for w in workers]
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
                    print(_summary(workers), flush=True)
                except OSError as error:
                    print(f"(report unavailable: {error})", flush=True)
            time.sleep(0.2)
    finally:
        print("\nstopping …", flush=True)
        for process in [*workers, *gateways]:
            process.stop()
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

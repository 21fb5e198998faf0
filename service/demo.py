"""``make demo``: a local Kafka broker, two workers, the history sink, the board, a Prometheus
with the deployed recording and alert rules, and the simulator; Ctrl-C stops them all.

The simulator (:mod:`service.desk`) first backfills the last 24 hours of a calm desk: every
team staffed at every hour, agents taking conversations only while available and within their
concurrency limit, customers writing in at a rate sized to the staff. So the windows are full
and no SLA alert fires whenever the demo starts, until the one scheduled incident: a team goes
offline for a while (``--incident-*``); its alerts fire and, once it is back, resolve. With
``--via-gateway`` (``make demo VIA=gateway``) it posts signed Intercom webhooks to a
``support-kpi gateway`` instead of publishing canonical events. While the workers read the
backfill, the board and the summary line say they are catching up instead of showing numbers.

Prints the URLs of the board, Prometheus' alerts page, the queue and each worker, then a
one-line summary of the live KPIs every few seconds. Stopping does not depend on the terminal:
with the output piped (``make demo | tee demo.log``) and the pipe gone, Ctrl-C or SIGTERM still
stops every process the demo started.
"""

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from service.board.views import catching_up
from service.config import CONFIG_ENV_VAR
from service.desk import add_incident_arguments
from service.engine.report import merge_reports
from service.processes import (
    BIN,
    BoardProcess,
    GatewayProcess,
    PrometheusProcess,
    SinkProcess,
    WorkerExited,
    WorkerProcess,
    free_port,
    local_kafka,
    poll_until,
    stop_group,
)
from service.synthetic import SIMULATED_CONFIG

ROOT = Path(__file__).resolve().parents[1]
BACKFILL_HOURS = 24


def say(text: str) -> None:
    """Print ``text``; once stdout is gone (a closed pipe), print nothing more, never fail."""
    try:
        print(text, flush=True)
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _summary(workers: list[WorkerProcess]) -> str:
    report = merge_reports([w.kpis() for w in workers])
    live = report["live"]["overall"] or {}
    hour = report["windows"]["1h"]["overall"] or {}
    first = hour.get("first_response_seconds") or {}
    p90 = "–" if first.get("p90") is None else f"{first['p90']:.0f} s"
    line = (f"open {live.get('open', 0)} · awaiting first response "
            f"{live.get('awaiting_first_response', 0)} · at risk {live.get('sla_at_risk', 0)} · "
            f"breaching {live.get('sla_breaching', 0)} · 1h: created "
            f"{hour.get('conversations_created', 0)}, resolved "
            f"{hour.get('conversations_resolved', 0)}, first response p90 {p90}, agents "
            f"{len(report['live']['agents'])}")
    behind = catching_up(w.readiness() for w in workers)
    return line + (f" · catching up: {behind.messages:,} messages to read" if behind else "")


def _days_ago(days: int) -> str:
    """The UTC date ``days`` before today."""
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() - days * 86_400))


class Stopping(Exception):
    """Ctrl-C or SIGTERM came while the demo was starting."""


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  make demo\n  make demo | tee demo.log\n"
        "  .venv/bin/python -m service.demo --incident-at 1 --incident-minutes 20\n"
        "  .venv/bin/python -m service.demo --incident-minutes 0   (no incident)\n"
        "  .venv/bin/python -m service.demo --rate 40 --backfill-hours 0")
    parser.add_argument("--rate", type=float, help="simulated events per second, whatever the "
                        "staff can serve (default: sized to the 40 agents' shifts)")
    parser.add_argument("--duration", type=float, help="stop by itself after this many seconds")
    parser.add_argument("--backfill-hours", type=float, default=BACKFILL_HOURS,
                        help=f"simulated hours before now, sent first (default "
                        f"{BACKFILL_HOURS}; 0: start empty)")
    add_incident_arguments(parser)
    parser.add_argument("--via-gateway", action="store_true",
                        help="feed the workers through the webhook gateway (signed Intercom "
                        "webhooks)")
    args = parser.parse_args()
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    def wait_for(condition: Any, timeout_s: float, what: str) -> None:
        """``poll_until``, cut short by Ctrl-C or SIGTERM (raises Stopping)."""
        def ready() -> Any:
            if stopping:
                raise Stopping
            return condition()
        poll_until(ready, timeout_s, what)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    home = ROOT / ".demo"
    kafka: Any = None
    services: list[Any] = []
    simulator: subprocess.Popen[bytes] | None = None
    try:
        kafka_launcher = local_kafka()
        kafka_launcher.fetch()
        say("starting Kafka …")
        kafka = kafka_launcher.LocalKafka(port=free_port(9092)).start()
        if stopping:
            raise Stopping
        for stale in ("worker-1", "worker-2", "gateway", "board", "history"):
            shutil.rmtree(home / stale, ignore_errors=True)
        env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap)
        env.setdefault(CONFIG_ENV_VAR, str(SIMULATED_CONFIG))
        workers: list[WorkerProcess] = []
        for n, port in enumerate((8001, 8002), 1):
            workers.append(WorkerProcess(f"worker-{n}", env, home / f"worker-{n}", port=port))
            services.append(workers[-1].start())
        say("starting two workers …")
        for worker in workers:
            try:
                wait_for(worker.readiness, 120, f"worker {worker.name} to be ready")
            except (TimeoutError, WorkerExited) as error:
                raise SystemExit(f"{error}; see the worker's log above") from error
        urls = [w.url for w in workers]
        sink = SinkProcess("history", env, home / "history", port=8090)
        services.append(sink.start())
        env["SUPPORT_KPI_HISTORY_URL"] = sink.url
        board = BoardProcess("board", env, home / "board", urls, port=8080).start()
        services.append(board)
        prometheus = PrometheusProcess(home / "prometheus", [u.removeprefix("http://")
                                                             for u in urls], port=9090).start()
        services.append(prometheus)
        simulate = [str(BIN), "simulate", "--backfill-hours", str(args.backfill_hours),
                    "--incident-at", str(args.incident_at),
                    "--incident-minutes", str(args.incident_minutes),
                    "--incident-team", args.incident_team]
        if args.rate is not None:
            simulate += ["--rate", str(args.rate)]
        if args.via_gateway:
            env["SUPPORT_KPI_GATEWAY_INTERCOM_SECRET"] = secrets.token_urlsafe(24)
            gateway = GatewayProcess("gateway", env, home / "gateway", port=8088).start()
            services.append(gateway)
            wait_for(gateway.readiness, 60, "the gateway to answer /healthz")
            say(f"gateway    {gateway.url}/webhooks/intercom   {gateway.url}/metrics")
            simulate += ["--gateway", gateway.url]
        wait_for(board.readiness, 60, "the board to answer /healthz")
        wait_for(sink.readiness, 60, "the history sink to be ready")
        wait_for(prometheus.ready, 60, "Prometheus to be ready")
        simulator = subprocess.Popen(simulate, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, start_new_session=True)
        workers_env = f"SUPPORT_KPI_WORKERS={','.join(urls)}"
        say(f"\nboard      {board.url}/board")
        say(f"reports    {board.url}/reports   (history by day, the day before, and the last "
            "24 h beside the live window)")
        say(f"history    .venv/bin/support-kpi history report --db {sink.db} --from "
            f"{_days_ago(1)} --to {_days_ago(-1)} --by day --compare")
        say(f"           {sink.url}/history/report?from={_days_ago(1)}&to={_days_ago(-1)}"
            "&by=day&compare=1")
        say(f"alerts     {prometheus.alerts_page()}   (Prometheus with deploy/prometheus rules, "
            f"scraping the workers every {prometheus.interval_s:g} s)")
        say("grafana    import deploy/grafana/dashboards/support-kpi.json into your Grafana "
            "(Dashboards → New → Import)")
        say(f"           with a Prometheus data source at {prometheus.url} for $datasource "
            "(docs/deployment.md, Grafana)")
        say(f"queue      {workers_env} .venv/bin/support-kpi queue --state at_risk   "
            f"(each worker: {urls[0]}/conversations?state=at_risk)")
        say(f"report     {workers_env} .venv/bin/support-kpi report")
        say(f"Kafka      {kafka.bootstrap} (topic support.events)")
        for n, url in enumerate(urls, 1):
            say(f"worker {n}   {url}/metrics   {url}/kpis   {url}/readyz")
        if args.backfill_hours > 0:
            say(f"The simulator sends the last {args.backfill_hours:g} h first; the windows "
                "fill within " + ("about two minutes (every event a signed webhook)."
                                  if args.via_gateway else "a minute."))
        if args.incident_minutes > 0:
            begins = time.time() + args.incident_at * 60
            say(f"Incident: team {args.incident_team} goes offline at "
                f"{time.strftime('%H:%M', time.localtime(begins))} for "
                f"{args.incident_minutes:g} minutes while its customers keep writing; its SLA "
                "alerts fire about 17 minutes in and resolve once the team is back.")
        say("Ctrl-C stops everything.\n")
        started = time.monotonic()
        next_line = started + 5
        while not stopping:
            if args.duration is not None and time.monotonic() - started >= args.duration:
                break
            if time.monotonic() >= next_line:
                next_line += 10
                try:
                    say(_summary(workers))
                except OSError as error:
                    say(f"(report unavailable: {error})")
            time.sleep(0.2)
    except Stopping:
        pass
    finally:
        stop_group(simulator, timeout_s=20)
        for service in reversed(services):
            service.stop()
        if kafka is not None:
            kafka.stop()
        say("\nstopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Local processes for the demo, the benchmarks and the tests: a ``support-kpi worker``
subprocess with its HTTP endpoints, the gateway, the board, a Prometheus scraping the workers,
a free loopback port, and the bundled Kafka launcher.

Every process is started in its own session so that :meth:`WorkerProcess.stop` can signal the
whole group; callers stop what they start."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["BIN", "BoardProcess", "GatewayProcess", "PrometheusProcess", "SinkProcess",
           "WorkerExited", "WorkerProcess", "free_port", "local_kafka", "poll_until",
           "stop_group"]

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent / "support-kpi"


class WorkerExited(RuntimeError):
    """A worker process ended while it was expected to run."""


def free_port(preferred: int = 0) -> int:
    """``preferred`` when it is free on 127.0.0.1, else any free port."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_group(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM,
               timeout_s: float = 30) -> None:
    """Signal the session of ``process`` (started with ``start_new_session``) and wait for it;
    SIGKILL after ``timeout_s``. Nothing when it was not started or has ended."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, sig)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def poll_until(condition: Callable[[], Any], timeout_s: float, what: str,
               interval_s: float = 0.25) -> Any:
    """Call ``condition`` until it returns something truthy; TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except (OSError, urllib.error.URLError, ValueError) as error:
            last_error = error
        time.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}"
                       + (f" (last error: {last_error})" if last_error else ""))


def local_kafka() -> ModuleType:
    """``deploy/kafka/local_kafka.py`` (a stdlib script, not part of the package)."""
    if "local_kafka" in sys.modules:
        return sys.modules["local_kafka"]
    path = ROOT / "deploy" / "kafka" / "local_kafka.py"
    spec = importlib.util.spec_from_file_location("local_kafka", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["local_kafka"] = module
    spec.loader.exec_module(module)
    return module


class WorkerProcess:
    """``support-kpi worker`` on a loopback port, its output in ``log`` (or inherited)."""

    def __init__(self, name: str, env: Mapping[str, str], data_dir: Path,
                 log: Path | None = None, port: int = 0) -> None:
        self.name = name
        self.env = dict(env)
        self.data_dir = data_dir
        self.log = log
        self.port = free_port(port)
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.program: list[str] = [str(BIN)]
        """The command that runs ``support-kpi`` (a test may wrap it)."""
        self.loglevel = "warning"
        """faust's log level for the worker (``info`` shows rebalances and recovery)."""

    def start(self) -> WorkerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [*self.program, *self.arguments()]
        env = dict(self.env, SUPPORT_KPI_DATA_DIR=str(self.data_dir))
        if self.log is None:
            self.process = subprocess.Popen(command, env=env, start_new_session=True)
        else:
            with self.log.open("ab") as log:
                self.process = subprocess.Popen(command, env=env, stdout=log,
                                                stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def arguments(self) -> list[str]:
        return ["worker", "--port", str(self.port), "--loglevel", self.loglevel]

    @property
    def pid(self) -> int:
        assert self.process is not None, "the worker was not started"
        return self.process.pid

    def get(self, path: str, timeout_s: float = 10) -> bytes:
        """GET ``path`` (with the worker's bearer token, when it has one)."""
        request = urllib.request.Request(self.url + path)
        token = self.env.get("SUPPORT_KPI_TOKEN")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return bytes(response.read())

    def check_running(self) -> None:
        assert self.process is not None, "the worker was not started"
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:] if self.log else ""
            raise WorkerExited(f"worker {self.name} exited with {self.process.returncode}"
                               + (f": {tail}" if tail else "; see its output above"))

    def readiness(self) -> dict[str, Any] | None:
        """The /readyz body once ready (progress counters included), else None."""
        self.check_running()
        try:
            body: dict[str, Any] = json.loads(self.get("/readyz"))
        except urllib.error.HTTPError:
            return None
        return body if body.get("status") == "ready" else None

    def wait_ready(self, timeout_s: float = 90) -> WorkerProcess:
        poll_until(self.readiness, timeout_s, f"worker {self.name} to be ready")
        return self

    def kpis(self, as_of: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(
            self.get("/kpis" if as_of is None else f"/kpis?as_of={as_of}", timeout_s=60))
        return result

    def metrics(self) -> str:
        return self.get("/metrics", timeout_s=60).decode()

    def rss_bytes(self) -> int:
        """Resident memory of the worker process now (Linux /proc)."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS for pid {self.pid}")

    def cpu_seconds(self) -> float:
        """User and system CPU time the worker process has used so far (Linux /proc)."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30) -> None:
        stop_group(self.process, sig, timeout_s)


class GatewayProcess(WorkerProcess):
    """``support-kpi gateway`` on a loopback port; ready once ``/healthz`` answers."""

    def arguments(self) -> list[str]:
        return ["gateway", "--port", str(self.port)]

    def readiness(self) -> dict[str, Any] | None:
        self.check_running()
        try:
            body: dict[str, Any] = json.loads(self.get("/healthz"))
        except (urllib.error.URLError, ConnectionError):
            return None
        return body

    def post(self, path: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST ``body``; the status code (an error status is returned, not raised)."""
        request = urllib.request.Request(self.url + path, data=body, method="POST",
                                         headers=dict(headers))
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)


class BoardProcess(GatewayProcess):
    """``support-kpi board`` over ``workers`` on a loopback port; ready once ``/healthz``
    answers."""

    def __init__(self, name: str, env: Mapping[str, str], data_dir: Path,
                 workers: list[str], log: Path | None = None, port: int = 0) -> None:
        super().__init__(name, env, data_dir, log, port)
        self.workers = workers

    def arguments(self) -> list[str]:
        return ["board", "--port", str(self.port), "--workers", ",".join(self.workers)]


class SinkProcess(GatewayProcess):
    """``support-kpi history sink`` on a loopback port, its database in its data directory
    (``history.duckdb``, or ``db``); ready once ``/readyz`` says it has caught up with the
    history topic as it was when it started."""

    def __init__(self, name: str, env: Mapping[str, str], data_dir: Path,
                 log: Path | None = None, port: int = 0, db: Path | None = None) -> None:
        super().__init__(name, env, data_dir, log, port)
        self.db = db if db is not None else data_dir / "history.duckdb"

    def arguments(self) -> list[str]:
        return ["history", "sink", "--port", str(self.port), "--db", str(self.db)]

    def readiness(self) -> dict[str, Any] | None:
        self.check_running()
        try:
            body: dict[str, Any] = json.loads(self.get("/readyz"))
        except (urllib.error.URLError, ConnectionError):
            return None
        return body if body.get("ready") else None

    def state(self) -> dict[str, Any]:
        """The ``/readyz`` body, ready or not."""
        try:
            return dict(json.loads(self.get("/readyz")))
        except urllib.error.HTTPError as error:
            return dict(json.loads(error.read()))


RULES = ROOT / "deploy" / "prometheus"
"""The recording and alert rules as deployed (``recording_rules.yml``, ``alert_rules.yml``)."""


class PrometheusProcess:
    """Debian's ``prometheus`` on a loopback port, scraping ``targets`` (``host:port`` of the
    workers) every ``interval_s`` seconds with ``rules`` (default: the deployed recording and
    alert rules); its configuration, data and log in ``data_dir``.

    Raises FileNotFoundError from :meth:`start` when prometheus is not installed."""

    def __init__(self, data_dir: Path, targets: list[str], rules: list[Path] | None = None,
                 interval_s: float = 5, port: int = 0) -> None:
        self.data_dir = data_dir
        self.targets = targets
        self.rules = rules if rules is not None else [RULES / "recording_rules.yml",
                                                       RULES / "alert_rules.yml"]
        self.interval_s = interval_s
        self.port = free_port(port)
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> PrometheusProcess:
        binary = shutil.which("prometheus")
        if binary is None:
            raise FileNotFoundError("prometheus is not installed: `make test` or `make demo` "
                                    "installs Debian's prometheus package")
        shutil.rmtree(self.data_dir / "tsdb", ignore_errors=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        interval = f"{self.interval_s:g}s"
        config = {"global": {"scrape_interval": interval, "evaluation_interval": interval},
                  "rule_files": [str(path) for path in self.rules],
                  "scrape_configs": [{"job_name": "support-kpi",
                                      "static_configs": [{"targets": self.targets}]}]}
        path = self.data_dir / "prometheus.yml"
        path.write_text(json.dumps(config, indent=2))
        with (self.data_dir / "prometheus.log").open("ab") as log:
            self.process = subprocess.Popen(
                [binary, f"--config.file={path}", f"--storage.tsdb.path={self.data_dir / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        return self

    def get(self, path: str) -> Any:
        """GET ``path`` of the HTTP API, decoded from JSON."""
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.loads(response.read())

    def ready(self) -> bool:
        """Prometheus answers /-/ready with 200."""
        if self.process is None or self.process.poll() is not None:
            log = (self.data_dir / "prometheus.log").read_text(errors="replace")[-2000:]
            raise WorkerExited(f"prometheus exited: {log}")
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=5) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError):
            return False

    def alerts_page(self) -> str:
        """The URL of the alerts page: ``/alerts``, or ``/classic/alerts`` where Prometheus is
        built without its React UI (Debian's package)."""
        for path in ("/alerts", "/classic/alerts"):
            try:
                with urllib.request.urlopen(self.url + path, timeout=10):
                    return self.url + path
            except urllib.error.HTTPError:
                continue
        return self.url + "/alerts"

    def query(self, expression: str) -> list[Any]:
        """The instant vector of ``expression`` (each sample's metric and value)."""
        answer = self.get("/api/v1/query?" + urllib.parse.urlencode({"query": expression}))
        return list(answer["data"]["result"])

    def alerts(self) -> list[dict[str, Any]]:
        """The active alerts (pending and firing), each with labels and state."""
        return list(self.get("/api/v1/alerts")["data"]["alerts"])

    def stop(self) -> None:
        stop_group(self.process)

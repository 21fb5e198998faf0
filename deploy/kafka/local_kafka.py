#!/usr/bin/env python3
"""A real single-node Apache Kafka broker on loopback, for development and tests, without Docker.

The broker jars come from Maven Central (``pom.xml`` next to this file, resolved with ``mvn``)
into a cache outside the repository; the broker runs as ``java -cp 'libs/*' kafka.Kafka`` in
KRaft mode (combined broker + controller, ``node.id=1``) with its data, config and logs in a
fresh temporary directory that is removed on stop.

Usage as a script::

    python deploy/kafka/local_kafka.py fetch          # resolve the jars once (~46 MB)
    python deploy/kafka/local_kafka.py run [--port N] # start, print KAFKA_BOOTSTRAP_SERVERS=...

Usage as a module (stdlib only, so it can be imported by path from tests)::

    with LocalKafka() as kafka:
        print(kafka.bootstrap)  # "127.0.0.1:<port>"

Needs Java 17+ and Maven 3.6+ (``mvn``); nothing else.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TextIO

__all__ = [
    "KAFKA_VERSION",
    "FetchError",
    "KafkaStartError",
    "LocalKafka",
    "default_cache_dir",
    "fetch",
    "free_ports",
    "is_fetched",
    "probe_api_versions",
    "random_cluster_id",
    "render_log4j_properties",
    "render_server_properties",
]

KAFKA_VERSION = "3.9.1"
POM = Path(__file__).resolve().with_name("pom.xml")
HOST = "127.0.0.1"
NODE_ID = 1
STARTED_MARKER = "Kafka Server started"
"""Logged by ``KafkaRaftServer`` once the broker is unfenced and its listeners accept clients."""
JVM_OPTIONS = (
    "-Xmx512m",
    "-Xms256m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-Djava.awt.headless=true",
)
TOOL_JVM_OPTIONS = ("-Xmx256m", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true")
"""For the short-lived format tool: C1 only, which starts faster and is plenty for it."""

_MARKER_NAME = "fetch-complete.json"
_WORKDIR_PREFIX = "support-kpi-kafka-"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class FetchError(RuntimeError):
    """The broker jars could not be resolved; the message says what to do next."""


class KafkaStartError(RuntimeError):
    """The broker did not come up; the message carries the tail of its log."""


# --------------------------------------------------------------------------------------------
# Fetching the jars


def default_cache_dir() -> Path:
    """``$SUPPORT_KPI_CACHE``, else ``~/.cache/support-kpi`` (always outside the repository)."""
    configured = os.environ.get("SUPPORT_KPI_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "support-kpi"


def _kafka_home(cache_dir: Path | None) -> Path:
    return (cache_dir or default_cache_dir()) / f"kafka-{KAFKA_VERSION}"


def _pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def is_fetched(cache_dir: Path | None = None) -> bool:
    """True when a previous fetch of the current ``pom.xml`` completed and its jars are there.

    The marker is written only after Maven succeeded and the jars were moved into place, so an
    interrupted fetch (no marker) or a changed pom (other digest) is fetched again.
    """
    home = _kafka_home(cache_dir)
    try:
        marker = json.loads((home / _MARKER_NAME).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict) or marker.get("pom_sha256") != _pom_digest():
        return False
    jars = marker.get("jars")
    libs = home / "libs"
    return bool(jars) and all((libs / name).is_file() for name in jars)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise fetches of concurrent processes (e.g. parallel test workers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fetch(cache_dir: Path | None = None, *, force: bool = False, out: TextIO | None = None) -> Path:
    """Resolve the Kafka broker jars from Maven Central; return the ``libs`` directory.

    Reused when a completed fetch is already in the cache. Progress (Maven's own download and
    copy lines) goes to ``out`` (default stderr).
    """
    out = out or sys.stderr
    home = _kafka_home(cache_dir)
    libs = home / "libs"
    if not force and is_fetched(cache_dir):
        return libs
    with _file_lock(home.parent / f"kafka-{KAFKA_VERSION}.lock"):
        if not force and is_fetched(cache_dir):  # another process finished it meanwhile
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise FetchError(
                "mvn not found: install Maven 3.6+ (apt-get install maven, brew install maven)"
                " and make sure it is on PATH, then run"
                " `python deploy/kafka/local_kafka.py fetch` again"
            )
        home.mkdir(parents=True, exist_ok=True)
        (home / _MARKER_NAME).unlink(missing_ok=True)
        for leftover in home.glob("libs.partial-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        partial = home / f"libs.partial-{os.getpid()}"
        print(f"Fetching Apache Kafka {KAFKA_VERSION} from Maven Central into {libs} ...",
              file=out, flush=True)
        started = time.monotonic()
        command = [
            mvn, "-B", "-Dstyle.color=never", "-f", str(POM),
            "dependency:copy-dependencies", "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ]
        tail = _run_streaming(command, cwd=home, out=out)
        jars = sorted(p.name for p in partial.glob("*.jar")) if partial.is_dir() else []
        if tail.returncode != 0 or f"kafka_2.13-{KAFKA_VERSION}.jar" not in jars:
            shutil.rmtree(partial, ignore_errors=True)
            raise FetchError(
                f"mvn failed (exit code {tail.returncode}) resolving Kafka {KAFKA_VERSION}.\n"
                + "\n".join(tail.lines)
                + "\nWhat to do: check that https://repo.maven.apache.org is reachable (or"
                " configure a mirror/proxy in ~/.m2/settings.xml), then run"
                " `python deploy/kafka/local_kafka.py fetch` again."
            )
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
        marker = {"kafka": KAFKA_VERSION, "pom_sha256": _pom_digest(), "jars": jars}
        (home / _MARKER_NAME).write_text(json.dumps(marker, indent=1) + "\n")
        print(f"Kafka {KAFKA_VERSION}: {len(jars)} jars ready in {libs} "
              f"({time.monotonic() - started:.1f} s)", file=out, flush=True)
    return libs


class _Tail:
    def __init__(self, returncode: int, lines: list[str]) -> None:
        self.returncode = returncode
        self.lines = lines


def _run_streaming(command: list[str], cwd: Path, out: TextIO, keep: int = 40) -> _Tail:
    """Run ``command``, echoing its output line by line; keep the last lines for errors."""
    lines: list[str] = []
    with subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, text=True, errors="replace") as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = _ANSI.sub("", raw.rstrip("\n"))
            if not line:
                continue
            print(line, file=out, flush=True)
            lines = [*lines[-(keep - 1):], line]
    return _Tail(proc.returncode, lines)


# --------------------------------------------------------------------------------------------
# Pure helpers (unit-tested without Java)


def free_ports(count: int = 1) -> list[int]:
    """``count`` distinct free TCP ports on loopback.

    All sockets stay bound until every port is chosen, so the kernel cannot hand out the same
    port twice; another process may still take one before the broker binds it, which
    :meth:`LocalKafka.start` handles by retrying with new ports.
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((HOST, 0))
            ports.append(sock.getsockname()[1])
        return ports


def random_cluster_id() -> str:
    """A cluster id as ``kafka-storage random-uuid`` makes it: 16 random bytes, base64url, no
    padding (22 chars). Generated here to save a JVM start; a leading ``-`` is avoided because
    the command-line parser would take it for an option."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def render_server_properties(port: int, controller_port: int, data_dir: Path,
                             overrides: Mapping[str, str] | None = None) -> str:
    """``server.properties`` of a single-node KRaft cluster, tuned for tests (fast start,
    replication factor 1 everywhere, consumer groups that form without delay)."""
    settings: dict[str, str] = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.voters": f"{NODE_ID}@{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "4",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "auto.create.topics.enable": "true",
        "delete.topic.enable": "true",
        "offsets.topic.replication.factor": "1",
        # Fewer internal partitions: the first consumer group / transaction is set up faster.
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "group.initial.rebalance.delay.ms": "0",
        # The cleaner (compacted changelog topics) reserves this much heap; 128 MiB by default.
        "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        "num.network.threads": "2",
        "num.io.threads": "4",
    }
    settings.update(overrides or {})
    lines = ["# Written by deploy/kafka/local_kafka.py: a throwaway single-node KRaft broker."]
    lines += [f"{key}={_escape_property(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def render_log4j_properties(log_file: Path) -> str:
    """Everything to ``log_file`` at INFO (the console stays quiet)."""
    path = _escape_property(str(log_file))
    return "\n".join([
        "log4j.rootLogger=INFO, file",
        "log4j.appender.file=org.apache.log4j.FileAppender",
        f"log4j.appender.file.File={path}",
        "log4j.appender.file.Append=true",
        "log4j.appender.file.layout=org.apache.log4j.PatternLayout",
        "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n",
        "log4j.logger.kafka.request.logger=WARN",
        "log4j.logger.org.apache.kafka.raft=INFO",
        "",
    ])


def _escape_property(value: str) -> str:
    """Java ``.properties`` escaping for values (backslashes; nothing else occurs here)."""
    return value.replace("\\", "\\\\")


def probe_api_versions(port: int, host: str = HOST, timeout: float = 1.0) -> bool:
    """True when a Kafka broker answers an ApiVersions (v0) request on ``host:port``.

    Frame: int32 size, then the v0 request header (api_key=18, api_version=0, correlation_id,
    client_id as int16-length string) and an empty body. The answer is int32 size, correlation
    id, int16 error code, then the supported API ranges.
    """
    correlation_id = 0x5A5A
    client_id = b"local-kafka-probe"
    header = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(header)) + header)
            size = struct.unpack(">i", _recv_exactly(sock, 4))[0]
            if not 10 <= size <= 1_000_000:
                return False
            body = _recv_exactly(sock, size)
    except (OSError, struct.error, EOFError):
        return False
    answered_id, error_code, api_count = struct.unpack(">ihi", body[:10])
    return answered_id == correlation_id and error_code == 0 and api_count > 0


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise EOFError("connection closed")
        chunks += chunk
    return bytes(chunks)


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return f"({path} not readable)"
    return "\n".join(text.splitlines()[-lines:]) or f"({path} is empty)"


# --------------------------------------------------------------------------------------------
# No JVM left behind: atexit, SIGTERM and (Linux) parent-death signal

_live: set[LocalKafka] = set()
_live_lock = threading.Lock()
_hooks_installed = False


def _stop_all() -> None:
    with _live_lock:
        brokers = list(_live)
    for broker in brokers:
        broker.stop()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Stop our brokers, then let the previous SIGTERM disposition run as if we were not here."""
    _stop_all()
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)
    elif previous in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


_previous_sigterm: Any = signal.SIG_DFL


def _install_hooks() -> None:
    global _hooks_installed, _previous_sigterm
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_stop_all)
    if threading.current_thread() is threading.main_thread():
        _previous_sigterm = signal.getsignal(signal.SIGTERM)
        if _previous_sigterm != signal.SIG_IGN:
            signal.signal(signal.SIGTERM, _on_sigterm)


def _parent_death_signal() -> Any:
    """A ``preexec_fn`` asking Linux to SIGTERM the JVM when this process dies, even by SIGKILL
    (where atexit and signal handlers cannot run). Only from the main thread: the kernel sends
    the signal when the *thread* that forked exits. The libc symbol is resolved here, before the
    fork, so the child only makes one system call."""
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    parent = os.getpid()

    def preexec() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


# --------------------------------------------------------------------------------------------
# The broker


class LocalKafka:
    """One throwaway broker. ``start()`` / ``stop()`` or use as a context manager."""

    def __init__(
        self,
        port: int | None = None,
        *,
        controller_port: int | None = None,
        cache_dir: Path | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 20.0,
        overrides: Mapping[str, str] | None = None,
        keep_dir: bool = False,
        java: str | None = None,
    ) -> None:
        self.requested_port = port
        self.requested_controller_port = controller_port
        self.cache_dir = cache_dir
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.overrides = dict(overrides or {})
        self.keep_dir = keep_dir
        self.java = java
        self.port: int | None = None
        self.controller_port: int | None = None
        self.workdir: Path | None = None
        self.startup_seconds: float | None = None
        """Wall time of the last ``start()``: formatting plus JVM start until ready."""
        self.stop_seconds: float | None = None
        """Wall time the last stop took from SIGTERM until the JVM had exited."""
        self._proc: subprocess.Popen[bytes] | None = None
        self._owner_pid = os.getpid()

    # -- public API

    @property
    def bootstrap(self) -> str:
        """``127.0.0.1:<port>`` for ``bootstrap_servers``."""
        if self.port is None or not self.running:
            raise RuntimeError("LocalKafka is not running: call start() first")
        return f"{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_file(self) -> Path | None:
        return self.workdir / "server.log" if self.workdir else None

    def start(self) -> LocalKafka:
        """Format a fresh log dir, launch the JVM and wait until the broker answers."""
        if self.running:
            return self
        java = self.java or shutil.which("java")
        if java is None:
            raise KafkaStartError("java not found: install a Java 17+ runtime "
                                  "(apt-get install openjdk-17-jre-headless) and put it on PATH")
        libs = fetch(self.cache_dir)
        _install_hooks()
        self._owner_pid = os.getpid()
        began = time.monotonic()
        auto_ports = self.requested_port is None or self.requested_controller_port is None
        for attempt in range(3):
            try:
                self._prepare(java, libs)
                self._launch(java, libs)
                self._wait_until_ready(began)
            except _PortTaken as taken:
                self._cleanup()
                if not auto_ports or attempt == 2:
                    raise KafkaStartError(str(taken)) from None
                continue
            except BaseException:
                self._cleanup(grace=5.0)
                raise
            break
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """SIGTERM the broker's process group, SIGKILL after ``stop_timeout``; remove its dir."""
        if os.getpid() != self._owner_pid:
            return  # a forked child inherited this object; the broker is not its to stop
        self._cleanup(grace=self.stop_timeout)

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running at {HOST}:{self.port}" if self.running else "stopped"
        return f"<LocalKafka {KAFKA_VERSION} {state}>"

    # -- internals

    def _prepare(self, java: str, libs: Path) -> None:
        for requested, option in ((self.requested_port, "--port"),
                                  (self.requested_controller_port, "--controller-port")):
            if requested is not None and not _port_is_free(requested):
                raise KafkaStartError(f"port {requested} on {HOST} is already in use: stop "
                                      f"whatever listens there or choose another {option}")
        auto = free_ports(2)
        self.port = self.requested_port or auto[0]
        self.controller_port = self.requested_controller_port or auto[1]
        if self.controller_port == self.port:
            self.controller_port = auto[1] if auto[1] != self.port else auto[0]
        _sweep_stale_workdirs()
        self.workdir = Path(tempfile.mkdtemp(prefix=_WORKDIR_PREFIX))
        (self.workdir / "owner.pid").write_text(f"{os.getpid()}\n")
        data = self.workdir / "data"
        (self.workdir / "server.properties").write_text(render_server_properties(
            self.port, self.controller_port, data, self.overrides))
        (self.workdir / "log4j.properties").write_text(
            render_log4j_properties(self.workdir / "server.log"))
        formatted = subprocess.run(
            [java, *TOOL_JVM_OPTIONS, *self._log4j_option(), "-cp", str(libs / "*"),
             "kafka.tools.StorageTool", "format", "--ignore-formatted",
             "--cluster-id", random_cluster_id(),
             "--config", str(self.workdir / "server.properties")],
            cwd=self.workdir, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            errors="replace", timeout=self.start_timeout, check=False,
        )
        if formatted.returncode != 0:
            output = (formatted.stdout + formatted.stderr).strip()
            raise KafkaStartError(f"formatting the KRaft log dir failed (exit code "
                                  f"{formatted.returncode}):\n{output}")

    def _log4j_option(self) -> list[str]:
        assert self.workdir is not None
        return [f"-Dlog4j.configuration=file:{self.workdir / 'log4j.properties'}"]

    def _launch(self, java: str, libs: Path) -> None:
        assert self.workdir is not None
        command = [java, *JVM_OPTIONS, *self._log4j_option(),
                   f"-Dkafka.logs.dir={self.workdir}", "-cp", str(libs / "*"),
                   "kafka.Kafka", str(self.workdir / "server.properties")]
        with (self.workdir / "jvm.out").open("wb") as jvm_out:
            self._proc = subprocess.Popen(
                command, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=jvm_out,
                stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_parent_death_signal(),
            )
        (self.workdir / "jvm.pid").write_text(f"{self._proc.pid}\n")
        with _live_lock:
            _live.add(self)

    def _wait_until_ready(self, began: float) -> None:
        """Ready = the log says the server started AND the listener answers ApiVersions."""
        assert self._proc is not None and self.workdir is not None and self.port is not None
        log = self.workdir / "server.log"
        deadline = began + self.start_timeout
        seen_started = False
        offset = 0
        carry = b""
        while True:
            if self._proc.poll() is not None:
                tail = _tail(log)
                details = f"{tail}\n--- JVM output ---\n{_tail(self.workdir / 'jvm.out', 20)}"
                if "Address already in use" in tail or "BindException" in tail:
                    raise _PortTaken(f"a port was taken before the broker could bind it:\n{tail}")
                raise KafkaStartError(f"the Kafka broker exited with code {self._proc.returncode}"
                                      f" during startup; log tail:\n{details}")
            if not seen_started and log.exists():
                with log.open("rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
                offset += len(chunk)
                seen_started = STARTED_MARKER.encode() in carry + chunk
                carry = chunk[-len(STARTED_MARKER):] if chunk else carry
            if seen_started and probe_api_versions(self.port):
                return
            if time.monotonic() > deadline:
                raise KafkaStartError(
                    f"the Kafka broker did not become ready within {self.start_timeout:.0f} s "
                    f"(killed it); log tail:\n{_tail(log)}")
            time.sleep(0.05)

    def _cleanup(self, grace: float = 0.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            began = time.monotonic()
            _terminate_group(proc, grace)
            self.stop_seconds = time.monotonic() - began
        with _live_lock:
            _live.discard(self)
        if self.workdir is not None and not self.keep_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


class _PortTaken(Exception):
    pass


def _pid_alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text().strip()), 0)
    except PermissionError:
        return True  # exists, owned by someone else
    except (OSError, ValueError):
        return False
    return True


def _sweep_stale_workdirs() -> None:
    """Remove the directories of brokers whose owner and JVM are both gone: the owner can die
    without running its cleanup (SIGKILL), the JVM then follows by the parent-death signal."""
    for workdir in Path(tempfile.gettempdir()).glob(f"{_WORKDIR_PREFIX}*"):
        owner = workdir / "owner.pid"
        if owner.exists() and not _pid_alive(owner) and not _pid_alive(workdir / "jvm.pid"):
            shutil.rmtree(workdir, ignore_errors=True)


def _exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the child has exited, without reaping it.

    ``Popen.wait(timeout)`` cannot be used from a signal handler that interrupted another
    ``wait()`` of the same process: that one holds the Popen's internal lock, so the nested wait
    would spin until its timeout. ``waitid(WNOWAIT)`` only looks.
    """
    if proc.returncode is not None:
        return True
    if not hasattr(os, "waitid"):
        return proc.poll() is not None
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True  # already reaped


def _wait_exited(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not _exited(proc):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    proc.poll()  # reap it (a no-op when an interrupted wait() holds the lock; that one reaps)
    return True


def _terminate_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the whole process group, wait ``grace`` seconds, then SIGKILL it."""
    if grace > 0 and not _exited(proc):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        if _wait_exited(proc, grace):
            return
    if not _exited(proc):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        _wait_exited(proc, 10)


# --------------------------------------------------------------------------------------------
# Command line


class _Interrupted(Exception):
    pass


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise _Interrupted(signal.Signals(signum).name)


def _cmd_fetch(args: argparse.Namespace) -> int:
    libs = fetch(args.cache_dir, force=args.force)
    print(libs)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    # SIGTERM ends the wait below like Ctrl-C does, so the broker is stopped cleanly.
    signal.signal(signal.SIGTERM, _raise_interrupted)
    broker = LocalKafka(args.port, controller_port=args.controller_port,
                        cache_dir=args.cache_dir, start_timeout=args.timeout,
                        keep_dir=args.keep_dir)
    try:
        broker.start()
        print(f"Kafka {KAFKA_VERSION} (KRaft, single node) ready in "
              f"{broker.startup_seconds:.1f} s; log: {broker.log_file}; Ctrl-C to stop",
              file=sys.stderr, flush=True)
        print(f"KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap}", flush=True)
        proc = broker._proc
        assert proc is not None
        while not _exited(proc):
            time.sleep(0.2)  # not proc.wait(): see _exited
        code = proc.wait()
        print(f"the broker exited on its own (code {code}); log tail:\n"
              f"{_tail(broker.log_file) if broker.log_file else ''}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, _Interrupted):
        print("stopping Kafka ...", file=sys.stderr, flush=True)
        return 0
    finally:
        broker.stop()
        if broker.stop_seconds is not None:
            print(f"stopped in {broker.stop_seconds:.1f} s", file=sys.stderr)
        if args.keep_dir and broker.workdir:
            print(f"kept {broker.workdir}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="local_kafka.py",
        description=f"A single-node Apache Kafka {KAFKA_VERSION} broker (KRaft) on {HOST}, "
                    "without Docker. Needs Java 17+ and Maven.")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="where the jars are kept (default: $SUPPORT_KPI_CACHE or "
                             "~/.cache/support-kpi)")
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_parser = commands.add_parser("fetch", help="resolve the broker jars from Maven Central "
                                                     "(skipped when already complete)")
    fetch_parser.add_argument("--force", action="store_true", help="fetch again anyway")
    fetch_parser.set_defaults(handler=_cmd_fetch)
    run_parser = commands.add_parser("run", help="fetch if needed, start a broker, print "
                                                 "KAFKA_BOOTSTRAP_SERVERS=..., stop on Ctrl-C")
    run_parser.add_argument("--port", type=int, default=None,
                            help="client (PLAINTEXT) port; default: a free one")
    run_parser.add_argument("--controller-port", type=int, default=None,
                            help="KRaft controller port; default: a free one")
    run_parser.add_argument("--timeout", type=float, default=60.0,
                            help="seconds to wait for the broker to start (default 60)")
    run_parser.add_argument("--keep-dir", action="store_true",
                            help="keep the data/log directory after stopping")
    run_parser.set_defaults(handler=_cmd_run)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except (FetchError, KafkaStartError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""``support-kpi worker`` with a bad setting stops before faust starts: exit code 2 and one
line on stderr naming the setting and what to do, no traceback."""

import asyncio
import socket
import subprocess
from pathlib import Path

import pytest
from fixtures.workers import BIN, Namespace

from service.preflight import topic_partitions
from service.publish import ensure_topics

TIMEOUT_S = 60


def _worker(namespace: Namespace, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    env = {"SUPPORT_KPI_DATA_DIR": str(namespace.tmp / "data"), **env}
    return subprocess.run([str(BIN), "worker", *args], env=namespace.env(**env),
                          capture_output=True, text=True, timeout=TIMEOUT_S)


def _refused(done: subprocess.CompletedProcess[str], setting: str) -> str:
    """The one stderr line of a worker that refused to start, checked to name ``setting``."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"support-kpi worker: {setting}"), lines[0]
    return lines[0]


def test_unwritable_data_dir(namespace: Namespace) -> None:
    (namespace.tmp / "file").write_text("")
    data_dir = namespace.tmp / "file" / "sub"
    line = _refused(_worker(namespace, SUPPORT_KPI_DATA_DIR=str(data_dir)),
                    f"SUPPORT_KPI_DATA_DIR={data_dir}: not writable")
    assert line.endswith("; point it at a writable directory")


def test_port_in_use_from_the_environment(namespace: Namespace, busy_port: int) -> None:
    line = _refused(_worker(namespace, SUPPORT_KPI_HTTP_PORT=str(busy_port)),
                    f"SUPPORT_KPI_HTTP_PORT={busy_port}: address already in use on 127.0.0.1")
    assert line.endswith("; choose a free port with --port or SUPPORT_KPI_HTTP_PORT")


def test_port_in_use_from_the_flag(namespace: Namespace, busy_port: int) -> None:
    _refused(_worker(namespace, "--port", str(busy_port), SUPPORT_KPI_HTTP_PORT="1"),
             f"--port {busy_port}: address already in use")


@pytest.mark.parametrize("host", ["no-such-host.invalid", "256.1.1.1", "192.0.2.1"])
def test_bad_http_host(namespace: Namespace, host: str) -> None:
    line = _refused(_worker(namespace, "--port", "0", SUPPORT_KPI_HTTP_HOST=host),
                    f"SUPPORT_KPI_HTTP_HOST={host}: cannot bind (")
    assert line.endswith("; use an address of this machine, e.g. 127.0.0.1")


def test_unknown_store(namespace: Namespace) -> None:
    line = _refused(_worker(namespace, SUPPORT_KPI_STORE="redis://"),
                    "SUPPORT_KPI_STORE=redis://")
    assert line.endswith(": unknown store; use memory:// or rocksdb://")


def test_rocksdb_store_without_rocksdict(namespace: Namespace, tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "rocksdict.py").write_text('raise ImportError("rocksdict hidden by the test")\n')
    line = _refused(_worker(namespace, "--port", "0", SUPPORT_KPI_STORE="rocksdb://",
                            PYTHONPATH=str(shadow)),
                    "SUPPORT_KPI_STORE=rocksdb://: the rocksdict package is not installed")
    assert "pip install 'support-kpi[rocksdb]'" in line


def _partitions(namespace: Namespace) -> dict[str, int]:
    topics = [namespace.topic, namespace.deltas_topic, namespace.dead_letter_topic]
    return asyncio.run(topic_partitions(namespace.bootstrap, topics))


def test_fewer_partitions_than_the_existing_topics(namespace: Namespace) -> None:
    asyncio.run(ensure_topics(namespace.bootstrap, [namespace.topic], 4))
    line = _refused(_worker(namespace, "--port", "0", SUPPORT_KPI_PARTITIONS="2"),
                    "SUPPORT_KPI_PARTITIONS=2")
    assert line == (f"support-kpi worker: SUPPORT_KPI_PARTITIONS=2, but topic {namespace.topic} "
                    "has 4 partitions; set SUPPORT_KPI_PARTITIONS=4 (the input, deltas and "
                    "changelog topics must agree)")
    assert _partitions(namespace) == {namespace.topic: 4}, "missing topics were created"


def test_topics_that_disagree(namespace: Namespace) -> None:
    asyncio.run(ensure_topics(namespace.bootstrap, [namespace.topic], 4))
    asyncio.run(ensure_topics(namespace.bootstrap, [namespace.deltas_topic], 2))
    line = _refused(_worker(namespace, "--port", "0"), "SUPPORT_KPI_PARTITIONS=4")
    assert f"{namespace.deltas_topic} has 2" in line


def test_unreachable_broker_keeps_its_message(namespace: Namespace) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{sock.getsockname()[1]}"
    env = namespace.env(KAFKA_BOOTSTRAP_SERVERS=closed,
                        SUPPORT_KPI_DATA_DIR=str(namespace.tmp / "data"))
    done = subprocess.run([str(BIN), "worker", "--port", "0"], env=env, capture_output=True,
                          text=True, timeout=TIMEOUT_S)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert f"support-kpi worker: cannot reach Kafka at {closed}" in done.stderr

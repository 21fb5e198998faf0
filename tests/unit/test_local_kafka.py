"""The pure parts of ``deploy/kafka/local_kafka.py``: no Java, no Maven, no network."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from fixtures.kafka import LOCAL_KAFKA_PATH, REPO_ROOT, load_local_kafka


@pytest.fixture(scope="module")
def lk() -> ModuleType:
    return load_local_kafka()


def parse_properties(text: str) -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        assert key not in settings, f"duplicate key {key}"
        settings[key] = value
    return settings


def test_server_properties_describe_a_single_node_kraft_broker(
    lk: ModuleType, tmp_path: Path
) -> None:
    props = parse_properties(lk.render_server_properties(19092, 19093, tmp_path / "data"))
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["listener.security.protocol.map"] == "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    assert props["log.dirs"] == str(tmp_path / "data")
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr", "default.replication.factor"):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["num.partitions"] == "4"
    assert props["auto.create.topics.enable"] == "true"


def test_server_properties_overrides_win(lk: ModuleType, tmp_path: Path) -> None:
    text = lk.render_server_properties(1, 2, tmp_path, {"num.partitions": "8", "x.y": "z"})
    props = parse_properties(text)
    assert (props["num.partitions"], props["x.y"]) == ("8", "z")


def test_log4j_writes_to_the_file_only(lk: ModuleType, tmp_path: Path) -> None:
    props = parse_properties(lk.render_log4j_properties(tmp_path / "server.log"))
    assert props["log4j.rootLogger"] == "INFO, file"
    assert props["log4j.appender.file"] == "org.apache.log4j.FileAppender"
    assert props["log4j.appender.file.File"] == str(tmp_path / "server.log")
    assert not any("ConsoleAppender" in value for value in props.values())


def test_free_ports_are_distinct_and_bindable(lk: ModuleType) -> None:
    ports = lk.free_ports(5)
    assert len(set(ports)) == 5
    for port in ports:
        assert 1024 <= port <= 65535
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_cluster_ids_look_like_kafka_uuids(lk: ModuleType) -> None:
    ids = {lk.random_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cluster_id in ids:
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert set(cluster_id) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_cache_is_outside_the_repo(lk: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                   tmp_path: Path) -> None:
    monkeypatch.delenv("SUPPORT_KPI_CACHE", raising=False)
    assert not lk.default_cache_dir().resolve().is_relative_to(REPO_ROOT)
    monkeypatch.setenv("SUPPORT_KPI_CACHE", str(tmp_path))
    assert lk.default_cache_dir() == tmp_path


def _fake_complete_fetch(lk: ModuleType, cache: Path) -> Path:
    libs = cache / f"kafka-{lk.KAFKA_VERSION}" / "libs"
    libs.mkdir(parents=True)
    jar = f"kafka_2.13-{lk.KAFKA_VERSION}.jar"
    (libs / jar).write_bytes(b"")
    marker = {"pom_sha256": lk._pom_digest(), "jars": [jar]}
    (libs.parent / "fetch-complete.json").write_text(json.dumps(marker))
    return libs


def test_a_complete_fetch_is_reused_without_maven(lk: ModuleType, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    libs = _fake_complete_fetch(lk, tmp_path)
    monkeypatch.setenv("PATH", "")  # mvn would not be found
    assert lk.fetch(tmp_path) == libs


@pytest.mark.parametrize("damage", ["no marker", "jar missing", "other pom"])
def test_an_incomplete_fetch_is_redone(lk: ModuleType, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    libs = _fake_complete_fetch(lk, tmp_path)
    marker = libs.parent / "fetch-complete.json"
    if damage == "no marker":
        marker.unlink()
    elif damage == "jar missing":
        next(libs.glob("*.jar")).unlink()
    else:
        marker.write_text(json.dumps({**json.loads(marker.read_text()), "pom_sha256": "0"}))
    assert not lk.is_fetched(tmp_path)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(lk.FetchError, match=r"mvn not found: install Maven .*apt-get install"):
        lk.fetch(tmp_path)


@pytest.fixture
def fake_broker() -> Iterator[tuple[int, list[bytes]]]:
    """A one-shot TCP server answering like a broker to ApiVersions v0 (correlation id echoed,
    error 0, one API range)."""
    server = socket.create_server(("127.0.0.1", 0))
    requests: list[bytes] = []

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            size = int.from_bytes(conn.recv(4), "big")
            request = conn.recv(size)
            requests.append(request)
            correlation = request[4:8]
            body = correlation + b"\x00\x00" + (1).to_bytes(4, "big") + bytes(6)
            conn.sendall(len(body).to_bytes(4, "big") + body)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield server.getsockname()[1], requests
    thread.join(5)
    server.close()


def test_probe_speaks_api_versions(lk: ModuleType, fake_broker: tuple[int, list[bytes]]) -> None:
    port, requests = fake_broker
    assert lk.probe_api_versions(port)
    assert requests[0][:4] == b"\x00\x12\x00\x00"  # api_key 18 (ApiVersions), version 0


def test_probe_is_false_without_a_broker(lk: ModuleType) -> None:
    [port] = lk.free_ports(1)
    assert not lk.probe_api_versions(port, timeout=0.5)


def test_bootstrap_needs_a_started_broker(lk: ModuleType) -> None:
    broker = lk.LocalKafka()
    with pytest.raises(RuntimeError, match="not running"):
        _ = broker.bootstrap
    broker.stop()  # a no-op, not an error


def test_cli_help() -> None:
    result = subprocess.run([sys.executable, str(LOCAL_KAFKA_PATH), "--help"],
                            capture_output=True, text=True, timeout=30, check=True)
    assert "fetch" in result.stdout and "run" in result.stdout

"""The worker's start-up checks that need no broker (service/preflight.py) and the settings
validators behind them: each failure is one line naming the setting and what to do."""

import socket
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from service import preflight
from service.preflight import PreflightError
from service.settings import Settings


def _settings_error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as error:
        Settings()
    return preflight.describe_settings_error(error.value)


# -- data directory -----------------------------------------------------------------------------

def test_data_dir_is_created_with_its_parents(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b"
    preflight.check_data_dir(path)
    assert path.is_dir()


def test_data_dir_under_a_regular_file_is_not_writable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / "sub"
    with pytest.raises(PreflightError) as error:
        preflight.check_data_dir(path)
    assert str(error.value) == (f"SUPPORT_KPI_DATA_DIR={path}: not writable (Not a directory); "
                                "point it at a writable directory")


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("")
    with pytest.raises(PreflightError, match=r"^SUPPORT_KPI_DATA_DIR=.*: not a directory; "):
        preflight.check_data_dir(path)


# -- HTTP address -------------------------------------------------------------------------------

def test_free_port_and_any_port_pass() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    preflight.check_http("127.0.0.1", port)
    preflight.check_http("127.0.0.1", 0)


def test_port_in_use_names_the_environment_variable(busy_port: int) -> None:
    with pytest.raises(PreflightError) as error:
        preflight.check_http("127.0.0.1", busy_port)
    assert str(error.value) == (
        f"SUPPORT_KPI_HTTP_PORT={busy_port}: address already in use on 127.0.0.1; choose a free "
        "port with --port or SUPPORT_KPI_HTTP_PORT")


def test_port_in_use_names_the_flag_when_given(busy_port: int) -> None:
    with pytest.raises(PreflightError, match=rf"^--port {busy_port}: address already in use"):
        preflight.check_http("127.0.0.1", busy_port, "--port")


def test_port_out_of_range() -> None:
    with pytest.raises(PreflightError, match=r"^--port 70000: not a TCP port \(0-65535\); "):
        preflight.check_http("127.0.0.1", 70000, "--port")


@pytest.mark.parametrize("host", ["256.1.1.1", "no-such-host.invalid", "bad host",
                                  "192.0.2.1"])
def test_host_that_cannot_be_bound(host: str) -> None:
    with pytest.raises(PreflightError) as error:
        preflight.check_http(host, 0)
    line = str(error.value)
    assert line.startswith(f"SUPPORT_KPI_HTTP_HOST={host}: cannot bind (")
    assert line.endswith("; use an address of this machine, e.g. 127.0.0.1")
    assert "\n" not in line


# -- store --------------------------------------------------------------------------------------

def test_memory_store_passes() -> None:
    preflight.check_store("memory://")


def test_rocksdb_store_without_rocksdict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rocksdict", None)
    monkeypatch.setitem(sys.modules, "rocksdb", None)
    with pytest.raises(PreflightError) as error:
        preflight.check_store("rocksdb://")
    assert str(error.value) == (
        "SUPPORT_KPI_STORE=rocksdb://: the rocksdict package is not installed; install the "
        "extra with pip install 'support-kpi[rocksdb]', or use memory://")


def test_check_local_runs_every_check(tmp_path: Path, busy_port: int) -> None:
    settings = Settings(data_dir=tmp_path / "data", http_port=busy_port)
    with pytest.raises(PreflightError, match=r"^SUPPORT_KPI_HTTP_PORT="):
        preflight.check_local(settings)
    assert (tmp_path / "data").is_dir()


# -- settings validators ------------------------------------------------------------------------

@pytest.mark.parametrize("store", ["redis://", "memory", "Memory://", ""])
def test_unknown_store_names_the_variable(monkeypatch: pytest.MonkeyPatch, store: str) -> None:
    line = _settings_error(monkeypatch, SUPPORT_KPI_STORE=store)
    assert line == f"SUPPORT_KPI_STORE={store}: unknown store; use memory:// or rocksdb://"


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_known_stores(monkeypatch: pytest.MonkeyPatch, store: str) -> None:
    monkeypatch.setenv("SUPPORT_KPI_STORE", store)
    assert Settings().store == store


@pytest.mark.parametrize(("host", "reason"), [
    ("http://127.0.0.1", "a host name or address, not a URL"),
    ("  ", "empty"),
])
def test_http_host_by_form(monkeypatch: pytest.MonkeyPatch, host: str, reason: str) -> None:
    line = _settings_error(monkeypatch, SUPPORT_KPI_HTTP_HOST=host)
    assert line.startswith(f"SUPPORT_KPI_HTTP_HOST={host}: {reason}")


def test_empty_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    line = _settings_error(monkeypatch, SUPPORT_KPI_DATA_DIR="")
    assert line == "SUPPORT_KPI_DATA_DIR=: empty; point it at a writable directory"


def test_data_dir_expands_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SUPPORT_KPI_DATA_DIR", "~/kpi")
    assert Settings().data_dir == tmp_path / "kpi"


def test_every_failing_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    line = _settings_error(monkeypatch, SUPPORT_KPI_PARTITIONS="0", SUPPORT_KPI_STORE="x://")
    assert line.startswith("SUPPORT_KPI_PARTITIONS=0: ")
    assert "; SUPPORT_KPI_STORE=x://: unknown store" in line


def test_env_names() -> None:
    assert preflight.env_name("data_dir") == "SUPPORT_KPI_DATA_DIR"
    assert preflight.env_name("KAFKA_BOOTSTRAP_SERVERS") == "KAFKA_BOOTSTRAP_SERVERS"


# -- partitions ---------------------------------------------------------------------------------

def test_agreeing_partitions_pass() -> None:
    preflight.check_partitions(4, {"support.events": 4, "support.deltas.v1": 4})
    preflight.check_partitions(4, {})


def test_existing_topics_with_another_count() -> None:
    with pytest.raises(PreflightError) as error:
        preflight.check_partitions(2, {"support.events": 4, "support.deltas.v1": 4})
    assert str(error.value) == (
        "SUPPORT_KPI_PARTITIONS=2, but topic support.events has 4 partitions; set "
        "SUPPORT_KPI_PARTITIONS=4 (the input, deltas and changelog topics must agree)")


def test_topics_that_disagree_among_themselves() -> None:
    with pytest.raises(PreflightError) as error:
        preflight.check_partitions(4, {"support.events": 4, "support.deltas.v1": 2})
    line = str(error.value)
    assert line.startswith("SUPPORT_KPI_PARTITIONS=4, but the topics disagree (support.events "
                           "has 4, support.deltas.v1 has 2); ")
    assert "recreate the ones with other than 4 partitions" in line


def test_worker_topics() -> None:
    settings = Settings(app_id="kpi", topic="in", deltas_topic="deltas",
                        dead_letter_topic="dead", history_topic="history")
    assert preflight.worker_topics(settings) == [
        "in", "deltas", "dead", "history", "kpi-conversations-changelog",
        "kpi-owners-changelog"]
    without = settings.model_copy(update={"history_topic": ""})
    assert preflight.worker_topics(without) == [
        "in", "deltas", "dead", "kpi-conversations-changelog", "kpi-owners-changelog"]


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_config_variable_means_the_defaults(monkeypatch: pytest.MonkeyPatch,
                                                     value: str) -> None:
    """SUPPORT_KPI_CONFIG= (empty) is unset for the worker as for replay, not the current
    directory (which a worker then failed to read as a file)."""
    monkeypatch.setenv("SUPPORT_KPI_CONFIG", value)
    assert Settings().config is None
    monkeypatch.setenv("SUPPORT_KPI_CONFIG", "team.yaml")
    assert Settings().config == Path("team.yaml")

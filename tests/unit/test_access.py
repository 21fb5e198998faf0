"""Who may read what: bearer tokens, and where a server may listen without the operator token
(issue 23 item 7)."""

import subprocess
import sys

import pytest
from aiohttp.test_utils import TestClient, TestServer

from service import preflight
from service.access import (
    bearer_token,
    exposure_problem,
    given_token,
    is_loopback,
    token_matches,
)
from service.gateway.app import GatewayConfig, build_app
from service.gateway.publisher import GatewayPublisher
from service.settings import Settings


@pytest.mark.parametrize(("header", "token"), [
    ("Bearer s3cret", "s3cret"), ("bearer s3cret", "s3cret"), ("BEARER s3cret", "s3cret"),
    ("  Bearer   s3cret  ", "s3cret"), ("Basic czNjcmV0", None), ("", None), (None, None),
    ("Bearer", ""),
])
def test_the_bearer_scheme_is_case_insensitive(header: str | None, token: str | None) -> None:
    """RFC 7235 §2.1: the auth-scheme is a case-insensitive token."""
    assert bearer_token(header) == token


def test_a_requests_token_is_its_query_token_else_its_bearer_token() -> None:
    assert given_token("from-url", "Bearer from-header") == "from-url"
    assert given_token(None, "Bearer from-header") == "from-header"
    assert given_token("", "Basic xyz") == ""
    assert given_token(None, None) == ""


def test_tokens_match_exactly() -> None:
    assert token_matches("s3cret", "s3cret")
    assert not token_matches("S3CRET", "s3cret")
    assert not token_matches(None, "s3cret")


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.0.0.2", True),
    ("0.0.0.0", False), ("::", False), ("", False),
])
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_beyond_loopback_without_a_token_is_refused_naming_what_to_set(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUPPORT_KPI_TOKEN", raising=False)
    settings = Settings(http_host="0.0.0.0")
    with pytest.raises(preflight.PreflightError) as refused:
        preflight.check_exposure(settings, "0.0.0.0", "SUPPORT_KPI_HTTP_HOST")
    text = str(refused.value)
    assert text.startswith("SUPPORT_KPI_HTTP_HOST=0.0.0.0 serves per-agent data")
    assert "set SUPPORT_KPI_TOKEN" in text and "SUPPORT_KPI_ALLOW_NO_TOKEN=true" in text
    assert "\n" not in text
    assert exposure_problem("127.0.0.1", "X", has_token=False) is None
    assert exposure_problem("0.0.0.0", "X", has_token=True) is None


def test_an_explicit_opt_out_starts_with_a_warning() -> None:
    settings = Settings(board_host="0.0.0.0", allow_no_token=True)
    warning = preflight.check_exposure(settings, "0.0.0.0", "SUPPORT_KPI_BOARD_HOST")
    assert warning is not None and warning.startswith("WARNING: SUPPORT_KPI_BOARD_HOST=0.0.0.0")


@pytest.mark.parametrize(("command", "host_variable"), [
    ("worker", "SUPPORT_KPI_HTTP_HOST"), ("board", "SUPPORT_KPI_BOARD_HOST"),
    ("gateway", "SUPPORT_KPI_GATEWAY_HOST"),
])
def test_each_server_refuses_to_start_open_beyond_loopback(
        command: str, host_variable: str, tmp_path: object) -> None:
    """Checked before Kafka is asked: no broker runs here."""
    env = {"PATH": "/usr/bin:/bin", host_variable: "0.0.0.0",
           "SUPPORT_KPI_DATA_DIR": str(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
           "SUPPORT_KPI_HTTP_PORT": "0", "SUPPORT_KPI_BOARD_PORT": "0",
           "SUPPORT_KPI_GATEWAY_PORT": "0", "SUPPORT_KPI_GATEWAY_INTERCOM_SECRET": "x" * 16}
    done = subprocess.run([sys.executable, "-m", "service.cli", command], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"support-kpi {command}: {host_variable}=0.0.0.0 serves per-agent")


class _NoKafka(GatewayPublisher):
    def __init__(self) -> None:
        super().__init__("unused:9092", "events", "dead")

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


async def test_the_gateways_metrics_need_the_token_when_one_is_set() -> None:
    app = build_app(GatewayConfig({"intercom": "x" * 16}, token="s3cret"), _NoKafka())
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        assert (await client.get("/metrics")).status == 401
        assert (await client.get("/metrics", headers={"Authorization": "Bearer no"})).status == 401
        answer = await client.get("/metrics", headers={"Authorization": "bearer s3cret"})
        assert answer.status == 200
        assert "support_gateway_deliveries" in await answer.text()
        assert (await client.get("/healthz")).status == 200
    finally:
        await client.close()

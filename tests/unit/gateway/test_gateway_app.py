"""The gateway's HTTP shell (SPEC §7) with a stand-in for Kafka: what each kind of delivery is
answered and what reaches the publisher. The real broker is in tests/integration."""

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.gateway.app import GatewayConfig, GatewayMetrics, build_app
from service.gateway.publisher import GatewayPublisher, KafkaUnavailable
from service.stream.dead_letters import DeadLetter

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
HULL = DATA / "intercom_webhooks_hull" / "conversation_events.jsonl"
NOW = 1_800_000_000.0
SECRETS = {"intercom": "ic-secret", "zendesk": "zd-secret", "front": "fr-secret"}


class FakeKafka(GatewayPublisher):
    def __init__(self, down: bool = False) -> None:
        super().__init__("unused:9092", "events", "dead")
        self.down = down
        self.events: list[dict[str, Any]] = []
        self.letters: list[DeadLetter] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, events: Any) -> int:
        if self.down:
            raise KafkaUnavailable("broker down")
        self.events += list(events)
        return 1

    async def dead_letter(self, letter: DeadLetter) -> None:
        if self.down:
            raise KafkaUnavailable("broker down")
        self.letters.append(letter)


def intercom_headers(body: bytes, secret: str = SECRETS["intercom"]) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return {"X-Hub-Signature": f"sha1={digest}", "Content-Type": "application/json"}


async def client_for(kafka: FakeKafka, metrics: GatewayMetrics | None = None,
                     max_body: int = 1_048_576) -> TestClient:
    app = build_app(GatewayConfig(SECRETS, max_body_bytes=max_body), kafka,
                    clock=lambda: NOW, metrics=metrics)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


def first_delivery() -> bytes:
    return HULL.read_bytes().splitlines()[0]


async def test_a_signed_delivery_is_published_and_counted() -> None:
    kafka, metrics = FakeKafka(), GatewayMetrics()
    client = await client_for(kafka, metrics)
    body = first_delivery()
    try:
        response = await client.post("/webhooks/intercom", data=body,
                                     headers=intercom_headers(body))
        assert response.status == 200
        answer = await response.json()
        assert answer["events"] == len(kafka.events) > 0
        assert all(e["conversation_id"].startswith("intercom:") for e in kafka.events
                   if "conversation_id" in e)
        assert metrics.registry.get_sample_value(
            "support_gateway_deliveries_total",
            {"vendor": "intercom", "outcome": "published"}) == 1
        assert metrics.registry.get_sample_value(
            "support_gateway_events_published_total", {"vendor": "intercom"}) == len(kafka.events)
        text = await (await client.get("/metrics")).text()
        assert "support_gateway_latency_seconds_bucket" in text
    finally:
        await client.close()


@pytest.mark.parametrize("mutate", ["wrong secret", "tampered body", "no signature"])
async def test_a_bad_signature_is_401_without_detail(mutate: str) -> None:
    kafka = FakeKafka()
    client = await client_for(kafka)
    body = first_delivery()
    headers = intercom_headers(body, "other" if mutate == "wrong secret" else SECRETS["intercom"])
    if mutate == "no signature":
        headers.pop("X-Hub-Signature")
    sent = body.replace(b"Bob", b"Rob") if mutate == "tampered body" else body
    try:
        response = await client.post("/webhooks/intercom", data=sent, headers=headers)
        assert response.status == 401
        assert await response.read() == b""
        assert kafka.events == [] and kafka.letters == []
    finally:
        await client.close()


async def test_a_stale_signed_timestamp_is_refused() -> None:
    kafka, metrics = FakeKafka(), GatewayMetrics()
    client = await client_for(kafka, metrics)
    body = b'{"type":"zen:event-type:ticket.created"}'
    stamp = "2027-01-15T07:56:00Z"  # 240 s before NOW (2027-01-15T08:00:00Z): fresh
    old = "2027-01-15T07:54:59Z"
    for when, status in ((old, 401), (stamp, None)):
        signature = base64.b64encode(hmac.new(SECRETS["zendesk"].encode(),
                                              when.encode() + body, hashlib.sha256).digest())
        response = await client.post("/webhooks/zendesk", data=body, headers={
            "X-Zendesk-Webhook-Signature": signature.decode(),
            "X-Zendesk-Webhook-Signature-Timestamp": when})
        if status is not None:
            assert response.status == status
        else:
            assert response.status != 401
    assert metrics.registry.get_sample_value(
        "support_gateway_deliveries_total", {"vendor": "zendesk", "outcome": "stale"}) == 1
    await client.close()


async def test_a_verified_body_that_cannot_be_mapped_is_dead_lettered() -> None:
    kafka = FakeKafka()
    client = await client_for(kafka)
    body = b'{"no": "topic"}'
    try:
        response = await client.post("/webhooks/intercom", data=body,
                                     headers=intercom_headers(body))
        assert response.status == 200
        assert kafka.events == []
        (letter,) = kafka.letters
        headers = dict(letter.headers)
        assert headers["reason"] == b"unmappable" and headers["vendor"] == b"intercom"
        assert letter.value == body
    finally:
        await client.close()


async def test_kafka_down_is_503_so_the_vendor_retries() -> None:
    kafka = FakeKafka(down=True)
    client = await client_for(kafka)
    body = first_delivery()
    try:
        response = await client.post("/webhooks/intercom", data=body,
                                     headers=intercom_headers(body))
        assert response.status == 503
        assert response.headers["Retry-After"] == "30"
    finally:
        await client.close()


async def test_limits_unknown_vendors_and_handshakes() -> None:
    kafka = FakeKafka()
    client = await client_for(kafka, max_body=2048)
    big = b"{" + b" " * 4096 + b"}"
    try:
        response = await client.post("/webhooks/intercom", data=big,
                                     headers=intercom_headers(big))
        assert response.status == 413
        unknown = await client.post("/webhooks/acme", data=b"{}")
        assert unknown.status == 404
        assert (await unknown.json())["error"].startswith(
            "no helpdesk is called 'acme': the known ones are intercom, zendesk, front, "
            "helpscout, freshdesk, chatwoot; served here: ")
        unserved = await client.post("/webhooks/chatwoot", data=b"{}")
        assert unserved.status == 404
        assert (await unserved.json())["error"].startswith(
            "chatwoot webhooks are not enabled here: set SUPPORT_KPI_GATEWAY_CHATWOOT_SECRET")
        assert (await client.head("/webhooks/intercom")).status == 200
        assert (await client.head("/webhooks/helpscout")).status == 404
        ping = json.dumps({"type": "notification_event", "topic": "ping", "app_id": "a",
                           "id": "notif_1", "data": {"item": {"type": "ping",
                                                               "message": "hi"}}}).encode()
        response = await client.post("/webhooks/intercom", data=ping,
                                     headers=intercom_headers(ping))
        assert response.status == 200 and "ignored" in await response.json()
        health = await (await client.get("/healthz")).json()
        assert health == {"status": "ok", "vendors": ["front", "intercom", "zendesk"]}
        assert kafka.events == []
    finally:
        await client.close()


async def test_front_challenge_is_echoed_once_verified() -> None:
    kafka = FakeKafka()
    client = await client_for(kafka)
    body = b'{"type":"sync"}'
    stamp = str(int(NOW * 1000))
    signature = base64.b64encode(hmac.new(SECRETS["front"].encode(),
                                          stamp.encode() + b":" + body,
                                          hashlib.sha256).digest()).decode()
    try:
        response = await client.post("/webhooks/front", data=body, headers={
            "X-Front-Signature": signature, "X-Front-Request-Timestamp": stamp,
            "X-Front-Challenge": "abc123"})
        assert response.status == 200 and await response.json() == {"challenge": "abc123"}
        response = await client.post("/webhooks/front", data=body, headers={
            "X-Front-Signature": "AAAA", "X-Front-Request-Timestamp": stamp,
            "X-Front-Challenge": "abc123"})
        assert response.status == 401
    finally:
        await client.close()

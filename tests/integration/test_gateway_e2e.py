"""The webhook gateway end to end (SPEC §7): a real ``support-kpi gateway``, a real broker and a
real worker. Real vendor deliveries are posted signed, shuffled and each twice; the worker's
report must show the values computed by hand from the vendor's own timestamps. A bad signature,
a stale timestamp and an unmappable body publish nothing.
"""

import asyncio
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from fixtures.workers import Namespace, wait_until

from service.gateway.signatures import sign
from service.processes import GatewayProcess

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SECRETS = {"intercom": "e2e-intercom-secret", "front": "e2e-front-secret",
           "zendesk": "e2e-zendesk-secret"}


@pytest.fixture
def gateway(namespace: Namespace) -> Iterator[GatewayProcess]:
    env = namespace.env(**{f"SUPPORT_KPI_GATEWAY_{v.upper()}_SECRET": s
                           for v, s in SECRETS.items()})
    process = GatewayProcess("gateway", env, namespace.tmp / "gateway",
                             log=namespace.tmp / "gateway.log").start()
    try:
        wait_until(process.readiness, 60, "the gateway to answer /healthz")
        yield process
    finally:
        process.stop(signal.SIGTERM)


def end_offsets(bootstrap: str, topic: str) -> int:
    """The number of records ever written to ``topic`` (sum of its partitions' ends)."""

    async def read() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(topic) or set()
            if not partitions:
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(topic) or set()
            ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
            return sum(ends.values())
        finally:
            await consumer.stop()

    return asyncio.run(read())


def post(gateway: GatewayProcess, vendor: str, body: bytes, now_s: float | None = None,
         secret: str | None = None) -> int:
    headers = sign(vendor, body, secret or SECRETS[vendor], time.time() if now_s is None
                   else now_s)
    headers["Content-Type"] = "application/json"
    return gateway.post(f"/webhooks/{vendor}", body, headers)


def kpis_matching(worker: Any, as_of: str, check: Any, what: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def matches() -> bool:
        found[:] = [worker.kpis(as_of)]
        return bool(check(found[0]))

    try:
        wait_until(matches, 120, what)
    except BaseException:
        if found:
            print(orjson.dumps(found[0]["windows"]["24h"]["overall"]).decode())
        raise
    return found[0]


def shuffled_twice(bodies: list[bytes], seed: int) -> list[bytes]:
    doubled = [*bodies, *bodies]
    random.Random(seed).shuffle(doubled)
    return doubled


def test_intercom_deliveries_give_the_hand_computed_report(
        namespace: Namespace, start_worker: Any, gateway: GatewayProcess) -> None:
    """The hull workspace's conversation 137324500000000 (lines 0-9 of conversation_events.jsonl,
    2020-08-05, seconds past 13:40:00Z): created by admin 3330619 at 805 (an outbound message:
    no first response), unassigned at 937 and pulled back at 1008, replied at 1049, noted,
    snoozed and unsnoozed at 1126, resolved at 1368. Line 10 is another workspace's
    conversation, six days later."""
    lines = (DATA / "intercom_webhooks_hull" / "conversation_events.jsonl").read_bytes()
    bodies = [line for line in lines.splitlines() if line.strip()]
    assert len(bodies) == 11
    worker = start_worker("w1").wait_ready()
    for body in shuffled_twice(bodies[:10], seed=1):
        assert post(gateway, "intercom", body) == 200
    agent = "intercom:lkqcyt9t:3330619"

    def first_conversation(report: dict[str, Any]) -> bool:
        overall = report["windows"]["24h"]["overall"]
        return overall["conversations_resolved"] == 1 and overall["assigned"] == 2

    report = kpis_matching(worker, "2020-08-05T13:50:00Z", first_conversation,
                           "the Intercom conversation to be resolved")
    overall = report["windows"]["24h"]["overall"]
    assert overall["conversations_created"] == 1
    assert overall["conversations_closed"] == 0 and overall["reopened"] == 0
    assert overall["pulled"] == 1
    assert overall["resolution_seconds"]["count"] == 1
    assert overall["resolution_seconds"]["avg"] == 1368 - 805
    assert overall["wait_seconds"]["avg"] == (1126 - 937) + (1368 - 1126)
    assert overall["full_resolution_seconds"]["avg"] == 1368 - 805
    assert (overall["handed_off"], overall["bot_resolved"]) == (0, 0)  # no bot took part
    assert overall["first_response_seconds"]["count"] == 0
    assert overall["next_response_seconds"]["count"] == 0
    assert overall["sla"]["resolution"]["achieved"] == 1
    assert overall["abandoned"] == 0
    andy = report["windows"]["24h"]["agents"][agent]
    assert (andy["assigned"], andy["pulled"], andy["conversations_resolved"]) == (2, 1, 1)
    assert report["names"]["agents"] == {agent: "Andy"}, "the admin's name in the parts"
    assert report["live"]["overall"]["open"] == 0
    assert report["live"]["overall"]["waiting_on_customer"] == 0

    for body in shuffled_twice(bodies[10:], seed=2):
        assert post(gateway, "intercom", body) == 200
    report = kpis_matching(
        worker, "2020-08-11T00:43:00Z",
        lambda r: r["windows"]["24h"]["overall"]["conversations_created"] == 1,
        "the second workspace's conversation to count")
    overall = report["windows"]["24h"]["overall"]
    assert (overall["assigned"], overall["pulled"]) == (1, 0)
    assert report["live"]["overall"]["waiting_on_customer"] == 1
    assert "intercom:iynax7cx:3330619" in report["windows"]["24h"]["agents"]


def _front(name: str, **changes: Any) -> bytes:
    body = orjson.loads((DATA / "webhooks" / "front" / name).read_bytes())
    conversation = dict(body["conversation"])
    conversation.update(changes.pop("conversation", {}))
    body.update(changes, conversation=conversation)
    return orjson.dumps(body)


def test_front_deliveries_give_the_hand_computed_report(
        namespace: Namespace, start_worker: Any, gateway: GatewayProcess) -> None:
    """Two conversations on Sunday 2018-02-11 (seconds past 00:00:00Z, 1518307200), from the
    real Front fixtures: A (cnv_keocka) inbound at 2000 (created 2003.872), replied by tea_40yq
    at 2142.896, commented, assigned to tea_40z6 at 2707.474; B (cnv_keo696; the inbound and
    out_reply fixtures with B's ids and times) inbound at 674, created 674.673, replied at
    709.541, archived at 766.678, reopened at 772.956."""
    a_inbound = _front("zulip_inbound_message.json", conversation={"id": "cnv_keocka"})
    b_inbound = _front("zulip_inbound_message.json", id="evt_b_in", emitted_at=1518307874,
                       conversation={"id": "cnv_keo696", "created_at": 1518307874.673})
    b_reply = _front("zulip_outbound_reply.json", id="evt_b_rep", emitted_at=1518307909.541,
                     conversation={"id": "cnv_keo696", "created_at": 1518307874.673})
    real = [(DATA / "webhooks" / "front" / name).read_bytes() for name in (
        "zulip_outbound_reply.json", "zulip_comment.json", "zulip_conversation_assigned.json",
        "zulip_conversation_archived.json", "zulip_conversation_reopened.json")]
    worker = start_worker("w1").wait_ready()
    for body in shuffled_twice([a_inbound, b_inbound, b_reply, *real], seed=3):
        assert post(gateway, "front", body) == 200
    report = kpis_matching(
        worker, "2018-02-11T00:46:00Z",
        lambda r: (r["windows"]["24h"]["overall"]["assigned"] == 1
                   and r["windows"]["24h"]["overall"]["reopened"] == 1
                   and r["windows"]["24h"]["overall"]["first_response_seconds"]["count"] == 2),
        "every Front delivery to count")
    overall = report["windows"]["24h"]["overall"]
    a_first, b_first = 2142.896 - 2003.872, 709.541 - 674.673
    assert overall["conversations_created"] == 2
    assert overall["first_response_seconds"]["avg"] == pytest.approx((a_first + b_first) / 2,
                                                                    abs=1e-9)
    assert overall["first_response_business_seconds"]["avg"] == 0
    assert overall["conversations_resolved"] == 1
    assert overall["resolution_seconds"]["avg"] == pytest.approx(766.678 - 674.673, abs=1e-9)
    assert overall["wait_seconds"]["avg"] == pytest.approx(766.678 - 674.673, abs=1e-9)
    assert overall["full_resolution_seconds"]["avg"] == pytest.approx(766.678 - 674.673,
                                                                     abs=1e-9)  # reopen only
    assert overall["pulled"] == 0 and overall["conversations_closed"] == 0
    assert overall["fcr_ratio"] == 0.0  # B was one-touch, then reopened (SPEC §3)
    assert overall["next_response_seconds"]["count"] == 0
    assert overall["sla"]["first_response"] == {"achieved": 2, "breached": 0,
                                                "achieved_ratio": 1.0}
    live = report["live"]["overall"]
    assert (live["open"], live["unassigned"], live["awaiting_first_response"]) == (2, 1, 0)
    teammate = report["windows"]["24h"]["agents"]["front:default:tea_40yq"]
    assert teammate["first_response_seconds"]["count"] == 2
    assert report["live"]["agents"]["front:default:tea_40z6"]["assigned_open"] == 1
    assert report["names"]["agents"] == {"front:default:tea_40yq": "Leela Turanga",
                                         "front:default:tea_40z6": "Bender Rodriguez"}, \
        "the teammates' first and last names"


def test_bad_deliveries_publish_nothing(namespace: Namespace, gateway: GatewayProcess) -> None:
    body = (DATA / "intercom_webhooks_hull" / "conversation_events.jsonl").read_bytes(
        ).splitlines()[0]
    zendesk = (DATA / "webhooks" / "zendesk" / "dust_ticket_created.json").read_bytes()
    before = end_offsets(namespace.bootstrap, namespace.topic)
    letters_before = end_offsets(namespace.bootstrap, namespace.dead_letter_topic)
    assert post(gateway, "intercom", body, secret="not-the-secret") == 401
    assert post(gateway, "zendesk", zendesk, now_s=time.time() - 600) == 401
    assert post(gateway, "zendesk", zendesk, now_s=time.time() + 600) == 401
    assert gateway.post("/webhooks/front", body, {"Content-Type": "application/json"}) == 401
    assert post(gateway, "intercom", b'{"topic": "conversation.user.replied"}') == 200
    assert end_offsets(namespace.bootstrap, namespace.topic) == before
    assert end_offsets(namespace.bootstrap, namespace.dead_letter_topic) == letters_before + 1
    assert post(gateway, "zendesk", zendesk) == 200
    assert end_offsets(namespace.bootstrap, namespace.topic) == before + 1
    metrics = gateway.get("/metrics").decode()
    assert 'support_gateway_deliveries_total{outcome="signature_bad",vendor="intercom"} 1.0' \
        in metrics
    assert 'support_gateway_deliveries_total{outcome="stale",vendor="zendesk"} 2.0' in metrics
    assert 'support_gateway_deliveries_total{outcome="signature_missing",vendor="front"} 1.0' \
        in metrics
    log = (namespace.tmp / "gateway.log").read_text()
    for said in ("intercom: delivery refused (401): the signature does not match",
                 "zendesk: delivery refused (401): the signed timestamp is more than 300 s",
                 "front: delivery refused (401): no signature header"):
        assert said in log, said
    assert 'support_gateway_mapping_failures_total{vendor="intercom"} 1.0' in metrics


def test_kafka_unreachable_is_503_so_the_vendor_retries(tmp_path: Path) -> None:
    """SPEC §7: 2xx only once Kafka acknowledged; 503 while it is unavailable."""
    from fixtures.kafka import load_local_kafka

    broker = load_local_kafka().LocalKafka()
    broker.start()
    process = None
    try:
        namespace = Namespace(broker.bootstrap, tmp_path)
        env = namespace.env(SUPPORT_KPI_GATEWAY_INTERCOM_SECRET=SECRETS["intercom"])
        process = GatewayProcess("gateway", env, tmp_path / "gateway",
                                 log=tmp_path / "gateway.log").start()
        wait_until(process.readiness, 60, "the gateway to answer /healthz")
        bodies = (DATA / "intercom_webhooks_hull" / "conversation_events.jsonl").read_bytes(
            ).splitlines()
        assert post(process, "intercom", bodies[0]) == 200
        assert process.post("/webhooks/zendesk", bodies[0], {}) == 404
        assert process.post("/webhooks/intercm", bodies[0], {}) == 404
        log = (tmp_path / "gateway.log").read_text()
        assert "zendesk webhooks are not enabled here: set SUPPORT_KPI_GATEWAY_ZENDESK_SECRET" \
            in log
        assert "no helpdesk is called 'intercm': the known ones are intercom, zendesk" in log
        assert broker._proc is not None
        broker._proc.send_signal(signal.SIGKILL)
        broker._proc.wait(timeout=30)
        assert post(process, "intercom", bodies[1]) == 503
        wait_until(lambda: process.readiness() is None, 30,
                   "the gateway's /healthz to say Kafka is unreachable")
        metrics = process.get("/metrics").decode()
        assert ('support_gateway_deliveries_total{outcome="kafka_unavailable",'
                'vendor="intercom"} 1.0') in metrics
        process.check_running()
    finally:
        if process is not None:
            process.stop(signal.SIGKILL)
        broker.stop()

"""The gateway phase: ``support-kpi gateway`` on the local broker, fed signed Intercom
deliveries (the real ones of ``shared/data/intercom_webhooks_hull``, with fresh conversation and
notification ids): deliveries per second with 16 in flight, and the latency of each delivery at a
steady 200 deliveries/s (the gateway answers once Kafka acknowledged its events, so the answer's
latency is the latency to the broker's acknowledgement)."""

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.kafka import Namespace
from service.gateway.signatures import sign
from service.processes import GatewayProcess, poll_until

__all__ = ["gateway_run"]

SECRET = "bench-intercom-secret"
HULL = (Path(__file__).resolve().parents[2] / "shared" / "data" / "intercom_webhooks_hull"
        / "conversation_events.jsonl")


def deliveries(count: int) -> list[bytes]:
    """``count`` Intercom notifications: the real conversation's 11 deliveries, repeated for
    new conversations (ids changed, everything else as Intercom sent it)."""
    templates = [orjson.loads(line) for line in HULL.read_bytes().splitlines() if line.strip()]
    out: list[bytes] = []
    for n in range(count):
        body = dict(templates[n % len(templates)])
        conversation = n // len(templates)
        body["id"] = f"notif_bench_{n}"
        item = dict(body["data"]["item"])
        item["id"] = f"bench{conversation}"
        body["data"] = {**body["data"], "item": item}
        out.append(orjson.dumps(body))
    return out


async def _post(session: aiohttp.ClientSession, url: str, body: bytes) -> float:
    headers = sign("intercom", body, SECRET, time.time())
    headers["Content-Type"] = "application/json"
    started = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"the gateway answered {response.status}")
    return time.perf_counter() - started


async def _throughput(url: str, bodies: list[bytes], in_flight: int) -> float:
    queue = iter(bodies)

    async def lane(session: aiohttp.ClientSession) -> None:
        for body in queue:
            await _post(session, url, body)

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(lane(session) for _ in range(in_flight)))
        return len(bodies) / (time.perf_counter() - started)


async def _paced(url: str, bodies: list[bytes], rate: float) -> list[float]:
    async with aiohttp.ClientSession() as session:
        origin = time.perf_counter()
        tasks = []
        for n, body in enumerate(bodies):
            delay = origin + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_post(session, url, body)))
        return list(await asyncio.gather(*tasks))


def gateway_run(namespace: Namespace, count: int, rate: float, seconds: float
                ) -> dict[str, Any]:
    env = dict(namespace.env(), SUPPORT_KPI_GATEWAY_INTERCOM_SECRET=SECRET)
    gateway = GatewayProcess("gateway", env, namespace.workdir / namespace.tag / "gateway",
                             log=namespace.workdir / f"{namespace.tag}-gateway.log").start()
    try:
        poll_until(gateway.readiness, 60, "the gateway to answer /healthz")
        url = f"{gateway.url}/webhooks/intercom"
        bodies = deliveries(count + int(rate * seconds))
        per_s = asyncio.run(_throughput(url, bodies[:count], 16))
        latencies = sorted(asyncio.run(_paced(url, bodies[count:], rate)))
    finally:
        gateway.stop()

    def quantile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))]

    return {"deliveries": count, "deliveries_per_s": per_s, "rate": rate,
            "paced_deliveries": len(latencies), "p50_seconds": quantile(0.5),
            "p99_seconds": quantile(0.99)}

"""``support-kpi simulate --gateway URL``: the simulator's live traffic posted to a gateway as
signed vendor webhooks (:mod:`service.gateway.shapes`), so the demo exercises signatures,
mapping and publishing as a helpdesk would."""

import asyncio
import time
from dataclasses import dataclass
from typing import TextIO

import aiohttp

from service.desk import IncidentPlan
from service.gateway.shapes import IntercomShapes
from service.gateway.signatures import sign
from service.partitioning import event_key, partition_for
from service.publish import live_traffic

__all__ = ["WebhookStats", "simulate_webhooks"]


@dataclass
class WebhookStats:
    events: int = 0
    """Canonical events simulated."""
    deliveries: int = 0
    """Webhooks the gateway answered 2xx."""
    skipped: int = 0
    """Events Intercom cannot send (QA reviews, NPS/CES)."""
    refused: int = 0
    """Webhooks answered otherwise (the last status in ``error``)."""
    error: str | None = None


LANES = 16
"""Webhooks in flight at once: one sender per lane, each conversation (or agent) always in the
same lane, so its notifications arrive in order, as a helpdesk sends them."""


async def simulate_webhooks(url: str, secret: str, rate: float | None, agents: int,
                            duration_s: float | None = None, seed: int = 0,
                            progress: TextIO | None = None,
                            stats: WebhookStats | None = None,
                            backfill_s: float = 0,
                            incident: IncidentPlan | None = None) -> WebhookStats:
    """Post Intercom-shaped, signed notifications of live traffic (see :func:`live_traffic`:
    ``rate`` events/s, None: sized to the staff; ``incident``) to ``url`` (…/webhooks/
    intercom), for ``duration_s`` seconds (None: until cancelled); the ``backfill_s`` seconds
    before now first, up to :data:`LANES` at once. Raises aiohttp.ClientError when the gateway
    cannot be reached."""
    stats = stats if stats is not None else WebhookStats()
    shapes = IntercomShapes()
    started = time.monotonic()
    lanes: list[asyncio.Queue[bytes | None]] = [asyncio.Queue(64) for _ in range(LANES)]
    failures: list[aiohttp.ClientError] = []
    refused = asyncio.Event()

    async def send(session: aiohttp.ClientSession, lane: asyncio.Queue[bytes | None]) -> None:
        while (body := await lane.get()) is not None:
            if refused.is_set() or failures:
                continue
            headers = {**sign("intercom", body, secret, time.time()),
                       "content-type": "application/json"}
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
            except aiohttp.ClientError as error:
                failures.append(error)
                continue
            if response.status < 300:
                stats.deliveries += 1
                continue
            stats.refused += 1
            stats.error = f"the gateway answered {response.status}"
            if response.status in (401, 404):
                stats.error += (" (401: SUPPORT_KPI_GATEWAY_INTERCOM_SECRET differs from the "
                                "gateway's; 404: the gateway has no Intercom secret)")
                refused.set()

    async with aiohttp.ClientSession() as session:
        senders = [asyncio.create_task(send(session, lane)) for lane in lanes]
        try:
            async for event in live_traffic(rate, agents, seed, backfill_s, incident):
                if refused.is_set() or failures or (
                        duration_s is not None and time.monotonic() - started >= duration_s):
                    break
                stats.events += 1
                body = shapes.notification(event)
                if body is None:
                    stats.skipped += 1
                    continue
                await lanes[partition_for(event_key(event) or b"", LANES)].put(body)
                if progress is not None and stats.events % 100 == 0:
                    print(f"\r  simulated {stats.events:,} events as {stats.deliveries:,} "
                          "webhooks", end="", file=progress, flush=True)
        except BaseException:
            for sender in senders:
                sender.cancel()
            raise
        for lane in lanes:
            await lane.put(None)
        await asyncio.gather(*senders)
    if failures:
        raise failures[0]
    return stats

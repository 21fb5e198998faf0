"""``support-kpi gateway``: helpdesk webhooks in, canonical events on Kafka out (SPEC §7).

For each ``POST /webhooks/{vendor}``: the body is read up to the configured limit (413 past it),
the vendor's signature is checked over the raw bytes (401 without detail), the delivery is mapped
by the vendor's pure mapper (``service.gateway.vendors``), the helpdesk groups, inboxes and
mailboxes the KPI configuration maps to a team are given that team's key
(``teams.<team>.sources``), the events are validated against the
event schemas and published (idempotent producer, ``acks=all``); the answer is 200 only once
Kafka acknowledged them, 503 while it does not (the vendor retries; ids are deterministic, so a
retry is a duplicate downstream). A delivery that verified but cannot be mapped goes to the
dead-letter topic with the reason and is answered 200, so the vendor does not retry it forever.
Types without a KPI are answered 200 and counted. ``HEAD /webhooks/{vendor}`` answers 200 for a
configured vendor (Intercom checks the URL that way), and Front's set-up challenge is answered
``{"challenge": …}`` once verified (Front's application-webhook validation).
``GET /healthz``, ``GET /metrics``.
"""

import asyncio
import importlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import ValidationError

from schemas import event_adapter
from service.access import bearer_token, token_matches
from service.config import ConfigError
from service.config import load_config as load_kpi_config
from service.gateway.canonical import (
    RECEIVED_AT_HEADER,
    Mapped,
    Unmappable,
    rfc3339,
    with_teams,
)
from service.gateway.publisher import GatewayPublisher, KafkaUnavailable
from service.gateway.signatures import VENDORS, Verdict, verify
from service.ingest import Rejection, describe_error, shorten
from service.names import Directory
from service.settings import Settings
from service.stream.dead_letters import webhook_dead_letter
from service.stream.reachability import PROBE_INTERVAL_S, KafkaReachability

__all__ = ["GatewayConfig", "GatewayConfigError", "GatewayMetrics", "build_app", "load_config"]

log = logging.getLogger(__name__)

MAX_SIGNATURE_AGE_S = 300.0
Mapper = Callable[[bytes, Mapping[str, str], str | None], Mapped]
MAPPERS: dict[str, Mapper] = {
    vendor: importlib.import_module(f"service.gateway.vendors.{vendor}").map_delivery
    for vendor in VENDORS}


class GatewayConfigError(ValueError):
    """A secrets file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class GatewayConfig:
    """Per vendor: the webhook secret (a vendor without one is not served) and the tenant that
    namespaces its ids when its bodies carry none."""

    secrets: Mapping[str, str]
    tenants: Mapping[str, str] = field(default_factory=dict)
    max_body_bytes: int = 1_048_576
    max_age_s: float = MAX_SIGNATURE_AGE_S
    token: str | None = None
    """The operator token ``/metrics`` needs when set (``SUPPORT_KPI_TOKEN``)."""
    directory: Directory = field(default_factory=Directory)
    """The teams the KPI configuration maps helpdesk groups, inboxes and mailboxes to."""


def load_config(settings: Settings) -> GatewayConfig:
    """Secrets from ``SUPPORT_KPI_GATEWAY_<VENDOR>_SECRET``, overlaid by the secrets file (both
    are read; the file wins for a vendor in both): a mapping of vendor to a secret, or to
    ``{secret: …, tenant: …}``. GatewayConfigError names the variable or the file and key."""
    secrets: dict[str, str] = {}
    tenants: dict[str, str] = {}
    for vendor in VENDORS:
        value = getattr(settings, f"gateway_{vendor}_secret")
        if value is not None:
            secrets[vendor] = _usable(value.get_secret_value(),
                                      f"SUPPORT_KPI_GATEWAY_{vendor.upper()}_SECRET")
    path = settings.gateway_secrets_file
    if path is not None:
        for vendor, entry in _read_secrets_file(path).items():
            where = f"{path}: {vendor}"
            if vendor not in VENDORS:
                raise GatewayConfigError(f"{where}: unknown vendor; use one of "
                                         f"{', '.join(VENDORS)}")
            if isinstance(entry, dict) and set(entry) - {"secret", "tenant"}:
                unknown = ", ".join(sorted(str(k) for k in set(entry) - {"secret", "tenant"}))
                raise GatewayConfigError(f"{where}: unknown key(s) {unknown}; use secret and "
                                         "tenant")
            secret = entry.get("secret") if isinstance(entry, dict) else entry
            if not isinstance(secret, str):
                raise GatewayConfigError(f"{where}: give a secret string or "
                                         "{secret: …, tenant: …}")
            secrets[vendor] = _usable(secret, where)
            if isinstance(entry, dict) and entry.get("tenant") is not None:
                tenants[vendor] = str(entry["tenant"])
    token = settings.token.get_secret_value() if settings.token is not None else None
    try:
        directory = load_kpi_config(settings.config).directory()
    except ConfigError as error:
        raise GatewayConfigError(str(error)) from None
    return GatewayConfig(secrets, tenants, settings.gateway_max_body_bytes, token=token,
                         directory=directory)


def _usable(secret: str, where: str) -> str:
    """A secret that verifies something: an empty or blank one would let anyone sign."""
    if not secret.strip():
        raise GatewayConfigError(f"{where}: the secret is empty; give the vendor's webhook "
                                 "secret (an empty one would accept forged deliveries)")
    return secret


def _read_secrets_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as error:
        raise GatewayConfigError(f"{path}: cannot read ({error.strerror})") from None
    except yaml.YAMLError:
        raise GatewayConfigError(f"{path}: not YAML or JSON") from None
    if not isinstance(data, dict):
        raise GatewayConfigError(f"{path}: expected a mapping of vendor to secret")
    return data


class GatewayMetrics:
    """The gateway's own metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.deliveries = Counter(
            "support_gateway_deliveries", "Webhook deliveries by vendor and outcome (published, "
            "ignored, dead_lettered, signature_missing, signature_bad, stale, too_large, "
            "kafka_unavailable)",
            ["vendor", "outcome"], registry=self.registry)
        self.published = Counter(
            "support_gateway_events_published", "Canonical events published, by vendor",
            ["vendor"], registry=self.registry)
        self.mapping_failures = Counter(
            "support_gateway_mapping_failures", "Verified deliveries that could not be mapped "
            "(dead-lettered), by vendor", ["vendor"], registry=self.registry)
        self.latency = Histogram(
            "support_gateway_latency_seconds", "From a delivery's arrival to the answer "
            "(after Kafka's acknowledgement for published events), by vendor", ["vendor"],
            registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


def build_app(config: GatewayConfig, publisher: GatewayPublisher,
              clock: Callable[[], float] = time.time,
              metrics: GatewayMetrics | None = None,
              kafka: KafkaReachability | None = None) -> web.Application:
    """The aiohttp application; it starts and stops ``publisher`` with itself, and, given
    ``kafka``, probes it every few seconds: while Kafka does not answer, ``/healthz`` is 503
    and deliveries are answered 503 at once (vendors give up after about 5 s)."""
    metrics = metrics or GatewayMetrics()
    app = web.Application(client_max_size=config.max_body_bytes)
    probing: list[asyncio.Task[None]] = []

    async def watch_kafka() -> None:
        assert kafka is not None
        while True:
            await kafka.probe()
            await asyncio.sleep(PROBE_INTERVAL_S)

    async def start(_: web.Application) -> None:
        await publisher.start()
        if kafka is not None:
            probing.append(asyncio.create_task(watch_kafka()))

    async def stop(_: web.Application) -> None:
        for task in probing:
            task.cancel()
        if kafka is not None:
            await kafka.close()
        await publisher.stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)

    def outcome(vendor: str, name: str, started: float) -> None:
        metrics.deliveries.labels(vendor, name).inc()
        metrics.latency.labels(vendor).observe(time.perf_counter() - started)

    async def webhook(request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        vendor = request.match_info["vendor"]
        secret = config.secrets.get(vendor)
        if secret is None:
            return not_served(vendor)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            log.warning("%s: a delivery over %d bytes refused (413)", vendor,
                        config.max_body_bytes)
            outcome(vendor, "too_large", started)
            raise
        headers = {key.lower(): value for key, value in request.headers.items()}
        headers[RECEIVED_AT_HEADER] = rfc3339(datetime.fromtimestamp(clock(), UTC))
        verdict = verify(vendor, body, headers, secret, clock(), config.max_age_s)
        if verdict is not Verdict.OK:
            name, reason = refusals[verdict]
            log.warning(f"{vendor}: delivery refused (401): {reason}")
            outcome(vendor, name, started)
            return web.Response(status=401)
        challenge = headers.get("x-front-challenge")
        if vendor == "front" and challenge is not None:
            outcome(vendor, "ignored", started)
            return web.json_response({"challenge": challenge})
        try:
            try:
                mapped = MAPPERS[vendor](body, headers, config.tenants.get(vendor))
                with_teams(mapped.events, config.directory)
                _validate(mapped)
            except Unmappable as error:
                log.warning("%s: a verified delivery cannot be mapped (%s); dead-lettered",
                            vendor, error)
                await _dead_letter(vendor, "unmappable", str(error), body)
                outcome(vendor, "dead_lettered", started)
                return web.json_response({"dead_lettered": str(error)})
            except Exception as error:
                log.warning("%s: mapping failed (%s)", vendor, type(error).__name__,
                            exc_info=True)
                await _dead_letter(vendor, "processing_error",
                                   f"{type(error).__name__}: {error}", body)
                outcome(vendor, "dead_lettered", started)
                return web.json_response({"dead_lettered": type(error).__name__})
            if not mapped.events:
                outcome(vendor, "ignored", started)
                return web.json_response({"ignored": mapped.kind})
            if kafka is not None and not kafka.up:
                raise KafkaUnavailable("the Kafka probe fails")
            await publisher.publish(mapped.events)
        except KafkaUnavailable as error:
            log.warning("%s: Kafka unavailable, answering 503 (%s)", vendor, error)
            outcome(vendor, "kafka_unavailable", started)
            return web.json_response({"error": "Kafka is unavailable; retry later"},
                                     status=503, headers={"Retry-After": "30"})
        metrics.published.labels(vendor).inc(len(mapped.events))
        outcome(vendor, "published", started)
        return web.json_response({"events": len(mapped.events)})

    async def _dead_letter(vendor: str, reason: str, error: str, body: bytes) -> None:
        metrics.mapping_failures.labels(vendor).inc()
        await publisher.dead_letter(webhook_dead_letter(
            Rejection(reason, shorten(error, 500), body), vendor, vendor.encode()))

    # A log template per reason: repeats are held back per template, so each reason is logged.
    refusals = {
        Verdict.MISSING: ("signature_missing", "no signature header it can read (the sender "
                          "does not sign, or a proxy drops the header)"),
        Verdict.BAD: ("signature_bad", "the signature does not match (another secret than "
                      "the sender's, or a body changed on the way)"),
        Verdict.STALE: ("stale", f"the signed timestamp is more than {config.max_age_s:g} s "
                        "from this machine's clock, in the past or the future (a replay, or a "
                        "clock off on either side)"),
    }

    def not_served(vendor: str) -> web.StreamResponse:
        """404 naming what is wrong: a helpdesk without a secret here, or an unknown name."""
        served = ", ".join(sorted(config.secrets)) or "none"
        if vendor in VENDORS:
            error = (f"{vendor} webhooks are not enabled here: set "
                     f"SUPPORT_KPI_GATEWAY_{vendor.upper()}_SECRET (or {vendor} in "
                     f"SUPPORT_KPI_GATEWAY_SECRETS_FILE) and restart the gateway; served: "
                     f"{served}")
            log.warning(f"{vendor}: a delivery refused (404): {error}")
        else:
            error = (f"no helpdesk is called {shorten(vendor, 40)!r}: the known ones are "
                     f"{', '.join(VENDORS)}; served here: {served}")
            log.warning("a delivery refused (404): %s", error)
        return web.json_response({"error": error}, status=404)

    async def check(request: web.Request) -> web.StreamResponse:
        vendor = request.match_info["vendor"]
        return web.Response(status=200) if vendor in config.secrets else not_served(vendor)

    async def healthz(_: web.Request) -> web.StreamResponse:
        if kafka is not None and not kafka.up:
            return web.json_response({"status": "kafka_unreachable",
                                      "vendors": sorted(config.secrets)}, status=503)
        return web.json_response({"status": "ok", "vendors": sorted(config.secrets)})

    async def prometheus(request: web.Request) -> web.StreamResponse:
        if config.token is not None and not token_matches(
                bearer_token(request.headers.get("Authorization")), config.token):
            return web.json_response({"error": "missing or wrong bearer token "
                                      "(Authorization: Bearer …)"}, status=401)
        return web.Response(body=generate_latest(metrics.registry),
                            content_type=CONTENT_TYPE_LATEST.split(";")[0])

    app.router.add_post("/webhooks/{vendor}", webhook)
    app.router.add_route("HEAD", "/webhooks/{vendor}", check)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", prometheus)
    return app


def _validate(mapped: Mapped) -> None:
    """Every event the mapper made must be a valid canonical event (a mapper bug otherwise)."""
    for event in mapped.events:
        try:
            event_adapter.validate_python(event)
        except ValidationError as error:
            raise ValueError(f"the mapper made an invalid {event.get('type')} event: "
                             f"{describe_error(error)}") from None

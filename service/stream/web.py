"""HTTP on each worker: /metrics, /kpis, /healthz, /readyz (bound to 127.0.0.1 unless
configured). /kpis and /metrics hold per-agent performance data: with ``SUPPORT_KPI_TOKEN`` set
both require ``Authorization: Bearer <token>`` (Prometheus: ``authorization`` in the scrape
config); the health endpoints stay open for probes, /readyz with its status only."""

import hmac
import time
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from service.engine.engine import format_time
from service.metrics.collector import KpiCollector
from service.timefmt import parse_as_of

if TYPE_CHECKING:
    from service.stream.app import KpiService

__all__ = ["register_routes"]


def _now_ms() -> int:
    return int(time.time() * 1000)


def register_routes(service: "KpiService") -> None:
    app = service.app
    kpi_registry = CollectorRegistry(auto_describe=False)
    kpi_registry.register(KpiCollector(lambda: service.report(_now_ms()),
                                       service.config.metrics.agent_kpis))
    token = service.settings.token

    def authorized(request: Any) -> bool:
        if token is None:
            return True
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token.get_secret_value()}".encode())

    def update_health() -> bool:
        """Refresh the gauges read at scrape time; True when the worker is ready."""
        health = service.health
        kafka_up = service.kafka.up
        ready = kafka_up and service.recovered and bool(service.app.assignor.assigned_actives())
        health.ready.set(1 if ready else 0)
        health.kafka_up.set(1 if kafka_up else 0)
        if not kafka_up:
            health.lag_unknown()
            return False
        consumer: Any = service.app.consumer
        highwaters = {}
        sources = {service.settings.topic, service.settings.facts_topic}
        for tp in service.app.assignor.assigned_actives():
            if tp.topic not in sources:
                continue
            try:
                highwaters[tp] = consumer.highwater(tp)
            except (KeyError, AssertionError, AttributeError):
                continue
        committed: Any = getattr(consumer, "_committed_offset", {})
        health.update_lag({tp: hw for tp, hw in highwaters.items() if hw is not None},
                          {tp: committed.get(tp) for tp in highwaters})
        for level, count in service.owner_summary().items():
            health.owned_keys.labels(level).set(count)
        return ready

    def denied(web: Any) -> Any:
        return web.json({"error": "missing or wrong bearer token (Authorization: Bearer …)"},
                        status=401)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        if not authorized(request):
            return denied(web)
        update_health()
        body = generate_latest(service.health.registry) + generate_latest(kpi_registry)
        return web.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/kpis")
    async def kpis(web: Any, request: Any) -> Any:
        if not authorized(request):
            return denied(web)
        as_of = request.query.get("as_of")
        try:
            as_of_ms = _now_ms() if as_of is None else parse_as_of(as_of)
        except ValueError as error:
            return web.json({"error": f"as_of: {error}"}, status=400)
        return web.bytes(orjson.dumps(service.report(as_of_ms)), content_type="application/json")

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        """200 ``{"status": "ready"}``, or 503 with ``kafka_unreachable`` (and ``since``) or
        ``recovering``; with the token (or none configured), also the owned keys, the events
        processed and rejected, and the lag per topic."""
        ready = update_health()
        down_since = service.kafka.down_since
        body: dict[str, Any]
        if ready:
            body = {"status": "ready"}
        elif down_since is not None:
            body = {"status": "kafka_unreachable",
                    "since": format_time(int(down_since * 1000))}
        else:
            body = {"status": "recovering"}
        if authorized(request):
            health = service.health
            body.update({"owned": service.owner_summary(), "events": health.processed_total,
                         "rejected": health.rejected_total,
                         "lag": health.total_lag() if down_since is None else None})
        return web.json(body, status=200 if ready else 503)

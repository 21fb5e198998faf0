"""HTTP on each worker: /metrics, /kpis, /healthz, /readyz (bound to 127.0.0.1 unless
configured). /kpis and /metrics hold per-agent performance data: with ``SUPPORT_KPI_TOKEN`` set
both require ``Authorization: Bearer <token>`` (Prometheus: ``authorization`` in the scrape
config); the health endpoints stay open for probes, /readyz with its status only."""

import hmac
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from service.engine.engine import format_time
from service.metrics.collector import KpiCollector, TeamGoals
from service.stream.health import Health
from service.timefmt import parse_as_of

__all__ = ["Worker", "register_routes"]


class Worker(Protocol):
    """What the endpoints read of a worker (``KpiService``); none of it changes the KPI
    state."""

    @property
    def health(self) -> Health: ...
    @property
    def kafka_down_since(self) -> float | None: ...
    def report(self, as_of_ms: int) -> dict[str, Any]: ...
    def owner_summary(self) -> dict[str, int]: ...
    def update_health(self) -> bool:
        """Refresh the health gauges read at scrape time; True when the worker is ready."""
        ...


def _now_ms() -> int:
    return int(time.time() * 1000)


def register_routes(app: Any, service: Worker, token: Any,
                    agent_kpis: Sequence[str] | None,
                    teams: Callable[[str], TeamGoals] | None = None) -> None:
    """The pages on faust's web server ``app``; ``token`` (a secret or None) guards the KPI
    data, ``agent_kpis`` the per-agent gauges (``metrics.agent_kpis``), ``teams`` resolves a
    team's configured targets for their gauges."""
    kpi_registry = CollectorRegistry(auto_describe=False)
    kpi_registry.register(KpiCollector(lambda: service.report(_now_ms()), agent_kpis, teams))
    update_health = service.update_health

    def authorized(request: Any) -> bool:
        if token is None:
            return True
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token.get_secret_value()}".encode())

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
        down_since = service.kafka_down_since
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

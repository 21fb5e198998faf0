"""HTTP on each worker: /metrics, /kpis, /conversations, /explain, the feedback pages, /owners,
/healthz, /readyz (bound to 127.0.0.1 unless configured). All but the health endpoints hold
per-agent data: with ``SUPPORT_KPI_TOKEN`` set they require ``Authorization: Bearer <token>``
(Prometheus: ``authorization`` in the scrape config; an agent's feedback page also opens with
that agent's token); the health endpoints stay open for probes, /readyz with its status
only.

A team or agent named in a request that the worker holding it knows nothing of is a 404 naming
it (:mod:`service.names`); an ``as_of`` before what the panes still cover, or more than a day
after the worker's clock, is a 400 saying which times it can answer."""

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import orjson
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from service.access import bearer_token, given_token, token_matches
from service.engine.explain import ExplainError, check_request
from service.engine.feedback import token_opens
from service.engine.owner_keys import Owner, agent_owner, owner_for, team_owner
from service.engine.queue import DEFAULT_QUEUE_LIMIT, QUEUE_STATES
from service.engine.records import format_time
from service.metrics.collector import TeamGoals
from service.metrics.exposition import KpiExposition
from service.names import UnknownName
from service.stream.health import Health
from service.stream.progress import STALL_READY_S
from service.timefmt import parse_as_of

__all__ = ["Worker", "register_routes"]


class Worker(Protocol):
    """What the endpoints read of a worker (``KpiService``); none of it changes the KPI
    state."""

    @property
    def health(self) -> Health: ...
    @property
    def kafka_down_since(self) -> float | None: ...
    @property
    def stalled_seconds(self) -> float:
        """Seconds input has waited with nothing applied (:mod:`service.stream.progress`)."""
        ...
    def report(self, as_of_ms: int) -> dict[str, Any]: ...
    def queue(self, state: str, as_of_ms: int, team: str | None, agent: str | None,
              limit: int) -> dict[str, Any]:
        """The ``/conversations`` answer (``service.engine.queue.queue_listing``)."""
        ...
    def feedback(self, level: str, key: str, as_of_ms: int) -> dict[str, Any] | None:
        """An agent's or team's feedback page (``service.engine.feedback``), or None when its
        key belongs to another worker."""
        ...
    def explain(self, kpi: str, level: str, key: str | None, window: str,
                as_of_ms: int) -> dict[str, Any]:
        """This worker's part of the facts behind one windowed value
        (``service.stream.reads.explain_part``)."""
        ...
    @property
    def undecodable_deltas(self) -> int:
        """Messages of the deltas topic dead-lettered because they did not decode."""
        ...
    def owner_summary(self) -> dict[str, int]: ...
    def known_names(self) -> dict[str, list[str]]:
        """``/owners``: {"teams": [...], "agents": [...]} held here (configured teams too)."""
        ...
    def unknown(self, named: Sequence[Owner]) -> UnknownName | None:
        """The first named team or agent this worker holds and knows nothing of."""
        ...
    def earliest_as_of_ms(self) -> int | None:
        """The earliest as-of the panes held here still answer (None: no bound yet)."""
        ...
    def update_health(self) -> bool:
        """Refresh the health gauges read at scrape time; True when the worker is ready."""
        ...


MAX_QUEUE_LIMIT = 10_000
AS_OF_AHEAD_MS = 24 * 3_600_000
"""How far after the worker's clock an ``as_of`` may be: a report looks back from its as-of,
and nothing later than now is known yet."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _as_of_ms(request: Any, earliest_ms: int | None) -> int | str:
    """The ``as_of`` query parameter in epoch ms (default: now), or the error to answer 400:
    not a time, before ``earliest_ms`` (what the panes still cover) or more than
    :data:`AS_OF_AHEAD_MS` after now."""
    as_of = request.query.get("as_of")
    now = _now_ms()
    if as_of is None:
        return now
    try:
        at_ms = parse_as_of(as_of)
    except ValueError as error:
        return f"as_of: {error}"
    if earliest_ms is not None and at_ms < earliest_ms:
        return (f"as_of: {as_of} is before {format_time(earliest_ms)}, the earliest time this "
                "worker can answer: its panes keep the retention behind the latest event time, "
                "and a report's 24h window must lie inside it; ask for a later time")
    if at_ms > now + AS_OF_AHEAD_MS:
        return (f"as_of: {as_of} is more than a day after this worker's clock "
                f"({format_time(now)}); a report looks back from its as-of and nothing after "
                "now is known yet")
    return at_ms


def register_routes(app: Any, service: Worker, token: Any,
                    agent_kpis: Sequence[str] | None,
                    teams: Callable[[str], TeamGoals] | None = None,
                    agent_secret: Any = None) -> None:
    """The pages on faust's web server ``app``; ``token`` (a secret or None) guards the KPI
    data, ``agent_kpis`` the per-agent gauges (``metrics.agent_kpis``), ``teams`` resolves a
    team's configured targets for their gauges, ``agent_secret`` (a secret or None) signs the
    agent tokens that open one agent's feedback page."""
    exposition = KpiExposition(agent_kpis, teams)
    update_health = service.update_health

    def authorized(request: Any) -> bool:
        if token is None:
            return True
        return token_matches(bearer_token(request.headers.get("Authorization")),
                             token.get_secret_value())

    def opens_agent(request: Any, agent: str) -> bool:
        """The operator token, or ``agent``'s own token (header or ``?token=``)."""
        if authorized(request):
            return True
        given = given_token(request.query.get("token"), request.headers.get("Authorization"))
        secret = None if agent_secret is None else agent_secret.get_secret_value()
        return token_opens(given, agent, secret)

    def denied(web: Any) -> Any:
        return web.json({"error": "missing or wrong bearer token (Authorization: Bearer …)"},
                        status=401)

    def as_of_ms_of(request: Any) -> int | str:
        return _as_of_ms(request, service.earliest_as_of_ms())

    def unknown(web: Any, named: Sequence[Owner]) -> Any:
        """The 404 for the first named team or agent this worker holds and does not know,
        else None."""
        found = service.unknown(named)
        return None if found is None else web.json(found.body(), status=404)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        if not authorized(request):
            return denied(web)
        update_health()
        body = (generate_latest(service.health.registry)
                + exposition.render(service.report(_now_ms())))
        return web.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/kpis")
    async def kpis(web: Any, request: Any) -> Any:
        if not authorized(request):
            return denied(web)
        as_of_ms = as_of_ms_of(request)
        if isinstance(as_of_ms, str):
            return web.json({"error": as_of_ms}, status=400)
        return web.bytes(orjson.dumps(service.report(as_of_ms)), content_type="application/json")

    @app.page("/conversations")
    async def conversations(web: Any, request: Any) -> Any:
        """The conversations this worker holds in one live state, most urgent first
        (SPEC §6): ``state`` (required), ``team``, ``agent``, ``limit``, ``as_of``."""
        if not authorized(request):
            return denied(web)
        query = request.query
        state = query.get("state")
        if state not in QUEUE_STATES:
            return web.json({"error": f"state: one of {', '.join(QUEUE_STATES)} is required"},
                            status=400)
        try:
            limit = int(query.get("limit", DEFAULT_QUEUE_LIMIT))
            if not 1 <= limit <= MAX_QUEUE_LIMIT:
                raise ValueError
        except ValueError:
            return web.json({"error": f"limit: a whole number from 1 to {MAX_QUEUE_LIMIT}"},
                            status=400)
        as_of_ms = as_of_ms_of(request)
        if isinstance(as_of_ms, str):
            return web.json({"error": as_of_ms}, status=400)
        team, agent = query.get("team"), query.get("agent")
        refused = unknown(web, [*([team_owner(team)] if team else []),
                                *([agent_owner(agent)] if agent else [])])
        if refused is not None:
            return refused
        listing = service.queue(state, as_of_ms, team, agent, limit)
        return web.bytes(orjson.dumps(listing), content_type="application/json")

    async def feedback(web: Any, request: Any, level: str, key: str) -> Any:
        as_of_ms = as_of_ms_of(request)
        if isinstance(as_of_ms, str):
            return web.json({"error": as_of_ms}, status=400)
        refused = unknown(web, [owner_for(level, key)])
        if refused is not None:
            return refused
        page = service.feedback(level, key, as_of_ms)
        if page is None:
            return web.json({"error": f"{level} {key!r} belongs to another worker: ask every "
                             "worker (support-kpi board merges them)"}, status=404)
        return web.bytes(orjson.dumps(page), content_type="application/json")

    @app.page("/agents/{agent}/feedback")
    async def agent_feedback(web: Any, request: Any, agent: str) -> Any:
        """The agent's ratings and reviews (not those about the product) and 24h KPIs: the
        operator token or the agent's own token."""
        if not opens_agent(request, agent):
            return web.json({"error": "this page needs the operator token or this agent's "
                             "token (support-kpi agent-token AGENT)"}, status=403)
        return await feedback(web, request, "agent", agent)

    @app.page("/teams/{team}/feedback")
    async def team_feedback(web: Any, request: Any, team: str) -> Any:
        """The team's ratings (product ones included) and reviews: the operator token."""
        if not authorized(request):
            return denied(web)
        return await feedback(web, request, "team", team)

    @app.page("/explain")
    async def explain(web: Any, request: Any) -> Any:
        """This worker's part of the facts behind one windowed value (SPEC §6): ``kpi``,
        ``level`` (agent, team, overall), ``key`` (the agent's or team's name), ``window``
        (default 1h), ``as_of``; ``holder`` says whether it holds the owner (its presence
        stretches). ``support-kpi explain`` merges every worker's part."""
        if not authorized(request):
            return denied(web)
        query = request.query
        kpi, level, key = query.get("kpi", ""), query.get("level", ""), query.get("key")
        window = query.get("window", "1h")
        try:
            check_request(kpi, level, key, window)
        except ExplainError as error:
            return web.json({"error": str(error)}, status=400)
        as_of_ms = as_of_ms_of(request)
        if isinstance(as_of_ms, str):
            return web.json({"error": as_of_ms}, status=400)
        if key is not None and level in ("team", "agent"):
            refused = unknown(web, [owner_for(level, key)])
            if refused is not None:
                return refused
        listing = service.explain(kpi, level, key, window, as_of_ms)
        return web.bytes(orjson.dumps(listing), content_type="application/json")

    @app.page("/owners")
    async def owners(web: Any, request: Any) -> Any:
        """The team and agent names this worker holds with data (configured teams too):
        ``{"teams": [...], "agents": [...]}``; every worker's together name all."""
        if not authorized(request):
            return denied(web)
        return web.json(service.known_names())

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        """200 ``{"status": "ready"}``, or 503 with ``kafka_unreachable`` (and ``since``),
        ``stalled`` (input waits and nothing is applied: ``stalled_seconds``, ``waiting``) or
        ``recovering``; with the token (or none configured), also the owned keys, the events
        processed and rejected, the changelog records restored, and the lag per topic."""
        ready = update_health()
        down_since = service.kafka_down_since
        body: dict[str, Any]
        if ready:
            body = {"status": "ready"}
        elif down_since is not None:
            body = {"status": "kafka_unreachable",
                    "since": format_time(int(down_since * 1000))}
        elif service.stalled_seconds >= STALL_READY_S:
            body = {"status": "stalled", "stalled_seconds": round(service.stalled_seconds),
                    "waiting": sum(service.health.lags.values())}
        else:
            body = {"status": "recovering"}
        if service.undecodable_deltas:
            body["undecodable_deltas"] = service.undecodable_deltas
        if authorized(request):
            health = service.health
            body.update({"owned": service.owner_summary(), "events": health.processed_total,
                         "rejected": health.rejected_total,
                         "restored": health.restored_total,
                         "lag": health.total_lag() if down_since is None else None})
        return web.json(body, status=200 if ready else 503)

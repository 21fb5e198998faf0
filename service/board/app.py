"""The board process: asks every worker, merges, renders HTML (``support-kpi board``).

``GET /board`` — the wallboard of every team (:mod:`service.board.views`) by display name, or,
while a worker is catching up (its consumer lag, from ``/readyz``), a notice saying so instead
of numbers that describe a past moment as if it were now;
``GET /agents/{agent}`` — the agent's own feedback page (404 naming the known agents for one
no worker knows); ``GET /reports`` — a KPI per team over days or weeks with the period before,
from the history sink (``SUPPORT_KPI_HISTORY_URL``; :mod:`service.board.reports`), and its last
24 h beside the live window; ``GET /healthz``. The pages reload
themselves every ``SUPPORT_KPI_BOARD_REFRESH_S`` seconds and load nothing from elsewhere.

Access: with ``SUPPORT_KPI_TOKEN`` set, the board needs it (``?token=`` in the URL, so a
wall screen can open it, or a bearer header) and sends it to the workers; an agent's page also
opens with that agent's token (``support-kpi agent-token AGENT``). A worker that does not
answer leaves its keys out, and the page says so.
"""

import asyncio
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from service.access import given_token, token_matches
from service.board.reports import CHARTABLE, chart_series, compare_day, number, report_span
from service.board.views import (
    ALL_TEAMS,
    URGENT_STATES,
    catching_up,
    duration,
    percent,
    team_rows,
)
from service.board.views import urgent_conversations as merge_urgent
from service.engine.feedback import token_opens
from service.engine.records import format_time
from service.engine.report import merge_reports
from service.names import UnknownName

__all__ = ["Board", "board_app", "plotly_bundle"]

URGENT_LIMIT = 10


@dataclass(frozen=True)
class Answer:
    """One worker's answer: its URL, the HTTP status (None: no answer) and the JSON body."""

    url: str
    status: int | None
    body: Any


class Board:
    """The workers behind the pages, and how to ask them."""

    def __init__(self, workers: Sequence[str], token: str | None, agent_secret: str | None,
                 refresh_s: int, timeout_s: float = 10.0, history_url: str | None = None
                 ) -> None:
        """``history_url``: the history sink's HTTP API (the reports page)."""
        self.workers = [url.rstrip("/") for url in workers]
        self.history_url = None if history_url is None else history_url.rstrip("/")
        self.token = token
        self.agent_secret = agent_secret
        self.refresh_s = refresh_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.templates = Environment(loader=PackageLoader("service.board", "templates"),
                                     autoescape=select_autoescape(["html"]))
        self.templates.filters["duration"] = duration
        self.templates.filters["percent"] = percent
        self.templates.globals["number"] = number

    async def ask(self, session: aiohttp.ClientSession, path: str) -> list[Answer]:
        """``path`` on every worker at once."""
        return list(await asyncio.gather(*(self._one(session, url + path)
                                           for url in self.workers)))

    async def _one(self, session: aiohttp.ClientSession, url: str) -> Answer:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with session.get(url, headers=headers) as response:
                return Answer(url, response.status, await response.json())
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return Answer(url, None, None)

    async def ask_history(self, session: aiohttp.ClientSession, path: str) -> Answer:
        """``path`` on the history sink."""
        assert self.history_url is not None
        return await self._one(session, self.history_url + path)

    def operator(self, request: web.Request) -> bool:
        """No token configured, or the operator token given."""
        if self.token is None:
            return True
        return token_matches(_given_token(request), self.token)

    def render(self, template: str, **values: Any) -> web.Response:
        html = self.templates.get_template(template).render(refresh_s=self.refresh_s,
                                                            **values)
        return web.Response(text=html, content_type="text/html",
                            headers={"Cache-Control": "no-store"})


def _given_token(request: web.Request) -> str:
    """``?token=`` (a wall screen's URL), else the bearer token of the header."""
    return given_token(request.query.get("token"), request.headers.get("Authorization"))


@functools.cache
def plotly_bundle() -> bytes:
    """Plotly's JavaScript, from the installed package: the reports page loads nothing from
    elsewhere."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode()


def _now() -> str:
    return format_time(int(time.time() * 1000))


def board_app(board: Board) -> web.Application:
    """The aiohttp application serving ``board``'s pages."""
    app = web.Application()
    session: dict[str, aiohttp.ClientSession] = {}

    async def open_session(_: web.Application) -> None:
        session["s"] = aiohttp.ClientSession(timeout=board.timeout)

    async def close_session(_: web.Application) -> None:
        await session["s"].close()

    app.on_startup.append(open_session)
    app.on_cleanup.append(close_session)

    def refused() -> web.Response:
        return web.Response(status=401, text="This page needs the operator token: add "
                            "?token=… to the URL (SUPPORT_KPI_TOKEN).\n")

    async def index(request: web.Request) -> web.Response:
        raise web.HTTPFound("/board" + (f"?{request.query_string}" if request.query_string
                                        else ""))

    async def wallboard(request: web.Request) -> web.Response:
        if not board.operator(request):
            return refused()
        as_of = _now()
        readiness, reports, *listings = await asyncio.gather(
            board.ask(session["s"], "/readyz"),
            board.ask(session["s"], f"/kpis?as_of={quote(as_of)}"),
            *(board.ask(session["s"], f"/conversations?state={state}&limit={URGENT_LIMIT}"
                        f"&as_of={quote(as_of)}") for state in URGENT_STATES))
        answered = [a.body for a in reports if a.status == 200]
        unanswered = [a.url for a in reports if a.status != 200]
        behind = catching_up(a.body for a in readiness)
        if not answered or behind is not None:
            return board.render("board.html", rows=[], urgent=[], as_of=as_of,
                                unanswered=unanswered, all_teams=ALL_TEAMS,
                                catching_up=behind)
        urgent = merge_urgent((a.body for answers in listings for a in answers
                               if a.status == 200), URGENT_LIMIT)
        report = merge_reports(answered)
        names = {"teams": {}, "agents": {}, **report.get("names", {})}
        return board.render("board.html", rows=team_rows(report), urgent=urgent, names=names,
                            as_of=as_of, unanswered=unanswered, all_teams=ALL_TEAMS,
                            catching_up=None)

    async def agent_page(request: web.Request) -> web.Response:
        agent = request.match_info["agent"]
        if not (board.operator(request)
                or token_opens(_given_token(request), agent, board.agent_secret)):
            return web.Response(status=403, text="This page opens with the agent's own token "
                                "(support-kpi agent-token AGENT) or the operator token.\n")
        as_of = _now()
        answers = await board.ask(session["s"],
                                  f"/agents/{quote(agent, safe='')}/feedback?as_of={quote(as_of)}")
        pages = [a.body for a in answers if a.status == 200]
        unknown = [a.body["unknown"] for a in answers
                   if a.status == 404 and isinstance(a.body, dict) and "unknown" in a.body]
        if unknown and not pages:
            return web.Response(status=404, text=await unknown_name(unknown[0]) + "\n")
        unanswered = [a.url for a in answers if a.status not in (200, 404)]
        page = pages[0] if pages else {"kpis": {}, "ratings": [], "reviews": []}
        return board.render("agent.html", agent=agent, kpis=page["kpis"],
                            ratings=page["ratings"], reviews=page["reviews"], as_of=as_of,
                            unanswered=unanswered)

    async def unknown_name(unknown: dict[str, Any]) -> str:
        """The line for a team or agent its worker does not know, with the names every
        answering worker knows (``/owners``)."""
        level = str(unknown.get("level"))
        known: set[str] = set()
        for answer in await board.ask(session["s"], "/owners"):
            if answer.status == 200 and isinstance(answer.body, dict):
                known.update(answer.body.get(f"{level}s", []))
        return UnknownName.of_answer(unknown, known).message()

    async def reports(request: web.Request) -> web.Response:
        if not board.operator(request):
            return refused()
        kpi = request.query.get("kpi", "first_response_seconds.p90")
        by = request.query.get("by", "day")
        if by not in ("day", "week"):
            return web.Response(status=400, text=f"by: {by!r} is not day or week\n")
        if kpi not in CHARTABLE:
            return web.Response(status=400, text=f"kpi: {kpi!r} is not a KPI the page draws; "
                                f"e.g. {', '.join(CHARTABLE[:4])} (the form lists them all)\n")
        token = request.query.get("token") if board.token else None
        page = {"history_url": board.history_url, "chartable": CHARTABLE, "kpi": kpi, "by": by,
                "token": token, "token_query": f"?token={quote(token)}" if token else ""}
        if board.history_url is None:
            return board.render("reports.html", problem="No history sink is configured (set "
                                "SUPPORT_KPI_HISTORY_URL).", as_of=None, **page)
        state = await board.ask_history(session["s"], "/readyz")
        if state.status is None or not isinstance(state.body, dict):
            return board.render("reports.html", problem=f"The history sink at "
                                f"{board.history_url} does not answer: start it with "
                                "`support-kpi history sink`.", as_of=None, **page)
        if state.body.get("as_of") is None:
            return board.render("reports.html", problem="The history is empty so far: the "
                                "sink has written no facts yet.", as_of=None, **page)
        as_of = str(state.body["as_of"])
        span = report_span(as_of, by)
        periods, day, answers = await asyncio.gather(
            board.ask_history(session["s"], f"/history/report?from={span.start}&to={span.end}"
                              f"&by={by}&compare=1"),
            board.ask_history(session["s"], f"/history/report?from={quote(span.day_from)}"
                              f"&to={quote(span.day_to)}"),
            board.ask(session["s"], f"/kpis?as_of={quote(span.day_to)}"))
        failed = next((a for a in (periods, day) if a.status != 200), None)
        if failed is not None:
            said = failed.body.get("error") if isinstance(failed.body, dict) else None
            return board.render("reports.html", problem=f"The history sink said {failed.status}"
                                f": {said or 'no answer'}", as_of=as_of, **page)
        labels, series = chart_series(periods.body, kpi)
        live = merge_reports([a.body for a in answers if a.status == 200])
        rows = compare_day(day.body["periods"][0]["levels"], live["windows"]["24h"]) \
            if live else []
        chart = {"labels": labels, "kpi": kpi, "by": by,
                 "series": [{"name": s.name, "values": s.values, "previous": s.previous}
                            for s in series]}
        return board.render("reports.html", problem=None, chart=chart, day=rows,
                            day_from=span.day_from, day_to=span.day_to, as_of=as_of,
                            unanswered=[a.url for a in answers if a.status != 200], **page)

    async def plotly(_: web.Request) -> web.Response:
        return web.Response(body=plotly_bundle(), content_type="application/javascript",
                            headers={"Cache-Control": "max-age=86400"})

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_get("/", index)
    app.router.add_get("/board", wallboard)
    app.router.add_get("/agents/{agent}", agent_page)
    app.router.add_get("/reports", reports)
    app.router.add_get("/static/plotly.min.js", plotly)
    app.router.add_get("/healthz", healthz)
    return app

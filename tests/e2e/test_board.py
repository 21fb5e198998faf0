"""The pages in a real browser: two workers fed through real Kafka, ``support-kpi board``
merging them, and Debian's chromium (headless, through chromium-driver and selenium) reading
the numbers on the page, which must be the merged ``/kpis`` at the page's as-of. The agent's
page opens with the agent's own token and refuses another agent's. Screenshots go to the test's
directory, and to ``$SUPPORT_KPI_SCREENSHOTS`` when set (the README's come from there).

The expected values are read from the report JSON here, key by key, not through the board's
own view code.
"""

import os
import shutil
import threading
import time
import urllib.error
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from fixtures.workers import Namespace, WorkerProcess, wait_until
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from service.board.views import CATCHING_UP_MESSAGES
from service.config import KpiConfig
from service.engine.engine import KpiEngine
from service.engine.feedback import agent_token
from service.engine.report import merge_reports
from service.processes import BoardProcess
from service.replay import open_lines, replay_lines
from service.synthetic import TrafficShape, generate_events, iso
from service.timefmt import parse_as_of

OPERATOR_TOKEN = "operator-token-for-the-board"
AGENT_SECRET = "agent-secret-for-the-board"
MINUTE_MS = 60_000


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.fail("chromium and chromium-driver are not installed: run `make test`, which "
                    "installs Debian's packages", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1400,1000",
                     f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(argument)
    chrome = webdriver.Chrome(options=options, service=Service(driver))
    try:
        yield chrome
    finally:
        chrome.quit()


def recent_events(tmp: Path, now_ms: int) -> tuple[Path, int]:
    """A simulated desk whose last 100 minutes end a minute ago: the windows have data and many
    conversations are open. The events file and the as-of after its last event."""
    shape = TrafficShape(conversations=300, agents=16, conversations_per_minute=4,
                         start_ms=now_ms - 100 * MINUTE_MS)
    cut_off = iso(now_ms - MINUTE_MS)
    path = tmp / "events.jsonl"
    last = ""
    with path.open("wb") as out:
        for event in generate_events(shape, seed=5):
            if event["at"] < cut_off:
                out.write(orjson.dumps(event) + b"\n")
                last = max(last, event["at"])
    return path, parse_as_of(last) + 1


def screenshot(browser: webdriver.Chrome, tmp: Path, name: str) -> None:
    browser.save_screenshot(str(tmp / name))
    folder = os.environ.get("SUPPORT_KPI_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(Path(folder) / name))


def cell_values(row: Any) -> dict[str, str]:
    return {cell.get_attribute("data-kpi"): cell.get_attribute("data-value")
            for cell in row.find_elements(By.CSS_SELECTOR, "td[data-kpi]")}


def number(text: str) -> float | None:
    return None if text == "" else float(text)


def expected_row(report: dict[str, Any], team: str | None) -> dict[str, float | None]:
    """The board's cells from the report, as SPEC §6 names them."""
    level = "overall"
    live = report["live"][level] if team is None else report["live"]["teams"].get(team, {})
    hour = (report["windows"]["1h"]["overall"] if team is None
            else report["windows"]["1h"]["teams"].get(team, {}))
    day = (report["windows"]["24h"]["overall"] if team is None
           else report["windows"]["24h"]["teams"].get(team, {}))
    agents = [a for a in report["live"]["agents"].values()
              if team is None or a.get("team") == team]
    return {
        "open": live.get("open", 0),
        "awaiting_first_response": live.get("awaiting_first_response", 0),
        "sla_at_risk": live.get("sla_at_risk", 0),
        "sla_breaching": live.get("sla_breaching", 0),
        "oldest_awaiting_first_response_seconds":
            live.get("oldest_awaiting_first_response_seconds"),
        "available": sum(a.get("status") == "available" for a in agents),
        "busy": sum(a.get("status") == "busy" for a in agents),
        "first_response_p90": (hour.get("first_response_seconds") or {}).get("p90"),
        "sla_achieved_ratio": ((day.get("sla") or {}).get("first_response") or {}).get(
            "achieved_ratio"),
        "csat_positive_ratio": (day.get("csat") or {}).get("positive_ratio"),
    }


def test_board_and_agent_page_show_the_merged_numbers(
        namespace: Namespace, start_worker: Any, tmp_path: Path, browser: webdriver.Chrome,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORT_KPI_TOKEN", OPERATOR_TOKEN)
    monkeypatch.setenv("SUPPORT_KPI_AGENT_SECRET", AGENT_SECRET)
    path, as_of_ms = recent_events(tmp_path, int(time.time() * 1000))
    engine = KpiEngine(KpiConfig())
    replay_lines(engine, open_lines(str(path)), as_of_ms)
    expected = engine.report(as_of_ms)
    workers: list[WorkerProcess] = [start_worker("w1").wait_ready(),
                                    start_worker("w2").wait_ready()]
    namespace.cli("produce", str(path), "--batch", "50")
    as_of = expected["as_of"]
    wait_until(lambda: merge_reports([w.kpis(as_of) for w in workers]) == expected, 120,
               "the two workers' merged report to equal replay")

    board = BoardProcess("board", namespace.env(), tmp_path / "board",
                         [w.url for w in workers], log=tmp_path / "board.log")
    board.start()
    try:
        board.wait_ready(30)
        browser.get(f"{board.url}/board?token={OPERATOR_TOKEN}")
        page_as_of = browser.find_element(By.ID, "as-of").get_attribute("data-value")
        report = merge_reports([w.kpis(page_as_of) for w in workers])
        rows = browser.find_elements(By.CSS_SELECTOR, "#teams tbody tr")
        teams = [row.get_attribute("data-team") for row in rows]
        named = set(report["live"]["teams"]).union(
            *(report["windows"][w]["teams"] for w in ("1h", "24h")))
        assert teams == [*sorted(named), "all teams"]
        for row, team in zip(rows, teams, strict=True):
            shown = {k: number(v) for k, v in cell_values(row).items()}
            assert shown == expected_row(report, None if team == "all teams" else team), team
        busiest = max(report["live"]["teams"].values(), key=lambda t: t["open"])
        assert busiest["open"] > 0, "the simulated desk should have open conversations"
        urgent = [row.get_attribute("data-conversation")
                  for row in browser.find_elements(By.CSS_SELECTOR, "#urgent tbody tr")]
        page_ms = parse_as_of(page_as_of)
        listed = {c["conversation_id"]: c for state in ("breaching", "at_risk", "open")
                  for c in engine.queue(state, page_ms)["conversations"]}
        ranked = sorted(listed.values(), key=lambda c: (
            c["seconds_left"] is None, c["seconds_left"] or 0.0, c["created_at"],
            c["conversation_id"]))
        assert urgent == [c["conversation_id"] for c in ranked[:10]]
        screenshot(browser, tmp_path, "board.png")

        day_agents = expected["windows"]["24h"]["agents"]
        rated = sorted((a for a, values in day_agents.items() if values["csat"]["responses"]),
                       key=lambda a: (-day_agents[a]["csat"]["responses"], a))
        assert len(rated) >= 2, "the simulated desk should have rated agents"
        agent, other = rated[0], rated[1]
        token = agent_token(AGENT_SECRET, agent)
        browser.get(f"{board.url}/agents/{quote(agent)}?token={token}")
        shown_as_of = browser.find_element(By.ID, "as-of").get_attribute("data-value")
        owner_page = _feedback_of(workers, agent, shown_as_of)
        kpis = {card.get_attribute("data-kpi"): number(card.get_attribute("data-value"))
                for card in browser.find_elements(By.CSS_SELECTOR, "#kpis [data-kpi]")}
        assert kpis == {"csat_positive_ratio": owner_page["kpis"]["csat"]["positive_ratio"],
                        "nps_score": (owner_page["kpis"]["nps"] or {}).get("score"),
                        "ces_avg": (owner_page["kpis"]["ces"] or {}).get("avg"),
                        "qa_avg": (owner_page["kpis"]["qa"] or {}).get("avg")}
        scores = [number(cell.get_attribute("data-value")) for cell in
                  browser.find_elements(By.CSS_SELECTOR, "#ratings tbody td[data-value]")]
        assert scores == [r["score"] for r in owner_page["ratings"]]
        comments = [element.text for element in
                    browser.find_elements(By.CSS_SELECTOR, "#ratings blockquote")]
        assert comments == [r["comment"] for r in owner_page["ratings"] if r["comment"]]
        assert all(r["about"] != "product" for r in owner_page["ratings"])
        screenshot(browser, tmp_path, "agent.png")

        browser.get(f"{board.url}/agents/{quote(other)}?token={token}")
        assert "agent's own token" in browser.find_element(By.TAG_NAME, "body").text
        browser.get(f"{board.url}/agents/{quote(agent.upper())}?token={OPERATOR_TOKEN}")
        said = browser.find_element(By.TAG_NAME, "body").text
        assert f"agent {agent.upper()!r} is not known" in said, said
        assert f"did you mean {agent!r}?" in said, said
        browser.get(f"{board.url}/board?token={token}")
        assert "operator token" in browser.find_element(By.TAG_NAME, "body").text
    finally:
        board.stop()


def _feedback(worker: WorkerProcess, agent: str, as_of: str) -> dict[str, Any] | None:
    try:
        page: dict[str, Any] = orjson.loads(
            worker.get(f"/agents/{quote(agent)}/feedback?as_of={as_of}"))
    except urllib.error.HTTPError as error:
        assert error.code == 404
        return None
    return page


def _feedback_of(workers: list[WorkerProcess], agent: str, as_of: str) -> dict[str, Any]:
    (page,) = [p for p in (_feedback(w, agent, as_of) for w in workers) if p is not None]
    return page


class _StubWorker:
    """A worker's HTTP answers the board reads (``/readyz``, ``/kpis``, ``/conversations``),
    served on a loopback port from a thread, with a consumer lag the test sets."""

    def __init__(self, report: dict[str, Any]) -> None:
        self.report = report
        self.lag = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/readyz":
                    body: Any = {"status": "ready", "lag": {"support.events": stub.lag}}
                elif path == "/kpis":
                    body = stub.report
                else:
                    body = {"conversations": [], "state": "open"}
                data = orjson.dumps(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "_StubWorker":
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_board_says_the_workers_are_catching_up_then_shows_the_numbers(
        tmp_path: Path, browser: webdriver.Chrome) -> None:
    """Issue 25: for about 90 s after `make demo` started the board showed the backfill's
    artefacts (716 breaching, "time left -18 h"). While a worker's consumer lag (from its
    /readyz) is over CATCHING_UP_MESSAGES the page says the workers are catching up and shows
    no numbers; once it is live, the numbers."""
    live = {"open": 3, "awaiting_first_response": 1, "sla_at_risk": 0, "sla_breaching": 716,
            "oldest_awaiting_first_response_seconds": 64_800.0}
    report = {"as_of": "2024-03-04T12:00:00.000Z",
              "windows": {w: {"overall": {}, "teams": {}, "agents": {}} for w in ("1h", "24h")},
              "live": {"overall": live, "teams": {"vip": live}, "agents": {}}}
    with _StubWorker(report) as worker:
        board = BoardProcess("board", {k: v for k, v in os.environ.items()
                                       if not k.startswith("SUPPORT_KPI_")},
                             tmp_path / "board", [worker.url], log=tmp_path / "board.log")
        board.start()
        try:
            board.wait_ready(30)
            worker.lag = CATCHING_UP_MESSAGES + 40_000
            browser.get(f"{board.url}/board")
            notice = browser.find_element(By.ID, "catching-up")
            assert int(notice.get_attribute("data-value")) == CATCHING_UP_MESSAGES + 40_000
            assert "catching up" in notice.text and "41,000 messages" in notice.text
            assert browser.find_elements(By.CSS_SELECTOR, "#teams, #urgent") == []
            assert "716" not in browser.find_element(By.TAG_NAME, "body").text
            screenshot(browser, tmp_path, "board-catching-up.png")

            worker.lag = 2
            browser.get(f"{board.url}/board")
            assert browser.find_elements(By.ID, "catching-up") == []
            row = browser.find_element(By.CSS_SELECTOR, "#teams tr[data-team='vip']")
            assert number(cell_values(row)["sla_breaching"]) == 716
        finally:
            board.stop()

"""The board's reports page in a real browser (SPEC §8): a worker fed through real Kafka, the
history sink writing what it sends, ``support-kpi board`` drawing the history with Plotly
served by itself, and Debian's chromium reading the page. The table behind the chart holds the
values of a history filled by replay from the same events (read from its report JSON here, key
by key); the last-24-hours table puts the history beside the live window, equal; the page
loads nothing from elsewhere.
"""

import json
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fixtures.workers import BIN, Namespace, wait_until
from selenium import webdriver
from selenium.webdriver.common.by import By
from test_board import browser, recent_events, screenshot  # noqa: F401 (the fixture)

from service.engine.report import merge_reports
from service.processes import BoardProcess, SinkProcess

OPERATOR_TOKEN = "operator-token-for-the-reports"
KPI = "first_response_seconds.p90"
DAY_MS = 86_400_000


def history_report(namespace: Namespace, db: Path, start: str, end: str) -> dict[str, Any]:
    done = subprocess.run([str(BIN), "history", "report", "--db", str(db), "--from", start,
                           "--to", end, "--by", "day", "--compare", "--format", "json"],
                          capture_output=True, env=namespace.env(), timeout=120, check=True)
    return dict(json.loads(done.stdout))


def level_value(levels: dict[str, Any], name: str) -> float | None:
    values = levels["overall"] if name == "overall" else levels["teams"].get(name, {})
    found = (values.get("first_response_seconds") or {}).get("p90")
    return None if found is None else float(found)


def test_reports_page_draws_the_history_and_puts_the_last_day_beside_the_live_window(
        namespace: Namespace, start_worker: Any, tmp_path: Path, browser: webdriver.Chrome,  # noqa: F811
        ) -> None:
    # 100 minutes of a desk that cross a UTC midnight whatever the hour the test runs, so that
    # the chart's last day has a day before with values: they end at most 50 minutes after the
    # latest midnight (the live windows hold them all).
    now_ms = int(time.time() * 1000)
    path, _ = recent_events(tmp_path, min(now_ms, now_ms - now_ms % DAY_MS + 50 * 60_000))
    replayed_db = tmp_path / "replayed.duckdb"
    namespace.cli("replay", str(path), "--history", str(replayed_db), "--no-pretty")
    env = namespace.env(SUPPORT_KPI_TOKEN=OPERATOR_TOKEN)
    worker = start_worker("w1", SUPPORT_KPI_TOKEN=OPERATOR_TOKEN).wait_ready()
    sink = SinkProcess("sink", env, tmp_path / "sink", log=tmp_path / "sink.log")
    sink.start()
    board = BoardProcess("board", dict(env, SUPPORT_KPI_HISTORY_URL=sink.url),
                         tmp_path / "board", [worker.url], log=tmp_path / "board.log")
    try:
        namespace.cli("produce", str(path), "--batch", "50")
        lines = len(path.read_bytes().splitlines())
        wait_until(lambda: sink.readiness() and sink.state()["lag"] == 0
                   and sum(int(o) for o in sink.state()["positions"].values()) > 0
                   and _applied(worker) >= lines, 120,
                   "the worker to apply every event and the sink to catch up")
        board.start()
        board.wait_ready(30)
        browser.get(f"{board.url}/reports?token={OPERATOR_TOKEN}&kpi={quote(KPI)}&by=day")
        wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#chart .main-svg"), 30,
                   "Plotly to draw the chart")
        sources = [s.get_attribute("src") for s in
                   browser.find_elements(By.CSS_SELECTOR, "script[src]")]
        assert sources == [f"{board.url}/static/plotly.min.js"], sources

        rows = browser.find_elements(By.CSS_SELECTOR, "#periods tbody tr")
        periods = [row.get_attribute("data-period") for row in rows]
        assert len(periods) == 14
        start, end = periods[0][:10], _next_day(periods[-1][:10])
        expected = history_report(namespace, replayed_db, start, end)["periods"]
        levels = ["overall", *sorted({team for period in expected
                                      for team in period["levels"]["teams"]})]
        shown_traces = browser.execute_script(
            "return document.querySelectorAll('#chart .scatterlayer .trace').length")
        assert shown_traces == 2 * len(levels)
        filled = 0
        for row, period in zip(rows, expected, strict=True):
            for name in levels:
                cells = row.find_elements(By.CSS_SELECTOR, f'td[data-level="{name}"]')
                value, previous = (cells[0].get_attribute("data-value"),
                                   cells[1].get_attribute("data-previous"))
                want = level_value(period["levels"], name)
                assert (None if value == "" else float(value)) == want, (period["from"], name)
                before = level_value(period["previous"], name)
                assert (None if previous == "" else float(previous)) == before
                filled += want is not None
        assert filled >= len(levels), "the simulated desk's day should have first responses"
        assert any(row.get_attribute("data-previous") for row in browser.find_elements(
            By.CSS_SELECTOR, "#periods td[data-previous]")), "the day before has values"

        day = browser.find_elements(By.CSS_SELECTOR, "#day tbody tr")
        assert day and all(r.get_attribute("data-equal") == "yes" for r in day), [
            (r.get_attribute("data-level"), r.get_attribute("data-kpi")) for r in day
            if r.get_attribute("data-equal") != "yes"]
        day_to = browser.find_element(By.ID, "day-to").get_attribute("data-value")
        live = merge_reports([worker.kpis(day_to)])["windows"]["24h"]["overall"]
        created = browser.find_element(
            By.CSS_SELECTOR, '#day tr[data-level="overall"][data-kpi="conversations_created"] '
            "td[data-value]:nth-of-type(4)").get_attribute("data-value")
        assert float(created) == live["conversations_created"] > 0
        screenshot(browser, tmp_path, "reports.png")
    finally:
        board.stop()
        sink.stop()


def _applied(worker: Any) -> int:
    """Events the worker has taken (its counters, every type)."""
    total = 0.0
    for line in worker.metrics().splitlines():
        if line.startswith("support_events_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def _next_day(day: str) -> str:
    from datetime import date, timedelta

    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()

"""A real worker's ``GET /metrics`` passes ``promtool check metrics`` (SPEC §6), and the
per-agent KPI set of the config file (``metrics.agent_kpis``) is what it exports per agent."""

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from fixtures.workers import Namespace, wait_until

from service.synthetic import TrafficShape, generate_events, iso

pytestmark = pytest.mark.integration


def _events_file(tmp: Path) -> Path:
    """Traffic of the last 40 minutes (/metrics reports as of now), nothing in the future."""
    now_ms = int(time.time() * 1000)
    cut_off = iso(now_ms - 60_000)
    path = tmp / "events.jsonl"
    with path.open("wb") as out:
        for event in generate_events(TrafficShape(conversations=120, agents=8,
                                                  start_ms=now_ms - 40 * 60_000,
                                                  conversations_per_minute=4), seed=5):
            if event["at"] < cut_off:
                out.write(orjson.dumps(event) + b"\n")
    return path


def _promtool_problems(body: bytes) -> tuple[int, list[str]]:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not on PATH: run `make test` (Debian package `prometheus`)",
                    pytrace=False)
    done = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                          timeout=60, check=False)
    lines = (done.stdout + done.stderr).decode().splitlines()
    return done.returncode, [line for line in lines if line.strip()]


def _scrape_with_agents(worker: Any) -> str:
    def ready() -> str | None:
        text: str = worker.metrics()
        has = ("support_agent_first_response_samples{" in text
               and "support_team_first_response_samples{" in text)
        return text if has else None

    return str(wait_until(ready, 120, "agent and team series on /metrics"))


def test_a_real_scrape_passes_promtool_check_metrics(namespace: Namespace, start_worker: Any,
                                                     tmp_path: Path) -> None:
    namespace.cli("produce", str(_events_file(tmp_path)), "--batch", "50")
    worker = start_worker("w1").wait_ready()
    text = _scrape_with_agents(worker)
    code, problems = _promtool_problems(text.encode())
    assert code == 0 and not problems, "\n".join(problems)
    assert "_seconds_count{" not in text.replace("support_processing_latency_seconds_count", "")
    # the default per-agent set: the core KPIs, not every one
    assert "support_agent_sla_first_response_achieved{" in text
    assert "support_agent_wait_seconds{" not in text
    assert "support_team_wait_seconds{" in text


def test_agent_kpis_from_the_config_file(namespace: Namespace, start_worker: Any,
                                         tmp_path: Path) -> None:
    config = tmp_path / "kpi.yaml"
    config.write_text("metrics:\n  agent_kpis: [first_response_seconds, status]\n")
    namespace.cli("produce", str(_events_file(tmp_path)), "--batch", "50")
    worker = start_worker("w1", SUPPORT_KPI_CONFIG=str(config)).wait_ready()
    text = _scrape_with_agents(worker)
    agent_families = {line.split()[2] for line in text.splitlines()
                      if line.startswith("# TYPE support_agent_")}
    assert agent_families == {"support_agent_first_response_seconds",
                              "support_agent_first_response_samples", "support_agent_status",
                              "support_agent_info"}
    assert "support_team_sla_first_response_achieved{" in text
    code, problems = _promtool_problems(text.encode())
    assert code == 0 and not problems, "\n".join(problems)
    # /kpis is unchanged: every key for every agent
    agents = worker.kpis()["windows"]["24h"]["agents"]
    assert agents and all("sla" in kpis and "wait_seconds" in kpis for kpis in agents.values())

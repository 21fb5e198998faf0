"""End to end: the demo's Prometheus (no external labels) expands each alert's runbook link to
the alert's section of docs/runbooks.md in the clone. WorkerDown fires against a port nobody
listens on, with its ``for:`` shortened; the template is the deployed one."""

import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from fixtures.workers import wait_until

from service.processes import PrometheusProcess
from tools.links import heading_anchors

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fast_worker_down(tmp: Path) -> Path:
    rules = yaml.safe_load((PROMETHEUS_DIR / "alert_rules.yml").read_text())
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if rule.get("alert") == "WorkerDown":
                rule["for"] = "1s"
    path = tmp / "alert_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    return path


def test_the_runbook_link_of_a_firing_alert_names_its_section(tmp_path: Path) -> None:
    rules = [PROMETHEUS_DIR / "recording_rules.yml", _fast_worker_down(tmp_path)]
    try:
        server = PrometheusProcess(tmp_path / "prometheus", [f"127.0.0.1:{_closed_port()}"],
                                   rules, interval_s=1).start()
    except FileNotFoundError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        wait_until(server.ready, 60, "Prometheus to be ready")

        def worker_down() -> list[dict[str, Any]]:
            return [alert for alert in server.alerts()
                    if alert["labels"]["alertname"] == "WorkerDown"
                    and alert["state"] == "firing"]

        wait_until(worker_down, 60, "WorkerDown to fire")
        url = worker_down()[0]["annotations"]["runbook_url"]
    finally:
        server.stop()
    assert url == "docs/runbooks.md#workerdown"
    path, _, anchor = url.partition("#")
    assert anchor in heading_anchors((ROOT / path).read_text())

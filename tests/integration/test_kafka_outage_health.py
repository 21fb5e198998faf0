"""Health tells the truth while Kafka is unreachable (issue 10, item 5).

The worker runs against a broker of its own, which the test kills: /readyz turns 503
``kafka_unreachable``, ``support_kafka_up`` is 0, no stale lag is exported, and the log holds
back repeated errors. Without the token /readyz shows its status only.
"""

import json
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from fixtures.kafka import load_local_kafka
from fixtures.workers import Namespace, WorkerProcess, wait_until

pytestmark = pytest.mark.integration

TOKEN = "outage-test-token"


def readyz(worker: WorkerProcess, token: str | None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(worker.url + "/readyz")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_readiness_and_lag_during_a_broker_outage(tmp_path: Path) -> None:
    broker = load_local_kafka().LocalKafka()
    broker.start()
    worker = None
    try:
        namespace = Namespace(broker.bootstrap, tmp_path)
        worker = WorkerProcess(namespace, "w1", SUPPORT_KPI_TOKEN=TOKEN).start()
        worker.wait_ready()
        status, body = readyz(worker, None)
        assert (status, body) == (200, {"status": "ready"})
        status, body = readyz(worker, TOKEN)
        assert status == 200 and {"events", "rejected", "lag", "owned"} <= set(body)
        assert "support_kafka_up 1.0" in worker.metrics()

        assert broker._proc is not None
        broker._proc.send_signal(signal.SIGKILL)
        broker._proc.wait(timeout=30)
        log = worker.log
        assert log is not None
        lines_before = len(log.read_text(errors="replace").splitlines())

        wait_until(lambda: readyz(worker, None)[0] == 503, 30, "/readyz to say not ready")
        status, body = readyz(worker, None)
        assert body["status"] == "kafka_unreachable" and set(body) == {"status", "since"}
        status, body = readyz(worker, TOKEN)
        assert body["lag"] is None
        metrics = worker.metrics()
        assert "support_kafka_up 0.0" in metrics and "support_ready 0.0" in metrics
        assert "support_consumer_lag{" not in metrics

        wait_until(lambda: "more like this in the last" in log.read_text(errors="replace"),
                   60, "repeated errors to be summarised")
        text = log.read_text(errors="replace")
        held = sum(int(part.split(" more like this")[0].rsplit("[", 1)[1])
                   for part in text.split("\n") if "more like this" in part)
        written = len(text.splitlines()) - lines_before
        assert held > written, f"{written} lines written, {held} held back"
        worker.check_running()
    finally:
        if worker is not None:
            worker.stop(signal.SIGKILL)
        broker.stop()

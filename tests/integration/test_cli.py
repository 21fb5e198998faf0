"""The publishing commands and the bearer token, on the real broker."""

import re
import subprocess
import urllib.error
import urllib.request
from typing import Any

import pytest
from fixtures.kafka import read_topic
from fixtures.workers import BIN, Namespace

from service.ingest import decode_message


def test_simulate_publishes_valid_keyed_live_traffic(namespace: Namespace) -> None:
    done = subprocess.run([str(BIN), "simulate", "--rate", "300", "--duration", "3",
                           "--agents", "10"], env=namespace.env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    published = int(re.search(r"simulated (\d+) events", done.stderr).group(1))  # type: ignore[union-attr]
    assert published > 100
    messages = read_topic(namespace.bootstrap, namespace.topic, published)
    assert len(messages) == published
    kinds = set()
    for message in messages:
        decoded = decode_message(message.value)
        assert decoded.rejections == [], decoded.rejections
        event = decoded.events[0]
        key = getattr(event, "conversation_id", None) or event.agent_id
        assert message.key == key.encode()
        kinds.add(event.type)
    assert {"conversation.created", "message.created", "agent.status_changed"} <= kinds


def test_token_protects_kpis_and_metrics(namespace: Namespace, start_worker: Any) -> None:
    worker = start_worker("w1", SUPPORT_KPI_TOKEN="s3cret").wait_ready()
    for path in ("/kpis", "/metrics"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(worker.url + path, timeout=10)
        assert refused.value.code == 401
        request = urllib.request.Request(worker.url + path,
                                         headers={"Authorization": "Bearer s3cret"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    with pytest.raises(urllib.error.HTTPError) as wrong:
        urllib.request.urlopen(urllib.request.Request(
            worker.url + "/kpis", headers={"Authorization": "Bearer nope"}), timeout=10)
    assert wrong.value.code == 401
    any_case = urllib.request.Request(worker.url + "/kpis",
                                      headers={"Authorization": "bearer s3cret"})
    with urllib.request.urlopen(any_case, timeout=10) as response:
        assert response.status == 200, "RFC 7235: the scheme is case-insensitive"
    assert b"ok" in worker.get("/healthz")

"""Test-wide setup: Kafka fixtures (``tests/fixtures/kafka.py``) and the integration marker."""

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

# tests/ is on sys.path (pytest inserts a rootless conftest's directory), hence "fixtures.".
pytest_plugins = ["fixtures.kafka", "fixtures.workers"]

INTEGRATION_DIR = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/integration needs a broker: mark it so ``-m "not integration"``
    gives a quick run."""
    for item in items:
        if item.path.is_relative_to(INTEGRATION_DIR):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port held by a listening socket for the test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])

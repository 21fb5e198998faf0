"""Test-wide setup: Kafka fixtures (``tests/fixtures/kafka.py``) and the integration marker."""

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

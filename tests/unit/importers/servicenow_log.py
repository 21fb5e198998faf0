"""Where the real ServiceNow sample is (../shared/data, read in place, never copied)."""

import io
from pathlib import Path

import pytest

LOG = Path(__file__).resolve().parents[3].parent / "shared" / "data" / (
    "incident_event_log_head5998.csv")


def open_log() -> io.TextIOWrapper:
    if not LOG.is_file():
        pytest.fail(
            f"real test data missing: {LOG} (the UCI incident event log sample, see "
            "../shared/data/README.md); these tests must not be skipped"
        )
    return open(LOG, encoding="utf-8-sig", newline="")

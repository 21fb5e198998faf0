"""A history file another process holds (DuckDB allows one writer): the commands say so naming
the file, and the sink waits for it instead of failing, then writes."""

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from service.config import KpiConfig
from service.history.database import HistoryLocked, open_history
from service.history.service import SinkService

HOLDER = """
import sys, duckdb
connection = duckdb.connect(sys.argv[1])
print("held", flush=True)
sys.stdin.readline()
connection.close()
"""


def hold(path: Path) -> subprocess.Popen[str]:
    """A process holding ``path`` open until it reads a line."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def release(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None
    holder.stdin.write("\n")
    holder.stdin.flush()
    assert holder.wait(timeout=30) == 0


def test_a_held_file_is_named_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "history.duckdb"
    open_history(path).close()
    holder = hold(path)
    try:
        with pytest.raises(HistoryLocked, match=f"{path}: in use by another process"):
            open_history(path, read_only=True)
    finally:
        release(holder)
    open_history(path, read_only=True).close()


async def test_the_sink_waits_for_a_held_file_then_writes(tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    path = tmp_path / "history.duckdb"
    open_history(path).close()
    service = SinkService(path, "127.0.0.1:9", "support.history", "dead", KpiConfig())
    holder = hold(path)
    try:
        work = asyncio.create_task(service.with_database(
            lambda c: c.execute("SELECT count(*) FROM facts").fetchone()))
        for _ in range(200):
            if "waiting" in caplog.text:
                break
            await asyncio.sleep(0.05)
        assert "in use by another process" in caplog.text and not work.done()
    finally:
        release(holder)
    assert await asyncio.wait_for(work, 30) == (0,)

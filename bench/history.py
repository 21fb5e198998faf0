"""The history phase (no Kafka): facts written per second by the sink and by a backfill, a
month's report over 10 M facts, and the database's size per million facts.

The sink: the records both stages of a worker send over the first ``sink_events`` events
(:mod:`bench.stages`), decoded and written by :class:`~service.history.sink.HistorySink` in
polls of the sink's size (:data:`~service.history.service.POLL_RECORDS`) to a new file, each
poll one transaction; facts/s counts the facts each transaction set.

The ledger of a replay of the events file is written by :class:`~service.history.database.
HistoryWriter` in the flushes replay makes (timed alone: the replay is the core phase's).
The month: that database's facts, segments and team marks copied, each copy's times moved on
by the dataset's span or a share of 30 days (whichever is longer), until the copies hold at
least ``month_facts`` facts; then a report over the whole span (one period) and by day with the
day before.
"""

import time
from pathlib import Path
from typing import Any

from service.config import config_from_env
from service.engine.engine import KpiEngine
from service.history.database import HistoryWriter, open_history
from service.history.ledger import Ledger
from service.history.periods import Period, periods, previous
from service.history.report import period_report
from service.replay import open_lines, replay_lines
from service.runtime import tune_gc

__all__ = ["run_history", "run_sink"]

_FLUSH_FACTS = 100_000
_MONTH_MS = 30 * 86_400_000


class _TimedWriter:
    """A writer whose flushes are timed, so that the replay around them is not counted."""

    def __init__(self, writer: HistoryWriter) -> None:
        self.writer = writer
        self.seconds = 0.0
        self.pending = 0

    def flush(self, ledger: Ledger) -> None:
        self.pending += len(ledger.facts)
        started = time.perf_counter()
        self.writer.flush(ledger)
        self.seconds += time.perf_counter() - started


def run_sink(events: Path, workdir: Path, sink_events: int) -> dict[str, Any]:
    """The sink's figures over the stages' records of the first ``sink_events`` events."""
    from bench.stages import run_stages
    from service.history.changes import decode_history
    from service.history.service import POLL_RECORDS
    from service.history.sink import Delivered, HistorySink

    print(f"history: the stages' records of {sink_events:,} events …", flush=True)
    records = run_stages(events, sink_events, keep_history=True)["history"]
    tune_gc()
    path = workdir / "history-sink.duckdb"
    path.unlink(missing_ok=True)
    config = config_from_env()
    sink = HistorySink(open_history(path), "support.history", config.history.retention_ms)
    offsets: dict[int, int] = {}
    facts = 0
    started = time.perf_counter()
    for first in range(0, len(records), POLL_RECORDS):
        delivered = []
        for partition, _, value in records[first:first + POLL_RECORDS]:
            offset = offsets.get(partition, 0)
            delivered.append(Delivered(partition, offset, decode_history(value)))
            offsets[partition] = offset + 1
        facts += len(sink.apply(delivered, dict(offsets)).sets)
    seconds = time.perf_counter() - started
    (held,) = sink.connection.execute("SELECT count(*) FROM facts").fetchone() or (0,)
    sink.connection.close()
    return {"events": sink_events, "records": len(records), "facts_set": facts,
            "facts_held": held, "seconds": seconds, "facts_per_s": facts / seconds,
            "bytes_per_record": sum(len(v) for _, _, v in records) / max(len(records), 1)}


def run_history(events: Path, workdir: Path, month_facts: int) -> dict[str, Any]:
    """The history figures of the events file; the databases go to ``workdir``."""
    from zoneinfo import ZoneInfo

    tune_gc()
    config = config_from_env()
    path = workdir / "history.duckdb"
    path.unlink(missing_ok=True)
    print("history: replay with a ledger, its facts written …", flush=True)
    engine, ledger = KpiEngine(config), Ledger()
    writer = _TimedWriter(HistoryWriter(open_history(path), workdir / "history.staging"))
    replay_lines(engine, open_lines(str(events)), ledger=ledger, writer=writer,
                 flush_every=_FLUSH_FACTS)
    writer.pending += len(ledger.facts)
    started = time.perf_counter()
    writer.writer.finish(ledger, engine.default_as_of(), config.history.retention_ms)
    write_s = writer.seconds + time.perf_counter() - started
    facts = writer.writer.facts
    writer.writer.connection.close()
    size = path.stat().st_size

    print(f"history: copies of {facts:,} facts up to {month_facts:,} …", flush=True)
    month = workdir / "history-month.duckdb"
    month.unlink(missing_ok=True)
    connection = open_history(month)
    connection.execute("ATTACH ? AS source (READ_ONLY)", [str(path)])
    first, last = connection.execute("SELECT min(at_ms), max(at_ms) FROM source.facts"
                                      ).fetchone() or (0, 0)
    copies = -(-month_facts // facts)
    span = max(last - first + 1, _MONTH_MS // copies)
    connection.execute("INSERT INTO conversations SELECT * FROM source.conversations")
    for k in range(copies):
        shift = k * span
        connection.execute(
            "INSERT INTO facts SELECT fact_id || ?, conversation_id, kind, at_ms + ?, team, "
            "agent, counter_names, counter_amounts, distribution_names, distribution_values, "
            "fact FROM source.facts", [f"#{k}", shift])
        connection.execute("INSERT INTO segments SELECT agent, team, start_ms + ?, end_ms + ?, "
                           "busy FROM source.segments", [shift, shift])
        connection.execute("INSERT INTO team_marks SELECT agent, at_ms + ?, team FROM "
                           "source.team_marks", [shift])
    connection.execute("INSERT INTO meta VALUES ('as_of_ms', ?), ('kept_from_ms', ?)",
                       [str(first + copies * span), str(first)])
    connection.execute("DETACH source")
    (held,) = connection.execute("SELECT count(*) FROM facts").fetchone() or (0,)
    utc = ZoneInfo("UTC")
    whole = Period(first, first + copies * span)
    timings: dict[str, float] = {}
    for name, cut, before in (
            ("one_period", [whole], None),
            ("by_day_with_previous", periods(whole.start_ms, whole.end_ms, "day", utc),
             [previous(p, "day", utc) for p in periods(whole.start_ms, whole.end_ms, "day",
                                                      utc)])):
        started = time.perf_counter()
        period_report(connection, whole, cut, before, [], config.weighted_score)
        timings[name] = time.perf_counter() - started
    connection.close()
    return {"facts": facts, "write_seconds": write_s, "facts_per_s": writer.pending / write_s,
            "bytes": size, "mb_per_million_facts": size / 2**20 / facts * 1e6,
            "month": {"facts": held, "days": (whole.end_ms - whole.start_ms) / 86_400_000,
                      "report_seconds": timings}}

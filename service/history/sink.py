"""The history sink's writes (SPEC §8): the history topic's records
(:mod:`service.history.changes`) applied to the history database, with the sink's offsets, in
one transaction. Plain DuckDB, no Kafka (the process is :mod:`service.history.service`).

A batch of records, in topic order per partition, is coalesced and written as a few bulk
statements:

* facts — a snapshot deletes its conversation's facts (after its ``since_ms``); each removed
  fact's row and each set fact's earlier row are deleted by (id, stop), the stops bounding the
  scan; the set facts are appended (Arrow);
* attributes — one row per conversation, replaced;
* segments — each touched agent's segments from the earliest time its changes touch are read,
  changed as the ledger changes them (:func:`~service.history.ledger.change_segments`) and
  written back;
* team marks — appended unless held;
* ``sink_offsets`` — the next offset of each partition; ``meta`` — ``as_of_ms``, the latest
  watermark the records carried rounded up to the next whole minute (the live report's
  default as-of, SPEC §4), and ``kept_from_ms`` behind it by the retention.

A record applied twice changes nothing, so input a worker sends again after a crash is safe;
the sink's own offsets commit with the rows, so a sink killed at any moment starts where its
last transaction ended.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from service.engine.panes import ceil_to_minute
from service.engine.presence import Segment, SegmentChange
from service.history.changes import (
    AgentHistory,
    ConversationHistory,
    history_conversation_id,
)
from service.history.database import (
    HistoryError,
    fact_rows,
    in_transaction,
    rows_table,
)
from service.history.ledger import Attributes, LedgerFact, change_segments

__all__ = ["Delivered", "HistorySink", "SinkBatch"]

PURGE_EVERY_MS = 3_600_000
"""Retention deletes run when the kept span has moved on by this much."""

_SINK_SCHEMA = """
CREATE TABLE IF NOT EXISTS sink_offsets (
    topic VARCHAR NOT NULL,
    partition INTEGER NOT NULL,
    next_offset BIGINT NOT NULL,
    PRIMARY KEY (topic, partition)
);
"""

_TEXT, _INT = pa.string(), pa.int64()
_GONE = pa.schema([("fact_id", _TEXT), ("at_ms", _INT)])
_SNAPSHOTS = pa.schema([("conversation_id", _TEXT), ("since_ms", _INT)])
_ATTRIBUTES = pa.schema([("conversation_id", _TEXT), ("channel", _TEXT), ("priority", _TEXT),
                         ("customer_id", _TEXT), ("source", _TEXT)])
_SPANS = pa.schema([("agent", _TEXT), ("low_ms", _INT)])
_SEGMENTS = pa.schema([("agent", _TEXT), ("team", _TEXT), ("start_ms", _INT), ("end_ms", _INT),
                       ("busy", pa.bool_())])
_MARKS = pa.schema([("agent", _TEXT), ("at_ms", _INT), ("team", _TEXT)])
_OFFSETS = pa.schema([("topic", _TEXT), ("partition", pa.int32()), ("next_offset", _INT)])


@dataclass(frozen=True, slots=True)
class Delivered:
    """A decoded record with where it came from."""

    partition: int
    offset: int
    record: ConversationHistory | AgentHistory


@dataclass
class SinkBatch:
    """A batch coalesced: what its statements write."""

    sets: dict[str, LedgerFact]
    gone: list[tuple[str, int]]
    snapshots: dict[str, int | None]
    attributes: dict[str, Attributes]
    changes: dict[str, list[SegmentChange]]
    marks: set[tuple[str, int, str]]
    watermark_ms: int | None


def coalesce(records: Sequence[ConversationHistory | AgentHistory]) -> SinkBatch:
    """The records of a batch, in order, as one set of writes."""
    sets: dict[str, LedgerFact] = {}
    by_conversation: dict[str, set[str]] = {}
    gone: list[tuple[str, int]] = []
    snapshots: dict[str, int | None] = {}
    attributes: dict[str, Attributes] = {}
    changes: dict[str, list[SegmentChange]] = {}
    marks: set[tuple[str, int, str]] = set()
    watermark: int | None = None
    for record in records:
        if record.watermark_ms is not None and (watermark is None
                                                or record.watermark_ms > watermark):
            watermark = record.watermark_ms
        if isinstance(record, AgentHistory):
            if record.changes:
                changes.setdefault(record.agent, []).extend(record.changes)
            marks.update((record.agent, at, team) for at, team in record.marks)
            continue
        cid = history_conversation_id(record.conversation_id)
        if record.snapshot and cid is not None:
            for fid in by_conversation.pop(cid, ()):
                sets.pop(fid, None)
            if cid in snapshots:
                earlier = snapshots[cid]
                snapshots[cid] = (None if earlier is None or record.since_ms is None
                                  else min(earlier, record.since_ms))
            else:
                snapshots[cid] = record.since_ms
        for fid, at in record.removed:
            sets.pop(fid, None)
            gone.append((fid, at))
        for fid, fact in record.sets.items():
            sets[fid] = LedgerFact(cid, fact)
            if cid is not None:
                by_conversation.setdefault(cid, set()).add(fid)
        if record.attributes is not None and cid is not None:
            attributes[cid] = record.attributes
    return SinkBatch(sets, gone, snapshots, attributes, changes, marks, watermark)


class HistorySink:
    """Writes batches of the history topic's records into a history database."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, topic: str,
                 retention_ms: int) -> None:
        """Raises HistoryError for a database a backfill filled (the sink fills its own; the
        file is left as it was)."""
        (facts,) = connection.execute("SELECT count(*) FROM facts").fetchone() or (0,)
        (sinks,) = connection.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'sink_offsets'"
        ).fetchone() or (0,)
        if facts and not sinks:
            raise HistoryError("the database was filled by a backfill (`replay --history`); "
                               "the sink fills a file of its own: give it another path")
        connection.execute(_SINK_SCHEMA)
        self.connection = connection
        self.topic = topic
        self.retention_ms = retention_ms

    def positions(self) -> dict[int, int]:
        """The next offset to read of each partition the sink has written from."""
        return {partition: offset for partition, offset in self.connection.execute(
            "SELECT partition, next_offset FROM sink_offsets WHERE topic = ?",
            [self.topic]).fetchall()}

    def apply(self, delivered: Sequence[Delivered], read_to: dict[int, int]) -> SinkBatch:
        """Write ``delivered`` (in topic order per partition) and ``read_to`` (partition → the
        next offset to read: past the records, dead letters included) in one transaction."""
        batch = coalesce([d.record for d in delivered])
        connection = self.connection
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
        as_of = int(meta["as_of_ms"]) if "as_of_ms" in meta else None
        if batch.watermark_ms is not None:
            as_of = max(as_of or 0, ceil_to_minute(batch.watermark_ms))
        kept_from = None if as_of is None else as_of - self.retention_ms
        purged = int(meta.get("kept_from_ms", -(2**62)))
        statements: list[str | tuple[str, list]] = []
        tables: dict[str, pa.Table] = {}
        if batch.snapshots:
            tables["snapshots"] = rows_table(list(batch.snapshots.items()), _SNAPSHOTS)
            statements.append(
                "DELETE FROM facts USING new_snapshots WHERE facts.conversation_id = "
                "new_snapshots.conversation_id AND (new_snapshots.since_ms IS NULL OR "
                "facts.at_ms > new_snapshots.since_ms)")
        gone = batch.gone + [(fid, entry.fact.at) for fid, entry in batch.sets.items()]
        if gone:
            tables["gone"] = rows_table(gone, _GONE)
            low, high = min(at for _, at in gone), max(at for _, at in gone)
            statements.append((
                "DELETE FROM facts USING new_gone WHERE facts.at_ms BETWEEN ? AND ? AND "
                "facts.fact_id = new_gone.fact_id AND facts.at_ms = new_gone.at_ms",
                [low, high]))
        if batch.sets:
            tables["facts"] = fact_rows(batch.sets.items())
            statements.append("INSERT INTO facts SELECT * FROM new_facts")
        if batch.attributes:
            tables["conversations"] = rows_table(
                [(cid, a.channel, a.priority, a.customer_id, a.source)
                 for cid, a in batch.attributes.items()], _ATTRIBUTES)
            statements.append("INSERT OR REPLACE INTO conversations BY NAME "
                              "SELECT * FROM new_conversations")
        if batch.marks:
            tables["marks"] = rows_table(sorted(batch.marks), _MARKS)
            statements.append("INSERT INTO team_marks BY NAME (SELECT * FROM new_marks EXCEPT "
                              "SELECT agent, at_ms, team FROM team_marks)")
        tables["offsets"] = rows_table(
            [(self.topic, partition, offset) for partition, offset in sorted(read_to.items())],
            _OFFSETS)
        statements.append("INSERT OR REPLACE INTO sink_offsets BY NAME SELECT * FROM new_offsets")
        if as_of is not None and kept_from is not None:
            statements.append(("INSERT OR REPLACE INTO meta VALUES ('as_of_ms', ?)",
                               [str(as_of)]))
            if kept_from >= purged + PURGE_EVERY_MS:
                statements += [
                    ("DELETE FROM facts WHERE at_ms < ?", [kept_from]),
                    ("DELETE FROM segments WHERE end_ms <= ?", [kept_from]),
                    ("DELETE FROM team_marks WHERE at_ms < ?", [kept_from]),
                    ("INSERT OR REPLACE INTO meta VALUES ('kept_from_ms', ?)",
                     [str(kept_from)])]
        in_transaction(connection, tables, statements,
                       before=lambda: self._segments(batch.changes))
        return batch

    def _segments(self, changes: dict[str, list[SegmentChange]]) -> None:
        """Inside the transaction: the touched agents' segments changed in place."""
        if not changes:
            return
        connection = self.connection
        lows = {agent: min(s.start for change in agent_changes
                           for s in (*change.removed, *change.added))
                for agent, agent_changes in changes.items()}
        connection.register("sink_spans", rows_table(list(lows.items()), _SPANS))
        try:
            held: dict[str, list[Segment]] = {agent: [] for agent in changes}
            for agent, team, start, end, busy in connection.execute(
                    "SELECT s.agent, s.team, s.start_ms, s.end_ms, s.busy FROM segments s "
                    "JOIN sink_spans p ON s.agent = p.agent WHERE s.end_ms IS NULL OR "
                    "s.end_ms > p.low_ms ORDER BY s.agent, s.start_ms").fetchall():
                held[agent].append(Segment(start, end, team, busy))
            for agent, agent_changes in changes.items():
                for change in agent_changes:
                    change_segments(held[agent], change)
            connection.execute(
                "DELETE FROM segments USING sink_spans WHERE segments.agent = sink_spans.agent "
                "AND (segments.end_ms IS NULL OR segments.end_ms > sink_spans.low_ms)")
            rows = [(agent, s.team, s.start, s.end, s.busy)
                    for agent, segments in held.items() for s in segments]
            if rows:
                connection.register("sink_segments", rows_table(rows, _SEGMENTS))
                connection.execute("INSERT INTO segments BY NAME SELECT * FROM sink_segments")
                connection.unregister("sink_segments")
        finally:
            connection.unregister("sink_spans")


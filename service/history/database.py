"""The history database (SPEC §8): DuckDB, one file, no server.

Tables:

* ``facts``: one row per fact id — kind, ``at_ms`` (its stop, which places it in a period),
  team, agent, its conversation, and what it adds to the KPIs as the registry says
  (:data:`~service.engine.kpis.PANES`): counter feed names with amounts and distribution feed
  names with values (ms). Feeds are stored by name, so a registry that gains a KPI still reads
  an older file.
* ``conversations``: each conversation's attributes, by which reports slice its facts.
* ``segments``: each agent's logged-in stretches (``end_ms`` NULL while one runs) with the team
  and whether busy — occupancy's source.
* ``team_marks``: the presence events that name the agent's team (with the facts' teams,
  the agent's team label).
* ``meta``: ``as_of_ms``, the time the history is complete up to (a running segment counts
  until then), and ``kept_from_ms``, where the retention (``history.days``) begins.
"""

import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from service.engine.facts import KIND_NAMES
from service.engine.feeds import Count
from service.engine.kpis import PANES
from service.history.ledger import Ledger, LedgerFact

__all__ = ["TABLES", "HistoryError", "HistoryLocked", "HistoryWriter", "erase_customer",
           "export_parquet", "fact_rows", "held_span", "in_transaction", "open_history",
           "open_parquet", "rows_table"]

TABLES = ("facts", "conversations", "segments", "team_marks", "meta")
"""The tables a history holds (a Parquet export writes one directory or file each)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS facts (
    fact_id VARCHAR NOT NULL,
    conversation_id VARCHAR,
    kind VARCHAR NOT NULL,
    at_ms BIGINT NOT NULL,
    team VARCHAR,
    agent VARCHAR,
    counter_names VARCHAR[] NOT NULL,
    counter_amounts BIGINT[] NOT NULL,
    distribution_names VARCHAR[] NOT NULL,
    distribution_values BIGINT[] NOT NULL,
    fact VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS conversations (
    conversation_id VARCHAR PRIMARY KEY,
    channel VARCHAR,
    priority VARCHAR,
    customer_id VARCHAR,
    source VARCHAR
);
CREATE TABLE IF NOT EXISTS segments (
    agent VARCHAR NOT NULL,
    team VARCHAR,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT,
    busy BOOLEAN NOT NULL
);
CREATE TABLE IF NOT EXISTS team_marks (
    agent VARCHAR NOT NULL,
    at_ms BIGINT NOT NULL,
    team VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
"""


class HistoryError(Exception):
    """A history database that cannot be used; the message names the file and what to do."""


class HistoryLocked(HistoryError):
    """The database file is held by another process (DuckDB allows one writer)."""


def open_history(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the history database at ``path`` (created when missing, unless
    ``read_only``), its tables made. Raises HistoryError for a file that is missing, locked
    by another process or not a DuckDB database."""
    if read_only and not path.exists():
        raise HistoryError(f"{path}: no history database here (fill one with `support-kpi "
                           "replay EVENTS --history PATH`, or give --db)")
    if not path.parent.is_dir():
        raise HistoryError(f"{path}: the directory {path.parent} does not exist; create it or "
                           "give another path")
    try:
        connection = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as error:
        if "lock" in str(error).lower():
            raise HistoryLocked(f"{path}: in use by another process (DuckDB allows one "
                                "writer); stop it, or read a copy of the file") from None
        raise HistoryError(f"{path}: cannot be opened as a history database ({error}); move "
                           "it away and fill a new one") from None
    except duckdb.Error as error:
        raise HistoryError(f"{path}: cannot be opened as a history database ({error}); move "
                           "it away and fill a new one") from None
    connection.execute("SET enable_progress_bar = false")
    if not read_only:
        connection.execute(_SCHEMA)
    return connection


_TEXT, _INT, _TEXTS, _INTS = pa.string(), pa.int64(), pa.list_(pa.string()), pa.list_(pa.int64())
_FACT_COLUMNS = pa.schema([
    ("fact_id", _TEXT), ("conversation_id", _TEXT), ("kind", _TEXT), ("at_ms", _INT),
    ("team", _TEXT), ("agent", _TEXT), ("counter_names", _TEXTS),
    ("counter_amounts", _INTS), ("distribution_names", _TEXTS),
    ("distribution_values", _INTS), ("fact", _TEXT)])
_CONVERSATION_COLUMNS = pa.schema([
    ("conversation_id", _TEXT), ("channel", _TEXT), ("priority", _TEXT), ("customer_id", _TEXT),
    ("source", _TEXT)])
_ID_COLUMNS = pa.schema([("fact_id", _TEXT)])
_MARK_COLUMNS = pa.schema([("agent", _TEXT), ("at_ms", _INT), ("team", _TEXT)])
_SEGMENT_COLUMNS = pa.schema([("agent", _TEXT), ("team", _TEXT), ("start_ms", _INT),
                              ("end_ms", _INT), ("busy", pa.bool_())])


def _feed_plan(kind: int) -> tuple[tuple[tuple[str, Any], ...], tuple[tuple[str, Any], ...]]:
    """(counter feeds, distribution feeds) of a fact kind, as (name, function) pairs."""
    feeds = PANES.feeds(kind)
    return (tuple((f.name, f.amount) for f in feeds if isinstance(f, Count)),
            tuple((f.name, f.value) for f in feeds if not isinstance(f, Count)))


_PLANS = {kind: _feed_plan(kind) for kind in KIND_NAMES}


def fact_rows(facts: Iterable[tuple[str, LedgerFact]]) -> pa.Table:
    """Facts (by id) as rows of the ``facts`` table, feeds by name (:data:`_PLANS`)."""
    ids: list[str] = []
    conversations: list[str | None] = []
    kinds: list[str] = []
    times: list[int] = []
    teams: list[str | None] = []
    agents: list[str | None] = []
    encoded: list[str] = []
    counter_names: list[str] = []
    counter_amounts: list[int] = []
    counter_offsets = [0]
    distribution_names: list[str] = []
    distribution_values: list[int] = []
    distribution_offsets = [0]
    dumps = orjson.dumps
    for fact_id, entry in facts:
        fact = entry.fact
        counts, distributions = _PLANS[fact.kind]
        for name, amount_of in counts:
            amount = amount_of(fact)
            if amount:
                counter_names.append(name)
                counter_amounts.append(amount)
        counter_offsets.append(len(counter_names))
        for name, value_of in distributions:
            value = value_of(fact)
            if value is not None:
                distribution_names.append(name)
                distribution_values.append(max(value, 0))
        distribution_offsets.append(len(distribution_names))
        ids.append(fact_id)
        conversations.append(entry.conversation_id)
        kinds.append(KIND_NAMES[fact.kind])
        times.append(fact.at)
        teams.append(fact.team)
        agents.append(fact.agent)
        encoded.append(dumps(list(fact)).decode())

    def listed(offsets: list[int], values: list[Any], kind: pa.DataType) -> pa.Array:
        return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(values, kind))

    return pa.table([
        pa.array(ids, _TEXT), pa.array(conversations, _TEXT), pa.array(kinds, _TEXT),
        pa.array(times, _INT), pa.array(teams, _TEXT), pa.array(agents, _TEXT),
        listed(counter_offsets, counter_names, _TEXT),
        listed(counter_offsets, counter_amounts, _INT),
        listed(distribution_offsets, distribution_names, _TEXT),
        listed(distribution_offsets, distribution_values, _INT),
        pa.array(encoded, _TEXT)], schema=_FACT_COLUMNS)


def rows_table(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.Table:
    """``rows`` (tuples in ``schema``'s column order) as an Arrow table."""
    return pa.table({name: [row[i] for row in rows] for i, name in enumerate(schema.names)},
                    schema=schema)


def _segment_rows(ledger: Ledger) -> pa.Table:
    return rows_table([(agent, s.team, s.start, s.end, s.busy)
                   for agent, segments in ledger.segments.items() for s in segments],
                  _SEGMENT_COLUMNS)


def in_transaction(connection: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table],
                   statements: Sequence[str | tuple[str, list[Any]]],
                   before: Callable[[], None] | None = None) -> None:
    """Run ``before`` and ``statements`` (SQL, or SQL with its parameters) in one transaction,
    each of ``tables`` readable as ``new_<name>``; rolled back when one raises."""
    connection.execute("BEGIN TRANSACTION")
    try:
        for name, rows in tables.items():
            connection.register(f"new_{name}", rows)
        if before is not None:
            before()
        for statement in statements:
            sql, parameters = statement if isinstance(statement, tuple) else (statement, None)
            connection.execute(sql, parameters)
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    finally:
        for name in tables:
            connection.unregister(f"new_{name}")


class HistoryWriter:
    """Fills a new history database from a ledger: :meth:`flush` while replay runs (the pending
    facts and attributes, by id, in one transaction), :meth:`finish` at the end (the rest, the
    segments and the as-of, in one transaction). A database without its as-of is an
    interrupted backfill, which reports refuse.

    Raises HistoryError when the database already holds history: a backfill fills a new file
    (or one whose backfill did not finish, which starts again)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection,
                 staging: Path | None = None) -> None:
        """``staging``: a file for the fact log (removed by :meth:`finish`, so that the
        database's own file holds only the final rows); None keeps the log in memory."""
        (facts,) = connection.execute("SELECT count(*) FROM facts").fetchone() or (0,)
        (meta,) = connection.execute("SELECT count(*) FROM meta").fetchone() or (0,)
        if facts or meta:
            raise HistoryError("the database already holds history; give a new file to fill")
        if staging is not None:
            staging.unlink(missing_ok=True)
        connection.execute("ATTACH ? AS staging", [":memory:" if staging is None
                                                   else str(staging)])
        connection.execute("CREATE TABLE staging.fact_log AS SELECT *, 0 AS version, "
                           "false AS gone FROM facts WHERE false")
        connection.execute("CREATE TABLE staging.conversation_log AS SELECT *, 0 AS version "
                           "FROM conversations WHERE false")
        self.staging = staging
        self.connection = connection
        self.flushes = 0
        self.facts = 0
        """Facts held once :meth:`finish` has run."""

    def flush(self, ledger: Ledger) -> None:
        """Append what the ledger holds pending to the staging logs (a removed fact as a row
        without values), and drain it. DuckDB replaces rows by key slowly, so the logs are only
        appended to; :meth:`finish` keeps each fact's and conversation's last version."""
        facts, attributes = ledger.drain()
        self.flushes += 1
        present = [(fid, entry) for fid, entry in facts.items() if entry is not None]
        in_transaction(
            self.connection,
            {"facts": fact_rows(present),
             "gone": rows_table([(fid,) for fid, entry in facts.items() if entry is None],
                                _ID_COLUMNS),
             "conversations": rows_table([(cid, a.channel, a.priority, a.customer_id, a.source)
                                          for cid, a in attributes.items()],
                                         _CONVERSATION_COLUMNS)},
            [(f"INSERT INTO staging.fact_log BY NAME SELECT *, {self.flushes} AS version, "
              "false AS gone FROM new_facts"),
             (f"INSERT INTO staging.fact_log BY NAME SELECT fact_id, {self.flushes} AS version, "
              "true AS gone FROM new_gone"),
             (f"INSERT INTO staging.conversation_log BY NAME SELECT *, {self.flushes} AS version "
              "FROM new_conversations")])

    def finish(self, ledger: Ledger, as_of_ms: int, retention_ms: int) -> None:
        """Flush, then write each fact's last version (unless removed: only the ledger's
        revised facts can have more than one), the segments, the team marks and the as-of,
        keeping what lies within ``retention_ms`` before the as-of (a segment that crosses that
        edge whole)."""
        kept_from = as_of_ms - retention_ms
        self.flush(ledger)
        columns = ", ".join(_FACT_COLUMNS.names)
        in_transaction(
            self.connection,
            {"revised": rows_table([(fid,) for fid in ledger.revised], _ID_COLUMNS),
             "segments": _segment_rows(ledger),
             "team_marks": rows_table(sorted(ledger.team_marks), _MARK_COLUMNS)},
            [(f"INSERT INTO facts SELECT {columns} FROM staging.fact_log WHERE at_ms >= ? AND "
              "NOT gone AND fact_id NOT IN (SELECT fact_id FROM new_revised)", [kept_from]),
             (f"INSERT INTO facts SELECT {columns} FROM (SELECT * FROM staging.fact_log "
              "WHERE fact_id IN (SELECT fact_id FROM new_revised) QUALIFY row_number() OVER "
              "(PARTITION BY fact_id ORDER BY version DESC) = 1) WHERE NOT gone AND at_ms >= ?",
              [kept_from]),
             ("INSERT INTO conversations SELECT conversation_id, channel, priority, customer_id, "
              "source FROM staging.conversation_log WHERE conversation_id IN (SELECT "
              "conversation_id FROM facts) QUALIFY row_number() OVER (PARTITION BY "
              "conversation_id ORDER BY version DESC) = 1"),
             "DELETE FROM segments", "DELETE FROM team_marks",
             ("INSERT INTO segments BY NAME SELECT * FROM new_segments WHERE end_ms IS NULL OR "
              "end_ms > ?", [kept_from]),
             ("INSERT INTO team_marks BY NAME SELECT * FROM new_team_marks WHERE at_ms >= ?",
              [kept_from]),
             ("INSERT OR REPLACE INTO meta VALUES ('kept_from_ms', ?)", [str(kept_from)]),
             ("INSERT OR REPLACE INTO meta VALUES ('as_of_ms', ?)", [str(as_of_ms)])])
        (self.facts,) = self.connection.execute("SELECT count(*) FROM facts").fetchone() or (0,)
        self.connection.execute("DETACH staging")
        if self.staging is not None:
            self.staging.unlink(missing_ok=True)
            self.staging.with_name(self.staging.name + ".wal").unlink(missing_ok=True)


def erase_customer(connection: duckdb.DuckDBPyConnection, customer_id: str) -> tuple[int, int]:
    """Remove a customer's conversations and their facts (ratings' comments with them) in one
    transaction, for a privacy request; (conversations, facts) removed — (0, 0) when done
    before."""
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.execute("CREATE OR REPLACE TEMP TABLE erased AS SELECT conversation_id "
                           "FROM conversations WHERE customer_id = ?", [customer_id])
        (facts,) = connection.execute(
            "DELETE FROM facts WHERE conversation_id IN (SELECT conversation_id FROM erased)"
        ).fetchone() or (0,)
        (conversations,) = connection.execute(
            "DELETE FROM conversations WHERE customer_id = ?", [customer_id]).fetchone() or (0,)
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return conversations, facts


def held_span(connection: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(kept_from_ms, as_of_ms) of a complete database. Raises HistoryError for one whose
    backfill did not finish."""
    meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
    if "as_of_ms" not in meta:
        raise HistoryError("the database holds no complete history yet: a backfill that did "
                           "not finish (fill a new one), or a sink that has written no record "
                           "yet (wait for the workers' first events)")
    return int(meta.get("kept_from_ms", 0)), int(meta["as_of_ms"])


def export_parquet(connection: duckdb.DuckDBPyConnection, directory: Path) -> int:
    """Write the history as Parquet under ``directory`` (an earlier export there is replaced
    whole): ``facts/day=YYYY-MM-DD/*.parquet`` (hive-partitioned by the UTC day of ``at_ms``,
    the same columns), and one file for each of the other tables. DuckDB, ClickHouse, Spark or
    Trino read them as they are (:func:`open_parquet`). Returns how many facts; raises
    HistoryError for a database whose backfill did not finish, and for a ``directory`` that
    holds anything but an export."""
    held_span(connection)
    if directory.exists() and not directory.is_dir():
        raise HistoryError(f"{directory}: a file, not a directory; give a directory to write "
                           "the export to")
    earlier = [directory / "facts", *(directory / f"{t}.parquet" for t in TABLES[1:])]
    if directory.exists() and any(directory.iterdir()) and not earlier[0].is_dir():
        raise HistoryError(f"{directory}: holds files that are not an export; give an empty "
                           "or new directory")
    if earlier[0].is_dir():
        shutil.rmtree(earlier[0])
    for table_file in earlier[1:]:
        table_file.unlink(missing_ok=True)
    directory.mkdir(parents=True, exist_ok=True)
    connection.execute(
        "COPY (SELECT *, strftime(make_timestamp(at_ms * 1000), '%Y-%m-%d') AS day FROM facts) "
        f"TO '{_quoted(directory / 'facts')}' (FORMAT parquet, PARTITION_BY (day), "
        "OVERWRITE_OR_IGNORE)")
    for table in TABLES[1:]:
        connection.execute(f"COPY {table} TO '{_quoted(directory / table)}.parquet' "
                           "(FORMAT parquet)")
    (facts,) = connection.execute("SELECT count(*) FROM facts").fetchone() or (0,)
    return int(facts)


def open_parquet(directory: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory connection whose tables are views over an export of
    :func:`export_parquet`, for reports and listings as over the database."""
    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")
    connection.execute(
        "CREATE VIEW facts AS SELECT * EXCLUDE (day) FROM read_parquet("
        f"'{_quoted(directory / 'facts')}/*/*.parquet', hive_partitioning = true)")
    for table in TABLES[1:]:
        connection.execute(f"CREATE VIEW {table} AS SELECT * FROM "
                           f"read_parquet('{_quoted(directory / table)}.parquet')")
    return connection


def _quoted(path: Path) -> str:
    """A path inside a single-quoted SQL string (COPY takes no parameters)."""
    return str(path).replace("'", "''")

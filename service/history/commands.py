"""``support-kpi history``: period reports from the history database (SPEC §8)."""

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_history_parser", "run_conversations", "run_erase", "run_export", "run_report"]

DATABASE_FILE = "history.duckdb"
"""The history database's file name in the data directory."""

EXAMPLES = """\
examples:
  support-kpi replay events.jsonl --history history.duckdb      fill one from an event file
  support-kpi history report --from 2024-03-04 --to 2024-03-11 --db history.duckdb
  support-kpi history report --from 2024-03-01 --to 2024-04-01 --by week --compare
  support-kpi history report --from 2024-03-01 --to 2024-04-01 --by day --slice channel \\
      --format csv > march.csv
  support-kpi history conversations --from 2024-03-01 --to 2024-04-01 --team billing \\
      --format parquet --output march.parquet

--from and --to take a date (midnight in --timezone) or an RFC 3339 time; the period is
[from, to). Without --by it is one period; --compare adds the period before each (the day,
week or month before; without --by the span of the same length before --from).
"""


def add_history_parser(commands: Any) -> None:
    """The ``history`` command and its ``report`` subcommand, on the top-level subparsers."""
    history = commands.add_parser(
        "history", help="period reports from the history database (any day, week or month)",
        description="Answer from the history database: every fact the engine emitted, kept "
        "past the live windows' 24 h.", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    jobs = history.add_subparsers(dest="job", metavar="JOB", required=True)
    report = jobs.add_parser(
        "report", help="every windowed KPI per overall, team and agent over periods",
        description="Every windowed KPI of the live report (docs/kpis.md) per overall, team and "
        "agent over [--from, --to), by day, week or month, with the period before. Counts, "
        "sums and means equal the live windows'; quantiles are exact.", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _period_arguments(report)
    report.add_argument("--by", choices=("day", "week", "month"),
                        help="one period per day, ISO week or calendar month (default: one "
                        "period)")
    report.add_argument("--slice", default="", metavar="ATTR,...",
                        help="also group by conversation attributes: channel, priority, "
                        "customer, source")
    report.add_argument("--compare", action="store_true",
                        help="the period before each, beside it")
    report.add_argument("--format", choices=("table", "json", "csv"), default=None,
                        help="default: table on a terminal, else json")
    report.set_defaults(run=run_report)
    conversations = jobs.add_parser(
        "conversations", help="one row per conversation: times, durations, SLA, ratings",
        description="One row per conversation created in [--from, --to): ids, team, agents, "
        "attributes, timestamps, every duration (plain and business), reopens, replies, "
        "handoff, SLA results, ratings with comments.", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _period_arguments(conversations)
    for name in ("team", "agent", "channel", "priority", "customer"):
        conversations.add_argument(f"--{name}", metavar=name.upper(),
                                   help=f"only conversations of this {name}")
    conversations.add_argument("--format", choices=("csv", "json", "parquet"), default="csv",
                               help="csv (default), json (one object a line) or parquet "
                               "(needs --output)")
    conversations.add_argument("--output", type=Path, metavar="FILE",
                               help="write here instead of stdout")
    conversations.set_defaults(run=run_conversations)
    erase = jobs.add_parser(
        "erase", help="remove a customer's conversations (a privacy request)",
        description="Remove every conversation of a customer and its facts (rating comments "
        "included) from the history database, and say how many went. Running it again "
        "removes nothing more.",
        epilog="example:\n  support-kpi history erase --customer cust-311 --db history.duckdb",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    erase.add_argument("--customer", required=True, metavar="ID", help="the customer_id")
    erase.set_defaults(run=run_erase)
    export = jobs.add_parser(
        "export", help="the history as Parquet files partitioned by day",
        description="Write the history as Parquet: facts/day=YYYY-MM-DD/*.parquet (the UTC day "
        "of each fact's time) and one file for each other table. DuckDB, ClickHouse, Spark or "
        "Trino read them as they are; `history report --parquet DIR` does too.",
        epilog="example:\n  support-kpi history export --output /data/history --db "
        "history.duckdb", formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("--output", type=Path, required=True, metavar="DIR")
    export.set_defaults(run=run_export)
    for parser in (report, conversations, erase, export):
        parser.add_argument("--db", type=Path, metavar="PATH",
                            help=f"the database (default: {DATABASE_FILE} in the data "
                            "directory, $SUPPORT_KPI_DATA_DIR)")
    for parser in (report, conversations):
        parser.add_argument("--parquet", type=Path, metavar="DIR",
                            help="read an export of `history export` instead of the database")


def _period_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", required=True, metavar="T",
                        help="start: a date (2024-03-04) or an RFC 3339 time")
    parser.add_argument("--to", dest="end", required=True, metavar="T",
                        help="end (excluded): a date or an RFC 3339 time")
    parser.add_argument("--timezone", metavar="TZ",
                        help="where dates, days, weeks and months begin (IANA name; default: "
                        "the configuration's defaults.timezone, else UTC)")
    parser.add_argument("--config", metavar="F",
                        help="YAML configuration: its defaults.timezone and the weighted "
                        "score's weights")


class _Refused(Exception):
    """A request that cannot be answered; the message names the parameter."""


def _fail(job: str, message: str) -> int:
    print(f"support-kpi history {job}: {message}", file=sys.stderr)
    return 2


def _period(args: argparse.Namespace, config: Any) -> tuple[Any, int, int]:
    """(timezone, start ms, end ms) of ``--timezone`` (default: the configuration's
    ``defaults.timezone``), ``--from``, ``--to``; raises _Refused."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from service.history.periods import parse_bound

    name = args.timezone if args.timezone is not None else config.defaults.timezone
    try:
        tz = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _Refused(f"--timezone {name!r} is not an IANA timezone (e.g. "
                       "Europe/Berlin, UTC)") from None
    bounds = []
    for flag, text in (("--from", args.start), ("--to", args.end)):
        try:
            bounds.append(parse_bound(text, tz))
        except ValueError as error:
            raise _Refused(f"{flag}: {error}") from None
    start, end = bounds
    if start >= end:
        raise _Refused(f"--from ({args.start}) must be before --to ({args.end})")
    return tz, start, end


def _within_retention(connection: Any, starts: list[tuple[str, int]], end_ms: int) -> None:
    """Raises _Refused naming the first parameter whose period begins before what the
    database keeps (``history.days`` before its as-of); HistoryError for an unfinished one.
    Says on stderr when the period runs past the history's as-of (that part is empty)."""
    from service.engine.records import format_time
    from service.history.database import held_span

    kept_from, as_of = held_span(connection)
    for flag, start_ms in starts:
        if start_ms < kept_from:
            raise _Refused(f"{flag} reaches before {format_time(kept_from)}, where the "
                           "history's retention (history.days) begins; give a later --from")
    if end_ms > as_of:
        print(f"note: the history ends at {format_time(as_of)}; what --to asks for after it "
              "is empty", file=sys.stderr)


def _reader(args: argparse.Namespace) -> Any:
    """A connection to ``--parquet``'s export or the database; raises HistoryError when
    neither is there."""
    from service.history.database import HistoryError, open_history, open_parquet

    if args.parquet is not None:
        if not (args.parquet / "facts").is_dir():
            raise HistoryError(f"{args.parquet}: no export here (write one with `support-kpi "
                               "history export --output DIR`)")
        return open_parquet(args.parquet)
    return open_history(_database(args), read_only=True)


def _database(args: argparse.Namespace) -> Path:
    from service.cli import _settings

    return args.db if args.db is not None else Path(_settings().data_dir) / DATABASE_FILE


def run_report(args: argparse.Namespace) -> int:
    """``support-kpi history report``: 0, or 2 with one line naming what is wrong."""
    from service.cli import _load_config
    from service.history.database import HistoryError
    from service.history.output import report_csv, report_table
    from service.history.periods import Period, periods, previous
    from service.history.report import SLICES, period_report
    from service.replay import report_json

    config = _load_config(args.config)
    try:
        tz, start, end = _period(args, config)
    except _Refused as error:
        return _fail("report", str(error))
    slices = [name.strip() for name in args.slice.split(",") if name.strip()]
    unknown = [name for name in slices if name not in SLICES]
    if unknown:
        return _fail("report", f"--slice {unknown[0]!r} is not a slice; use "
                     f"{', '.join(SLICES)}")
    cut = periods(start, end, args.by, tz)
    before = [previous(period, args.by, tz) for period in cut] if args.compare else None
    try:
        connection = _reader(args)
        _within_retention(connection, [("--from", start)] + [
            ("--compare", period.start_ms) for period in before or ()], end)
        report = period_report(connection, Period(start, end), cut, before, slices,
                               config.weighted_score)
    except (HistoryError, _Refused) as error:
        return _fail("report", str(error))
    form = args.format or ("table" if sys.stdout.isatty() else "json")
    if form == "json":
        sys.stdout.buffer.write(report_json(report, sys.stdout.isatty()))
    else:
        sys.stdout.write(report_csv(report) if form == "csv" else report_table(report))
    return 0


def run_conversations(args: argparse.Namespace) -> int:
    """``support-kpi history conversations``: 0, or 2 with one line naming what is wrong."""
    import contextlib
    import csv

    import orjson

    from service.cli import _load_config
    from service.history.conversations import (
        COLUMNS,
        FILTERS,
        conversation_rows,
        conversations_table,
    )
    from service.history.database import HistoryError

    try:
        _, start, end = _period(args, _load_config(args.config))
    except _Refused as error:
        return _fail("conversations", str(error))
    if args.format == "parquet" and args.output is None:
        return _fail("conversations", "--format parquet is binary: give --output FILE")
    if args.output is not None and not args.output.parent.is_dir():
        return _fail("conversations", f"--output {args.output}: the directory "
                     f"{args.output.parent} does not exist")
    filters = {name: getattr(args, name) for name in FILTERS
               if getattr(args, name) is not None}
    try:
        connection = _reader(args)
        _within_retention(connection, [("--from", start)], end)
        rows = list(conversation_rows(connection, start, end, filters))
    except (HistoryError, _Refused) as error:
        return _fail("conversations", str(error))
    if args.format == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(conversations_table(rows), args.output)
    else:
        with contextlib.ExitStack() as stack:
            out = (stack.enter_context(open(args.output, "w", newline="", encoding="utf-8"))
                   if args.output else sys.stdout)
            if args.format == "csv":
                writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)
            else:
                out.writelines(orjson.dumps(row).decode() + "\n" for row in rows)
    print(f"{len(rows):,} conversations", file=sys.stderr)
    return 0


def run_erase(args: argparse.Namespace) -> int:
    """``support-kpi history erase``: 0 (what went is printed), or 2 for a database it cannot
    open."""
    from service.history.database import HistoryError, erase_customer, open_history

    path = _database(args)
    if not path.exists():
        return _fail("erase", f"{path}: no history database here (give --db)")
    try:
        conversations, facts = erase_customer(open_history(path), args.customer)
    except HistoryError as error:
        return _fail("erase", str(error))
    print(f"customer {args.customer!r}: {conversations:,} conversations and {facts:,} facts "
          f"erased from {path}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    """``support-kpi history export``: 0 (how many facts went where is printed), or 2."""
    from service.history.database import HistoryError, export_parquet, open_history

    path = _database(args)
    try:
        facts = export_parquet(open_history(path, read_only=True), args.output)
    except HistoryError as error:
        return _fail("export", str(error))
    print(f"{facts:,} facts of {path} written as Parquet to {args.output}")
    return 0

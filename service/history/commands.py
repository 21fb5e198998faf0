"""``support-kpi history``: period reports from the history database (SPEC §8)."""

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_history_parser", "run_conversations", "run_erase", "run_export", "run_report",
           "run_sink"]

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
        "handoff, SLA results, ratings with comments.",
        epilog="examples:\n  support-kpi history conversations --from 2024-03-01 --to "
        "2024-04-01 > march.csv\n  support-kpi history conversations --from 2024-03-01 --to "
        "2024-04-01 --team billing --format parquet --output march.parquet\n  support-kpi "
        "history conversations --from 2024-03-04 --to 2024-03-05 --customer cust-311 --format "
        "json",
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
    export.add_argument("--output", type=Path, required=True, metavar="DIR",
                        help="the directory to write (an earlier export there is replaced)")
    export.set_defaults(run=run_export)
    sink = jobs.add_parser(
        "sink", help="fill the history database from the workers, and answer over HTTP",
        description="Read the history topic the workers write (SUPPORT_KPI_HISTORY_TOPIC) and "
        "keep the history database up to date, each batch in one transaction with the "
        "topic's offsets; serve GET /history/report and /history/conversations on "
        "SUPPORT_KPI_HISTORY_HOST:SUPPORT_KPI_HISTORY_PORT (127.0.0.1:8090). Run one.",
        epilog="examples:\n  support-kpi history sink\n  support-kpi history sink --db "
        "/data/history.duckdb --port 8091\n  curl 'http://127.0.0.1:8090/history/report?"
        "from=2024-03-04&to=2024-03-11&by=day&compare=1'",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sink.add_argument("--port", type=int, help="HTTP port (default: SUPPORT_KPI_HISTORY_PORT)")
    sink.add_argument("--config", metavar="F", help="YAML configuration (history.days, "
                      "defaults.timezone, the weighted score)")
    sink.set_defaults(run=run_sink)
    for parser in (report, conversations, erase, export, sink):
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


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _fail(job: str, message: str) -> int:
    print(f"support-kpi history {job}: {message}", file=sys.stderr)
    return 2


def _flag(parameter: str) -> str:
    return f"--{parameter}"


def _params(args: argparse.Namespace, *names: str) -> dict[str, str | None]:
    """The query's parameters (queries.py's names) from the command line."""
    given = {"from": args.start, "to": args.end, "timezone": args.timezone}
    for name in names:
        value = getattr(args, name)
        given[name] = ("1" if value else None) if isinstance(value, bool) else value
    return given


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
    from service.history.queries import Refused, report_query
    from service.replay import report_json

    config = _load_config(args.config)
    try:
        report, note = report_query(_reader(args), _params(args, "by", "slice", "compare"),
                                    config, _flag)
    except (HistoryError, Refused) as error:
        return _fail("report", str(error))
    if note is not None:
        print(f"note: {note}", file=sys.stderr)
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
    from service.history.conversations import COLUMNS, FILTERS, conversations_table
    from service.history.database import HistoryError
    from service.history.queries import Refused, conversations_query, parse_span

    config = _load_config(args.config)
    try:
        parse_span(args.start, args.end, args.timezone, config, _flag)
    except Refused as error:
        return _fail("conversations", str(error))
    if args.format == "parquet" and args.output is None:
        return _fail("conversations", "--format parquet is binary: give --output FILE")
    if args.output is not None and not args.output.parent.is_dir():
        return _fail("conversations", f"--output {args.output}: the directory "
                     f"{args.output.parent} does not exist")
    try:
        rows, note = conversations_query(_reader(args), _params(args, *FILTERS), config, _flag)
    except (HistoryError, Refused) as error:
        return _fail("conversations", str(error))
    if note is not None:
        print(f"note: {note}", file=sys.stderr)
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
    print(f"customer {args.customer!r}: {_count(conversations, 'conversation')} and "
          f"{_count(facts, 'fact')} erased from {path}")
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


def run_sink(args: argparse.Namespace) -> int:
    """``support-kpi history sink``: runs until stopped; 2 for a database or an address it
    cannot use, 1 when Kafka cannot be reached."""
    import asyncio
    import logging

    from service import preflight
    from service.cli import _kafka_failed, _load_config, _settings, _with_port
    from service.history.database import HistoryError
    from service.history.service import KafkaUnavailable, SinkService, serve
    from service.logs import install_repeat_filter, quiet_bad_requests
    from service.runtime import tune_gc

    settings, port_setting = _with_port(_settings("history sink"), args.port, "history_port")
    config = _load_config(args.config or (str(settings.config) if settings.config else None))
    path = _database(args)
    if not settings.history_topic:
        return _fail("sink", "SUPPORT_KPI_HISTORY_TOPIC is empty, so the workers send nothing "
                     "to keep; unset it (default support.history)")
    try:
        preflight.check_http(settings.history_host, settings.history_port, port_setting,
                             prefix="SUPPORT_KPI_HISTORY")
        warning = preflight.check_exposure(settings, settings.history_host,
                                           "SUPPORT_KPI_HISTORY_HOST")
    except preflight.PreflightError as error:
        return _fail("sink", str(error))
    if warning:
        print(f"support-kpi history sink: {warning}", file=sys.stderr)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    install_repeat_filter()
    quiet_bad_requests()
    tune_gc()
    token = settings.token.get_secret_value() if settings.token else None
    service = SinkService(path, settings.kafka_bootstrap_servers, settings.history_topic,
                          settings.dead_letter_topic, config)

    async def started() -> None:
        print(f"support-kpi history sink: {path} from {settings.history_topic}, "
              f"http://{settings.history_host}:{settings.history_port}/history/report",
              file=sys.stderr, flush=True)

    try:
        asyncio.run(serve(service, token, settings.history_host, settings.history_port,
                          started))
    except HistoryError as error:
        return _fail("sink", str(error))
    except (KafkaUnavailable, OSError) as error:
        return _kafka_failed("history sink", settings.kafka_bootstrap_servers, error)
    except KeyboardInterrupt:
        return 0
    return 0

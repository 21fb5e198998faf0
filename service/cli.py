"""``support-kpi``: one entry point, a subcommand per job."""

import argparse
import sys
from datetime import datetime

__all__ = ["main"]

EXAMPLES = """\
examples:
  support-kpi replay events.jsonl                      report as of the last event
  support-kpi replay events.jsonl --as-of 2024-03-04T18:00:00Z --config team.yaml
  cat events.jsonl | support-kpi replay -
  support-kpi import servicenow incidents.csv --timezone Europe/Berlin > events.jsonl
"""


def _as_of(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an RFC 3339 time; write e.g. 2024-03-04T18:00:00Z") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no UTC offset; add Z or +HH:MM, e.g. {text}Z")
    from service.engine.records import to_epoch_ms

    return to_epoch_ms(moment)


def _load_config(path: str | None):  # type: ignore[no-untyped-def]
    from service.config import ConfigError, config_from_env, load_config

    try:
        return load_config(path) if path else config_from_env()
    except ConfigError as error:
        print(f"support-kpi: bad configuration: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def _replay(args: argparse.Namespace) -> int:
    from service.engine.engine import KpiEngine
    from service.replay import open_lines, replay_lines, report_json
    from service.runtime import tune_gc

    tune_gc()
    engine = KpiEngine(_load_config(args.config))
    progress = sys.stderr if sys.stderr.isatty() else None
    try:
        stats = replay_lines(engine, open_lines(args.file), args.as_of, progress=progress)
    except FileNotFoundError:
        print(f"support-kpi replay: {args.file}: no such file (give a JSON-lines file, or - "
              "for stdin)", file=sys.stderr)
        return 2
    print(stats.summary(engine), file=sys.stderr)
    pretty = args.pretty or (args.pretty is None and sys.stdout.isatty())
    sys.stdout.buffer.write(report_json(engine.report(args.as_of), pretty))
    return 0


def _import(args: argparse.Namespace) -> int:
    from service.importers.servicenow import run_import

    return run_import(args.rest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="support-kpi",
        description="Live customer-support KPIs per agent and team, from helpdesk events.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    replay = commands.add_parser(
        "replay", help="replay a JSON-lines event file and print the KPI report",
        description="Replay canonical events (one JSON object or array per line) through the KPI "
        "engine and print the report JSON. Invalid lines are skipped and counted on stderr.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    replay.add_argument("file", metavar="FILE|-", help="events, one per line; - reads stdin")
    replay.add_argument("--as-of", type=_as_of, metavar="T",
                        help="report time, RFC 3339 with offset (default: the latest event "
                        "time rounded up to the next minute)")
    replay.add_argument("--config", metavar="F", type=str,
                        help="YAML configuration (default: $SUPPORT_KPI_CONFIG, else built-in "
                        "defaults)")
    replay.add_argument("--pretty", action=argparse.BooleanOptionalAction, default=None,
                        help="indent the JSON (default: when stdout is a terminal)")
    replay.set_defaults(run=_replay)

    importer = commands.add_parser(
        "import", help="convert a helpdesk export into canonical events",
        description="Convert an export into canonical events on stdout. Sources: servicenow.",
        epilog="example:\n  support-kpi import servicenow incidents.csv > events.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    importer.add_argument("source", choices=["servicenow"])
    importer.add_argument("rest", nargs=argparse.REMAINDER, metavar="ARGS",
                          help="FILE|- [--timezone TZ]")
    importer.set_defaults(run=_import)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())

"""``support-kpi``: one entry point, a subcommand per job."""

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.stream.client import Missing, WorkerRefused

__all__ = ["main"]

EXAMPLES = """\
examples:
  support-kpi worker --port 8001                       a streaming worker
  support-kpi simulate --rate 50                       live traffic into Kafka
  support-kpi gateway                                  helpdesk webhooks into Kafka
  support-kpi report                                   merged report of the running workers
  support-kpi queue --state breaching --team billing   which conversations are breaching
  support-kpi board --workers http://127.0.0.1:8001,http://127.0.0.1:8002   the wallboard
  support-kpi agent-token a7                           the token of agent a7's feedback page
  support-kpi replay events.jsonl                      report as of the last event
  support-kpi replay events.jsonl --as-of 2024-03-04T18:00:00Z --config team.yaml
  cat events.jsonl | support-kpi replay -
  support-kpi import servicenow incidents.csv --timezone Europe/Berlin > events.jsonl
  support-kpi replay events.jsonl --history history.duckdb   fill a history database
  support-kpi history report --from 2024-03-01 --to 2024-04-01 --by week --compare

report, queue and explain exit 0 when every worker answered, 3 when one did not (what the
others answered is printed, the missing ones named), 2 for a request the workers refuse (a bad
--as-of, a team or agent no worker knows: the known ones are listed), 1 when none answers.

environment: worker, gateway, history sink, produce and simulate reach Kafka at
KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092); every setting is listed in
docs/configuration.md ("Environment").
"""


def _as_of(text: str) -> int:
    from service.timefmt import parse_as_of

    try:
        return parse_as_of(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value:g} must be more than 0")
    return value


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
    config = _load_config(args.config)
    engine = KpiEngine(config)
    progress = sys.stderr if sys.stderr.isatty() else None
    latest_ms = None
    if args.as_of is None:
        import time

        latest_ms = int(time.time() * 1000 + _settings().max_clock_skew_seconds * 1000)
    ledger = writer = None
    if args.history is not None:
        from service.history.database import HistoryError, HistoryWriter, open_history
        from service.history.ledger import Ledger

        try:
            writer = HistoryWriter(open_history(args.history),
                                   args.history.with_name(args.history.name + ".staging"))
        except HistoryError as error:
            print(f"support-kpi replay: --history {args.history}: {error}", file=sys.stderr)
            return 2
        ledger = Ledger()
    try:
        stats = replay_lines(engine, open_lines(args.file), args.as_of, progress=progress,
                             latest_ms=latest_ms, ledger=ledger, writer=writer)
    except FileNotFoundError:
        print(f"support-kpi replay: {args.file}: no such file (give a JSON-lines file, or - "
              "for stdin)", file=sys.stderr)
        return 2
    print(stats.summary(engine), file=sys.stderr)
    if ledger is not None and writer is not None:
        writer.finish(ledger, engine.default_as_of() if args.as_of is None else args.as_of,
                      config.history.retention_ms)
        print(f"history: {writer.facts:,} facts written to {args.history}", file=sys.stderr)
    pretty = args.pretty or (args.pretty is None and sys.stdout.isatty())
    sys.stdout.buffer.write(report_json(engine.report(args.as_of), pretty))
    return 0


def _settings(command: str = ""):  # type: ignore[no-untyped-def]
    """Settings from the environment; a bad one stops with one line naming the variable."""
    from pydantic import ValidationError

    from service.settings import Settings

    try:
        return Settings()
    except ValidationError as error:
        from service.preflight import describe_settings_error

        print(f"support-kpi{' ' + command if command else ''}: "
              f"{describe_settings_error(error)}", file=sys.stderr)
        raise SystemExit(2) from None


def _with_port(settings: Any, port: int | None, field: str) -> tuple[Any, str]:
    """``settings`` with ``--port`` applied to ``field``, and the name of where the port came
    from (for start-up errors)."""
    if port is None:
        return settings, f"SUPPORT_KPI_{field.upper()}"
    return settings.model_copy(update={field: port}), "--port"


def _worker(args: argparse.Namespace) -> int:
    import asyncio

    import faust

    from service import preflight
    from service.logs import quiet_bad_requests, quiet_startup_noise
    from service.runtime import tune_gc
    from service.stream.app import KpiService

    settings, port_setting = _with_port(_settings("worker"), args.port, "http_port")
    config = _load_config(args.config or (str(settings.config) if settings.config else None))
    try:
        warning = preflight.check_local(settings, port_setting)
        asyncio.run(preflight.prepare_topics(settings))
    except preflight.PreflightError as error:
        print(f"support-kpi worker: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        return _kafka_failed("worker", settings.kafka_bootstrap_servers, error)
    if warning:
        print(f"support-kpi worker: {warning}", file=sys.stderr)
    tune_gc()
    quiet_startup_noise()
    quiet_bad_requests()
    service = KpiService(settings, config)
    print(f"support-kpi worker: http://{settings.http_host}:{settings.http_port} "
          f"(/metrics /kpis /readyz), Kafka {settings.kafka_bootstrap_servers}, topic "
          f"{settings.topic}", file=sys.stderr, flush=True)
    worker = faust.Worker(service.app, loglevel=args.loglevel, quiet=True)
    # faust's terminal spinner sets the root logger to DEBUG (so that every record moves it):
    # every debug call in faust's hot paths would then build a log record.
    worker.spinner = None
    worker.execute_from_commandline()
    return 0


def _gateway(args: argparse.Namespace) -> int:
    import asyncio

    from aiohttp import web

    from service import preflight
    from service.gateway.app import GatewayConfigError, build_app, load_config
    from service.gateway.publisher import GatewayPublisher
    from service.publish import ensure_topics

    settings, port_setting = _with_port(_settings("gateway"), args.port, "gateway_port")
    try:
        config = load_config(settings)
        preflight.check_http(settings.gateway_host, settings.gateway_port, port_setting,
                             prefix="SUPPORT_KPI_GATEWAY")
        warning = preflight.check_exposure(settings, settings.gateway_host,
                                           "SUPPORT_KPI_GATEWAY_HOST")
    except (GatewayConfigError, preflight.PreflightError) as error:
        print(f"support-kpi gateway: {error}", file=sys.stderr)
        return 2
    if warning:
        print(f"support-kpi gateway: {warning} (/metrics; the webhooks are verified by "
              "their signatures)", file=sys.stderr)
    if not config.secrets:
        print("support-kpi gateway: no vendor has a secret; set e.g. "
              "SUPPORT_KPI_GATEWAY_INTERCOM_SECRET (see docs/helpdesks.md)",
              file=sys.stderr)
        return 2
    try:
        asyncio.run(ensure_topics(settings.kafka_bootstrap_servers,
                                  [settings.topic, settings.dead_letter_topic],
                                  settings.partitions))
    except Exception as error:
        return _kafka_failed("gateway", settings.kafka_bootstrap_servers, error)
    import logging

    from service.logs import install_repeat_filter, quiet_bad_requests
    from service.stream.reachability import KafkaReachability

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    install_repeat_filter()
    quiet_bad_requests()
    publisher = GatewayPublisher(settings.kafka_bootstrap_servers, settings.topic,
                                 settings.dead_letter_topic)
    app = build_app(config, publisher,
                    kafka=KafkaReachability(settings.kafka_bootstrap_servers))
    print(f"support-kpi gateway: http://{settings.gateway_host}:{settings.gateway_port}"
          f"/webhooks/{{{','.join(sorted(config.secrets))}}} → {settings.topic}",
          file=sys.stderr)
    web.run_app(app, host=settings.gateway_host, port=settings.gateway_port, print=None,
                access_log=None)
    return 0


def _produce(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from service.publish import PublishStats, failure_report, produce
    from service.replay import open_lines

    settings = _settings()
    if args.file != "-" and not Path(args.file).is_file():
        print(f"support-kpi produce: {args.file}: no such file", file=sys.stderr)
        return 2
    progress = sys.stderr if sys.stderr.isatty() else None
    stats = PublishStats()
    try:
        asyncio.run(produce(open_lines(args.file), settings.kafka_bootstrap_servers,
                            settings.topic, settings.partitions, batch=args.batch,
                            timeout_s=args.timeout, progress=progress, stats=stats))
    except KeyboardInterrupt:
        stats.interrupted = True
    except Exception as error:
        if stats.events == 0:
            return _kafka_failed("produce", settings.kafka_bootstrap_servers, error)
        stats.error = stats.error or f"{type(error).__name__}: {error}"
    if stats.undelivered or stats.resume_line is not None:
        print(failure_report("produce", stats, settings.kafka_bootstrap_servers, args.file),
              file=sys.stderr)
        return 130 if stats.interrupted and not stats.error else 1
    print(f"published {stats.delivered} events in {stats.delivered_messages} messages to "
          f"{settings.topic}" + (f"; {stats.skipped} lines skipped" if stats.skipped else ""),
          file=sys.stderr)
    return 0


def _kafka_failed(command: str, bootstrap: str, error: Exception) -> int:
    print(f"support-kpi {command}: cannot reach Kafka at {bootstrap} ({error}). Start one with "
          "`python deploy/kafka/local_kafka.py run` or set KAFKA_BOOTSTRAP_SERVERS.",
          file=sys.stderr)
    return 1


def _incident(args: argparse.Namespace) -> Any:
    """The simulator's incident from ``--incident-*`` (None with ``--incident-minutes 0``)."""
    from service.desk import IncidentPlan

    if args.incident_minutes <= 0:
        return None
    return IncidentPlan(args.incident_team, args.incident_at * 60, args.incident_minutes * 60)


def _simulate(args: argparse.Namespace) -> int:
    import asyncio

    from service.publish import PublishStats, failure_report, simulate

    settings = _settings()
    progress = sys.stderr if sys.stderr.isatty() else None
    if args.gateway:
        return _simulate_webhooks(args, settings, progress)
    stats = PublishStats()
    try:
        asyncio.run(simulate(settings.kafka_bootstrap_servers, settings.topic,
                             settings.partitions, args.rate, args.agents, args.duration,
                             args.seed, args.batch, progress, args.timeout, stats,
                             args.backfill_hours * 3600, _incident(args)))
    except KeyboardInterrupt:
        stats.interrupted = True
    except Exception as error:
        if stats.events == 0:
            return _kafka_failed("simulate", settings.kafka_bootstrap_servers, error)
        stats.error = stats.error or f"{type(error).__name__}: {error}"
    if stats.undelivered or stats.error:
        print(failure_report("simulate", stats, settings.kafka_bootstrap_servers),
              file=sys.stderr)
        return 1
    print(f"simulated {stats.delivered} events in {stats.delivered_messages} messages",
          file=sys.stderr)
    return 0


def _simulate_webhooks(args: argparse.Namespace, settings: Any, progress: Any) -> int:
    import asyncio

    import aiohttp

    from service.gateway.simulate import WebhookStats, simulate_webhooks

    if settings.gateway_intercom_secret is None:
        print("support-kpi simulate: --gateway posts signed Intercom webhooks: set "
              "SUPPORT_KPI_GATEWAY_INTERCOM_SECRET to the gateway's Intercom secret",
              file=sys.stderr)
        return 2
    if not args.gateway.startswith(("http://", "https://")):
        print(f"support-kpi simulate: --gateway {args.gateway}: give the gateway's URL with "
              "its scheme, e.g. http://127.0.0.1:8088", file=sys.stderr)
        return 2
    url = args.gateway.rstrip("/") + "/webhooks/intercom"
    stats = WebhookStats()
    try:
        asyncio.run(simulate_webhooks(url, settings.gateway_intercom_secret.get_secret_value(),
                                      args.rate, args.agents, args.duration, args.seed,
                                      progress, stats, args.backfill_hours * 3600,
                                      _incident(args)))
    except KeyboardInterrupt:
        pass
    except aiohttp.ClientError as error:
        print(f"\nsupport-kpi simulate: cannot post to {url} ({error}); is "
              "`support-kpi gateway` running there?", file=sys.stderr)
        return 1
    print(f"\nsimulated {stats.events} events as {stats.deliveries} Intercom webhooks"
          f" ({stats.skipped} not sent: QA reviews and NPS/CES surveys, which Intercom has "
          "not)", file=sys.stderr)
    if stats.refused:
        print(f"support-kpi simulate: {stats.refused} webhooks refused: {stats.error}",
              file=sys.stderr)
        return 1
    return 0


def _workers_and_token(args: argparse.Namespace, settings: Any = None
                       ) -> tuple[list[str], str | None]:
    """The worker URLs (``--workers`` or SUPPORT_KPI_WORKERS) and the operator token."""
    settings = settings if settings is not None else _settings()
    urls = [u.strip() for u in (args.workers or settings.workers).split(",") if u.strip()]
    return urls, settings.token.get_secret_value() if settings.token else None


def _unreachable(command: str, error: OSError, urls: list[str]) -> int:
    print(f"support-kpi {command}: {error}. Are the workers running? (SUPPORT_KPI_WORKERS="
          f"{','.join(urls)})", file=sys.stderr)
    return 1


def _refused(command: str, error: "WorkerRefused", urls: list[str], token: str | None) -> int:
    """A worker's refusal (:class:`~service.stream.client.WorkerRefused`), relayed: exit 2 for
    a request it calls bad (400) or a team or agent it does not know (404, with the names
    every worker knows), 1 otherwise."""
    if error.unknown is not None:
        from service.names import UnknownName
        from service.stream.client import known_names

        known = known_names(urls, str(error.unknown.get("level")), token)
        unknown = UnknownName.of_answer(error.unknown, known)
        print(f"support-kpi {command}: {unknown.message()}", file=sys.stderr)
        return 2
    print(f"support-kpi {command}: worker {error}", file=sys.stderr)
    return 2 if error.status == 400 else 1


def _incomplete(command: str, missing: "list[Missing]", left_out: str) -> int:
    """After printing what the others answered: name each worker left out and what its part
    would have held; exit 3."""
    for gone in missing:
        print(f"support-kpi {command}: incomplete: {gone.url} did not answer ({gone.reason}); "
              f"{left_out}", file=sys.stderr)
    return 3


def _print_listing(listing: dict[str, Any], as_json: bool,
                   as_text: Callable[[dict[str, Any]], str]) -> None:
    if as_json:
        import json

        print(json.dumps(listing, indent=2))
    else:
        print(as_text(listing))
    sys.stdout.flush()


def _report(args: argparse.Namespace) -> int:
    from service.stream.client import WorkerRefused, fetch_reports

    urls, token = _workers_and_token(args)
    try:
        report, missing = fetch_reports(urls, args.as_of_text, token)
    except WorkerRefused as error:
        return _refused("report", error, urls, token)
    except OSError as error:
        return _unreachable("report", error, urls)
    from service.replay import report_json

    pretty = args.pretty or (args.pretty is None and sys.stdout.isatty())
    sys.stdout.buffer.write(report_json(report, pretty))
    sys.stdout.flush()
    if missing:
        return _incomplete("report", missing, "the teams and agents it holds are not in the "
                           "report")
    return 0


def _queue_table(listing: dict[str, Any]) -> str:
    from service.board.views import duration

    entries = listing["conversations"]
    lines = [f"{listing['state']}: {listing['total']} conversation(s) as of {listing['as_of']}"
             + (f", the {len(entries)} most urgent" if len(entries) < listing["total"] else "")]
    if not entries:
        return lines[0]
    names = listing.get("names", {})
    teams, agents = names.get("teams", {}), names.get("agents", {})
    header = ("left", "deadline", "conversation", "team", "agent", "priority", "channel",
              "status", "clock")
    rows = [header] + [(
        duration(e["seconds_left"]),
        e["deadline"] or "–", e["conversation_id"], teams.get(e["team"], e["team"] or "–"),
        agents.get(e["agent"], e["agent"] or "–"),
        e["priority"], e["channel"], e["status"], e["clock"] or "–") for e in entries]
    return "\n".join([*lines, *_columns(rows)])


def _queue(args: argparse.Namespace) -> int:
    import time

    from service.engine.records import format_time
    from service.stream.client import WorkerRefused, fetch_queue

    urls, token = _workers_and_token(args)
    as_of = args.as_of_text or format_time(int(time.time() * 1000))
    params = {"state": args.state, "team": args.team, "agent": args.agent,
              "limit": args.limit, "as_of": as_of}
    try:
        listing, missing = fetch_queue(urls, params, token)
    except WorkerRefused as error:
        return _refused("queue", error, urls, token)
    except OSError as error:
        return _unreachable("queue", error, urls)
    _print_listing(listing, args.json, _queue_table)
    if missing:
        return _incomplete("queue", missing, "the conversations it holds are not listed")
    return 0


def _explain_text(listing: dict[str, Any]) -> str:
    """The explain answer for a terminal: the value, each feed's count and sum, then the facts
    (and the presence stretches) one per line."""
    import json

    who = "overall" if listing["level"] == "overall" else f"{listing['level']} {listing['key']}"
    lines = [f"{listing['kpi']} of {who}, window {listing['window']} "
             f"[{listing['from']}, {listing['as_of']}): {json.dumps(listing['value'])}"]
    for name, total in listing["totals"].items():
        lines.append(f"  {name}: " + (f"count {total['count']}, sum {total['sum']:g}"
                                      if isinstance(total, dict) else f"{total:g}"))
    header = ("at", "conversation", "fact", "agent", "team", "adds", "clock")
    rows = [header]
    for fact in listing["facts"]:
        adds = ", ".join(f"{name} {value:g}" for name, value in fact["adds"].items())
        clock = ""
        if "start" in fact:
            clock = f"{fact['start']} → {fact['stop']}, {fact['seconds']:g} s"
            if "business_seconds" in fact:
                clock += f" ({fact['business_seconds']:g} business"
                if "paused_seconds" in fact:
                    clock += f", {fact['paused_seconds']:g} paused, SLA " + (
                        "achieved" if fact["sla_achieved"] else "breached")
                clock += ")"
        rows.append((fact["at"], fact["conversation_id"], fact["fact"], fact["agent"] or "–",
                     fact["team"] or "–", adds, clock))
    if len(rows) > 1:
        lines += _columns(rows)
    if listing["presence"]:
        stretches = [("start", "stop", "agent", "team", "logged in s", "busy s")] + [
            (p["start"], p["stop"], p["agent"], p["team"] or "–", f"{p['logged_in_seconds']:g}",
             f"{p['busy_seconds']:g}") for p in listing["presence"]]
        lines += ["", *_columns(stretches)]
    return "\n".join(lines)


def _columns(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows of cells as aligned text lines."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            .rstrip() for row in rows]


def _explain(args: argparse.Namespace) -> int:
    import time

    from service.engine.records import format_time
    from service.stream.client import WorkerRefused, fetch_explain

    urls, token = _workers_and_token(args)
    level, key = (("agent", args.agent) if args.agent else ("team", args.team) if args.team
                  else ("overall", None))
    params = {"kpi": args.kpi, "level": level, "key": key, "window": args.window,
              "as_of": args.as_of_text or format_time(int(time.time() * 1000))}
    try:
        listing, missing = fetch_explain(urls, params, token)
    except WorkerRefused as error:
        return _refused("explain", error, urls, token)
    except LookupError as error:
        print(f"support-kpi explain: {level} {key or ''}: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        return _unreachable("explain", error, urls)
    _print_listing(listing, args.json, _explain_text)
    if missing:
        return _incomplete("explain", missing, "the facts of its conversations (and, if it "
                           "holds the owner, the presence) are not counted")
    return 0


def _board(args: argparse.Namespace) -> int:
    from aiohttp import web

    from service import preflight
    from service.board.app import Board, board_app
    from service.logs import quiet_bad_requests

    settings, port_setting = _with_port(_settings("board"), args.port, "board_port")
    urls, token = _workers_and_token(args, settings)
    try:
        preflight.check_http(settings.board_host, settings.board_port, port_setting,
                             prefix="SUPPORT_KPI_BOARD")
        warning = preflight.check_exposure(settings, settings.board_host,
                                           "SUPPORT_KPI_BOARD_HOST")
    except preflight.PreflightError as error:
        print(f"support-kpi board: {error}", file=sys.stderr)
        return 2
    if warning:
        print(f"support-kpi board: {warning}", file=sys.stderr)
    secret = settings.agent_secret.get_secret_value() if settings.agent_secret else None
    board = Board(urls, token, secret, settings.board_refresh_s,
                  history_url=settings.history_url)
    suffix = "?token=…" if token else ""
    print(f"support-kpi board: http://{settings.board_host}:{settings.board_port}/board{suffix}"
          f" (workers {', '.join(urls)})", file=sys.stderr)
    quiet_bad_requests()
    web.run_app(board_app(board), host=settings.board_host, port=settings.board_port,
                print=None, access_log=None)
    return 0


def _agent_token(args: argparse.Namespace) -> int:
    from service.engine.feedback import agent_token

    settings = _settings()
    if settings.agent_secret is None:
        print("support-kpi agent-token: SUPPORT_KPI_AGENT_SECRET is not set; set it to the "
              "secret the workers use (a long random string, e.g. `openssl rand -hex 32`)",
              file=sys.stderr)
        return 2
    token = agent_token(settings.agent_secret.get_secret_value(), args.agent)
    if args.url:
        from urllib.parse import quote

        print(f"{args.url.rstrip('/')}/agents/{quote(args.agent, safe='')}?token={token}")
    else:
        print(token)
    return 0


def _import(args: argparse.Namespace) -> int:
    from service.importers.servicenow import run_import

    return run_import(args.rest)


def build_parser() -> argparse.ArgumentParser:
    from service.desk import add_incident_arguments

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
    replay.add_argument("--history", metavar="PATH", type=Path,
                        help="also fill a new history database at PATH (DuckDB) with every "
                        "fact, for `support-kpi history`")
    replay.set_defaults(run=_replay)

    from service.history.commands import add_history_parser

    add_history_parser(commands)

    importer = commands.add_parser(
        "import", help="convert a helpdesk export into canonical events",
        description="Convert an export into canonical events on stdout. Sources: servicenow.",
        epilog="example:\n  support-kpi import servicenow incidents.csv > events.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    importer.add_argument("source", choices=["servicenow"])
    importer.add_argument("rest", nargs=argparse.REMAINDER, metavar="ARGS",
                          help="FILE|- [--timezone TZ]")
    importer.set_defaults(run=_import)

    worker = commands.add_parser(
        "worker", help="run a streaming worker (Kafka in, /metrics and /kpis out)",
        description="Run one Faust worker of the streaming service. Settings come from the "
        "environment (KAFKA_BOOTSTRAP_SERVERS, SUPPORT_KPI_*; see docs/configuration.md).",
        epilog="example:\n  KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 support-kpi worker --port 8001",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    worker.add_argument("--port", type=int, help="HTTP port (default: $SUPPORT_KPI_HTTP_PORT, "
                        "else 8000)")
    worker.add_argument("--config", metavar="F", help="YAML configuration")
    worker.add_argument("--loglevel", default="warning", help="faust log level")
    worker.set_defaults(run=_worker)

    gateway = commands.add_parser(
        "gateway", help="receive helpdesk webhooks and publish canonical events",
        description="Webhooks of Intercom, Zendesk, Front, Help Scout, Freshdesk and Chatwoot "
        "in (POST /webhooks/VENDOR, signatures verified), canonical events on the input topic "
        "out. Each vendor with a secret (SUPPORT_KPI_GATEWAY_<VENDOR>_SECRET or "
        "SUPPORT_KPI_GATEWAY_SECRETS_FILE) is served.",
        epilog="example:\n  SUPPORT_KPI_GATEWAY_INTERCOM_SECRET=... support-kpi gateway "
        "--port 8088\n  then point Intercom's webhook at https://YOUR-HOST/webhooks/intercom "
        "(TLS in front: see docs/helpdesks.md)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    gateway.add_argument("--port", type=int, help="HTTP port (default: "
                         "$SUPPORT_KPI_GATEWAY_PORT, else 8088)")
    gateway.set_defaults(run=_gateway)

    producer = commands.add_parser(
        "produce", help="publish a JSON-lines file to the input topic",
        description="Publish events (one JSON object or array per line) keyed by "
        "conversation_id, else agent_id.",
        epilog="example:\n  support-kpi produce events.jsonl --batch 200",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    producer.add_argument("file", metavar="FILE|-")
    producer.add_argument("--batch", type=_positive_int, default=1,
                          help="events per message, grouped by partition (batch envelopes)")
    producer.add_argument("--timeout", type=_positive_float, default=60.0, metavar="S",
                          help="give up when Kafka has not acknowledged an event for S seconds "
                          "(default 60): the command then stops reading, exits 1 and says how "
                          "many events were not delivered and from which line to publish again")
    producer.set_defaults(run=_produce)

    simulator = commands.add_parser(
        "simulate", help="publish realistic live traffic",
        description="A working desk, stamped with the current time: agents on shifts that "
        "staff every team at every hour (more by day than by night, in each team's time zone) "
        "take conversations only while available and up to 5 at once; customers write in at a "
        "rate sized to the staff on shift, so the queues stay short and first responses come "
        "within minutes. Chat and email, bots and auto-replies, transfers, pending, reopen, "
        "abandonment, ratings, QA reviews and agent presence. One scheduled incident: a team "
        "goes offline (by default vip, 5 minutes after the start, for 25 minutes) while its "
        "customers keep writing; about 15 minutes in its response clocks pass the 15-minute "
        "target and the SLA alerts fire, and once the team is back they resolve.",
        epilog="examples:\n  support-kpi simulate --agents 40 --duration 600\n"
        "  support-kpi simulate --backfill-hours 24   (the last day first, then live)\n"
        "  support-kpi simulate --incident-at 2 --incident-minutes 20 --incident-team vip\n"
        "  support-kpi simulate --incident-minutes 0   (no incident)\n"
        "  support-kpi simulate --rate 300   (more than the staff can serve: a load test)\n"
        "  support-kpi simulate --gateway http://127.0.0.1:8088   (through the gateway)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    simulator.add_argument("--rate", type=_positive_float, default=None,
                           help="events per second, averaged over a day, whatever the staff "
                           "can serve (default: sized to the staff; about 0.14/s for 40 "
                           "agents)")
    simulator.add_argument("--agents", type=_positive_int, default=40,
                           help="simulated agents on shifts, spread over four teams (default "
                           "40)")
    simulator.add_argument("--duration", type=float, help="seconds (default: until Ctrl-C)")
    simulator.add_argument("--backfill-hours", type=float, default=0, metavar="H",
                           help="start H hours in the past and send what is already due at "
                           "once, so that the windows up to 24 h have data (default 0)")
    add_incident_arguments(simulator)
    simulator.add_argument("--seed", type=int, default=0,
                           help="random seed: the same seed, the same traffic (default 0)")
    simulator.add_argument("--batch", type=_positive_int, default=1, help="events per message")
    simulator.add_argument("--timeout", type=_positive_float, default=60.0, metavar="S",
                           help="give up when Kafka has not acknowledged an event for S "
                           "seconds (default 60): the command then exits 1 and says how many "
                           "events were not delivered")
    simulator.add_argument("--gateway", metavar="URL",
                           help="post the traffic as signed Intercom webhooks to a running "
                           "`support-kpi gateway` at URL instead of publishing to Kafka "
                           "(secret: SUPPORT_KPI_GATEWAY_INTERCOM_SECRET)")
    simulator.set_defaults(run=_simulate)

    reporter = commands.add_parser(
        "report", help="print the merged report of all running workers",
        description="Fetch /kpis from every worker and merge them (each key comes from the "
        "worker that owns it): the same JSON as replay.",
        epilog="example:\n  support-kpi report --workers http://127.0.0.1:8001,"
        "http://127.0.0.1:8002 --as-of 2024-03-04T18:00:00Z",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_workers(reporter)
    reporter.add_argument("--as-of", dest="as_of_text", metavar="T", type=str,
                          help="report time, RFC 3339 with offset (default: now)")
    reporter.add_argument("--pretty", action=argparse.BooleanOptionalAction, default=None)
    reporter.set_defaults(run=_report)

    from service.engine.queue import DEFAULT_QUEUE_LIMIT, QUEUE_STATES

    queue = commands.add_parser(
        "queue", help="list the conversations in a live state, most urgent first",
        description="Fetch /conversations from every worker and merge them: the conversations "
        "behind a live count (breaching, at risk, ...), most urgent first, with the running "
        "response clock's deadline and the seconds left (negative once breached; business "
        "hours and pauses applied).",
        epilog="examples:\n  support-kpi queue --state breaching\n"
        "  support-kpi queue --state at_risk --team billing --limit 10\n"
        "  support-kpi queue --state awaiting_first_response --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    queue.add_argument("--state", required=True, choices=QUEUE_STATES)
    queue.add_argument("--team", help="only this team's conversations")
    queue.add_argument("--agent", help="only the conversations assigned to this agent")
    queue.add_argument("--limit", type=_positive_int, default=DEFAULT_QUEUE_LIMIT,
                       help=f"at most this many (default {DEFAULT_QUEUE_LIMIT})")
    _add_workers(queue)
    queue.add_argument("--as-of", dest="as_of_text", metavar="T", type=str,
                       help="measure the clocks at T, RFC 3339 with offset (default: now)")
    queue.add_argument("--json", action="store_true", help="the merged JSON instead of a table")
    queue.set_defaults(run=_queue)

    explainer = commands.add_parser(
        "explain", help="list the facts behind one windowed KPI value",
        description="Ask the worker that owns the agent, team or overall for the facts behind "
        "one windowed value: each conversation's contribution with its clock (start, stop, "
        "business and paused seconds, SLA result) and the agent and team credited, and for "
        "presence KPIs the logged-in stretches clipped to the window. Each feed's count and "
        "sum give the reported value.",
        epilog="examples:\n  support-kpi explain first_response_seconds --agent a7\n"
        "  support-kpi explain sla --team billing --window 24h\n"
        "  support-kpi explain occupancy_ratio --agent a7 --as-of 2024-03-04T18:00:00Z --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    explainer.add_argument("kpi", help="a windowed report key (first_response_seconds, sla, "
                           "csat, fcr_ratio, occupancy_ratio, ...)")
    whose = explainer.add_mutually_exclusive_group()
    whose.add_argument("--agent", help="the agent's value")
    whose.add_argument("--team", help="the team's value")
    whose.add_argument("--overall", action="store_true", help="the overall value (default)")
    explainer.add_argument("--window", default="1h", choices=("1h", "24h"),
                           help="the window (default 1h)")
    explainer.add_argument("--as-of", dest="as_of_text", metavar="T", type=str,
                           help="the report time, RFC 3339 with offset (default: now)")
    explainer.add_argument("--json", action="store_true",
                           help="the worker's JSON instead of a table")
    _add_workers(explainer)
    explainer.set_defaults(run=_explain)

    boarder = commands.add_parser(
        "board", help="serve the wallboard and the agents' feedback pages, merged from every "
        "worker",
        description="HTML pages that reload themselves: /board (every team: open, awaiting, "
        "at risk, breaching, oldest wait, agents available and busy, 1h first-response p90, "
        "24h SLA and CSAT, the most urgent conversations), /agents/AGENT (the agent's "
        "ratings, comments and reviews) and /reports (a KPI per team by day or week from the "
        "history sink at SUPPORT_KPI_HISTORY_URL, default http://127.0.0.1:8090, and the last "
        "24 h beside the live window). With SUPPORT_KPI_TOKEN set, open /board?token=TOKEN.",
        epilog="examples:\n  support-kpi board --workers http://127.0.0.1:8001,"
        "http://127.0.0.1:8002\n  SUPPORT_KPI_BOARD_PORT=9000 support-kpi board",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    boarder.add_argument("--port", type=int, help="HTTP port (default $SUPPORT_KPI_BOARD_PORT, "
                         "8080)")
    _add_workers(boarder)
    boarder.set_defaults(run=_board)

    tokens = commands.add_parser(
        "agent-token", help="print the token that opens one agent's feedback page",
        description="HMAC-SHA256 of the agent id under SUPPORT_KPI_AGENT_SECRET (the workers' "
        "and the board's secret): it opens that agent's feedback page and no other.",
        epilog="examples:\n  SUPPORT_KPI_AGENT_SECRET=... support-kpi agent-token a7\n"
        "  support-kpi agent-token a7 --url http://127.0.0.1:8080   the page's link",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    tokens.add_argument("agent", help="the agent id, as in the events (agent_id)")
    tokens.add_argument("--url", help="print the link to the agent's page on this board")
    tokens.set_defaults(run=_agent_token)
    return parser


def _add_workers(command: argparse.ArgumentParser) -> None:
    command.add_argument("--workers", help="the workers' URLs, comma-separated (default: "
                         "$SUPPORT_KPI_WORKERS)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except BrokenPipeError:
        # The reader went (`… | head`): what it wanted was written. Python would otherwise
        # report the pipe again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())

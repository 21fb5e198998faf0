"""Start-up checks of ``support-kpi worker``, run before faust starts.

Every failure is a :class:`PreflightError` whose text is one line naming the setting (its
environment variable or command-line flag) and its value, the problem and what to do, e.g.
``SUPPORT_KPI_DATA_DIR=/x: not writable (Permission denied); point it at a writable directory``.

The cheap local checks (:func:`check_local`: store, data directory, HTTP address) come first,
then Kafka (:func:`prepare_topics`: the topics' partition counts).
"""

from __future__ import annotations

import errno
import socket
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from service.access import exposure_problem
from service.settings import Settings

__all__ = [
    "PreflightError",
    "check_data_dir",
    "check_exposure",
    "check_http",
    "check_local",
    "check_partitions",
    "check_store",
    "describe_settings_error",
    "env_name",
    "prepare_topics",
    "topic_partitions",
    "worker_topics",
]

ROCKSDB_EXTRA = "pip install 'support-kpi[rocksdb]'"
PORT_HINT = "choose a free port with --port or {env}"
HOST_HINT = "use an address of this machine, e.g. 127.0.0.1"
SECRET_FIELDS = frozenset({"token"})


class PreflightError(Exception):
    """A setting the worker cannot start with; ``str(error)`` is the one line to print."""


def env_name(field: str) -> str:
    """The environment variable of a :class:`Settings` field (or of a validation alias, which
    pydantic reports instead of the field): ``data_dir`` → ``SUPPORT_KPI_DATA_DIR``,
    ``KAFKA_BOOTSTRAP_SERVERS`` → itself."""
    info = Settings.model_fields.get(field)
    if info is None:
        return field.upper()
    if isinstance(info.validation_alias, str):
        return info.validation_alias
    return f"{Settings.model_config.get('env_prefix', '')}{field}".upper()


def describe_settings_error(error: ValidationError) -> str:
    """One line for a :class:`Settings` validation error: ``VARIABLE=value: reason`` per
    failing setting, joined by ``; ``, e.g. ``SUPPORT_KPI_STORE=redis://: unknown store; use
    memory:// or rocksdb://``. Secret values are shown as ``***``."""
    parts = []
    for item in error.errors(include_url=False):
        field = str(item["loc"][0]) if item["loc"] else ""
        value = "***" if field in SECRET_FIELDS else item.get("input")
        reason = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"{env_name(field)}={value}: {reason}")
    return "; ".join(parts)


def check_store(store: str) -> None:
    """PreflightError when ``store`` is ``rocksdb://`` and no RocksDB binding (rocksdict, or
    faust's older python-rocksdb) can be imported. The scheme itself is validated by
    :class:`Settings`."""
    if store.partition("://")[0] != "rocksdb":
        return
    for module in ("rocksdict", "rocksdb"):
        try:
            __import__(module)
        except ImportError:
            continue
        return
    raise PreflightError(f"SUPPORT_KPI_STORE={store}: the rocksdict package is not installed; "
                         f"install the extra with {ROCKSDB_EXTRA}, or use memory://")


def check_data_dir(path: Path) -> None:
    """Create the data directory (with its parents, as faust would need them) and write a
    temporary file in it; PreflightError when either fails. Works for root too: the write is
    attempted, not predicted from the mode bits."""
    setting = f"SUPPORT_KPI_DATA_DIR={path}"
    if path.exists() and not path.is_dir():
        raise PreflightError(f"{setting}: not a directory; point it at a writable directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise PreflightError(f"{setting}: not writable ({error.strerror or error}); point it "
                             "at a writable directory") from None


def check_http(host: str, port: int, port_setting: str = "SUPPORT_KPI_HTTP_PORT",
               prefix: str = "SUPPORT_KPI_HTTP") -> None:
    """Bind ``host:port`` the way faust's web server will (every address ``host`` resolves
    to, ``SO_REUSEADDR``, IPv6 sockets v6-only) and release it at once. ``port_setting``
    names where the port came from: ``SUPPORT_KPI_HTTP_PORT`` or ``--port``; ``prefix`` the
    variables of this server (``SUPPORT_KPI_GATEWAY`` for the gateway). Port 0 (any free port)
    always passes.

    PreflightError naming the port when it is out of range, in use or privileged, else naming
    ``SUPPORT_KPI_HTTP_HOST`` (a name that does not resolve, an address of another machine).
    """
    sep = " " if port_setting.startswith("-") else "="
    port_line = f"{port_setting}{sep}{port}"
    host_line = f"{prefix}_HOST={host}"
    port_hint = PORT_HINT.format(env=f"{prefix}_PORT")
    if not 0 <= port <= 65535:
        raise PreflightError(f"{port_line}: not a TCP port (0-65535); {port_hint}")
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise PreflightError(f"{host_line}: cannot bind ({reason}); {HOST_HINT}") from None
    for family, kind, proto, _, address in addresses:
        try:
            sock = socket.socket(family, kind, proto)
        except OSError:
            continue
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as error:
                raise PreflightError(_bind_failure(error, str(address[0]), port_line,
                                                   host_line, port_hint)) from None


def _bind_failure(error: OSError, address: str, port_line: str, host_line: str,
                  port_hint: str) -> str:
    if error.errno == errno.EADDRINUSE:
        return f"{port_line}: address already in use on {address}; {port_hint}"
    if error.errno == errno.EACCES:
        return (f"{port_line}: permission denied on {address} (ports below 1024 need "
                f"privileges); {port_hint}")
    return f"{host_line}: cannot bind ({error.strerror or error}); {HOST_HINT}"


def check_local(settings: Settings, port_setting: str = "SUPPORT_KPI_HTTP_PORT") -> str | None:
    """The checks that need no broker, cheapest first: store, data directory, HTTP address
    and who may read it. Raises only PreflightError; returns a warning to print, if any."""
    check_store(settings.store)
    check_data_dir(settings.data_dir)
    check_http(settings.http_host, settings.http_port, port_setting)
    return check_exposure(settings, settings.http_host, "SUPPORT_KPI_HTTP_HOST")


def check_exposure(settings: Settings, host: str, host_setting: str) -> str | None:
    """PreflightError when a server on ``host`` would serve per-agent data beyond loopback
    without the operator token (:func:`service.access.exposure_problem`); with
    ``SUPPORT_KPI_ALLOW_NO_TOKEN`` it starts and this returns the warning to print instead."""
    problem = exposure_problem(host, host_setting, settings.token is not None)
    if problem is None:
        return None
    if not settings.allow_no_token:
        raise PreflightError(problem)
    return (f"WARNING: {host_setting}={host} serves every agent's data without a token "
            "(SUPPORT_KPI_ALLOW_NO_TOKEN=true): anyone who reaches this address reads it")


def check_partitions(partitions: int, counts: Mapping[str, int]) -> None:
    """PreflightError when a topic's partition count (``counts``: topic → partitions, in the
    worker's order, existing topics only) differs from ``SUPPORT_KPI_PARTITIONS``."""
    wrong = [(topic, count) for topic, count in counts.items() if count != partitions]
    if not wrong:
        return
    setting = f"SUPPORT_KPI_PARTITIONS={partitions}"
    topic, count = wrong[0]
    if len(set(counts.values())) == 1:
        raise PreflightError(
            f"{setting}, but topic {topic} has {count} partitions; set "
            f"SUPPORT_KPI_PARTITIONS={count} (the input, deltas and changelog topics must agree)")
    listed = ", ".join(f"{t} has {n}" for t, n in counts.items())
    raise PreflightError(
        f"{setting}, but the topics disagree ({listed}); the input, deltas and changelog topics "
        f"must agree: recreate the ones with other than {partitions} partitions, or use new "
        "topic names and SUPPORT_KPI_APP_ID")


def worker_topics(settings: Settings) -> list[str]:
    """The topics a worker uses: input, deltas, dead letters, history (unless turned off),
    then the tables' changelogs."""
    from service.stream.tables import TABLES, changelog_topic

    return [settings.topic, settings.deltas_topic, settings.dead_letter_topic,
            *([settings.history_topic] if settings.history_topic else []),
            *(changelog_topic(settings.app_id, table) for table in TABLES)]


async def topic_partitions(bootstrap: str, topics: Sequence[str]) -> dict[str, int]:
    """Partition counts of those of ``topics`` that exist, in the order given (aiokafka's
    admin client; its errors, e.g. an unreachable broker, propagate)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [topic for topic in topics if topic in existing]
        described: list[Any] = await admin.describe_topics(wanted) if wanted else []
    finally:
        await admin.close()
    counts = {d["topic"]: len(d["partitions"]) for d in described
              if d.get("error_code", 0) == 0 and d.get("partitions")}
    return {topic: counts[topic] for topic in topics if topic in counts}


async def prepare_topics(settings: Settings) -> None:
    """Check the partition counts of the worker's existing topics, create the missing ones
    (:func:`service.publish.ensure_topics`) and check all of them again (another worker may
    have created some meanwhile). Checking first keeps a wrong ``SUPPORT_KPI_PARTITIONS``
    from creating the missing topics with a count that disagrees with the existing ones.

    PreflightError on a mismatch; Kafka errors propagate."""
    from service.publish import ensure_topics
    from service.stream.tables import CHANGELOG_TOPIC_CONFIG, TABLES, changelog_topic

    bootstrap, topics = settings.kafka_bootstrap_servers, worker_topics(settings)
    check_partitions(settings.partitions, await topic_partitions(bootstrap, topics))
    await ensure_topics(
        bootstrap, topics[:len(topics) - len(TABLES)], settings.partitions,
        {changelog_topic(settings.app_id, table): CHANGELOG_TOPIC_CONFIG for table in TABLES})
    check_partitions(settings.partitions, await topic_partitions(bootstrap, topics))

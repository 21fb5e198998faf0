"""Log output that stays readable when something fails again and again, and quiet when
nothing is wrong.

While Kafka is unreachable, aiokafka and faust log the same few errors many times a second;
:class:`RepeatFilter` lets the first of each kind through, then one per ``interval_s`` with the
number of repeats it held back. :class:`StartupNoiseFilter` holds back the errors a fresh
broker causes while it creates its group coordinator. :class:`BadRequestFilter` turns aiohttp's
traceback for a request it cannot read into one line.
"""

import logging
import time
from collections.abc import Callable

__all__ = ["COORDINATOR_LOGGER", "HTTP_SERVER_LOGGER", "BadRequestFilter", "RepeatFilter",
           "StartupNoiseFilter", "install_repeat_filter", "quiet_bad_requests",
           "quiet_startup_noise"]

COORDINATOR_LOGGER = "aiokafka.consumer.group_coordinator"
HTTP_SERVER_LOGGER = "aiohttp.server"

STARTUP_ERRORS = frozenset({14, 15, 16})
"""What the first group-coordinator lookups get from a broker that is still creating its
``__consumer_offsets`` topic: the Kafka protocol's error codes COORDINATOR_LOAD_IN_PROGRESS,
COORDINATOR_NOT_AVAILABLE and NOT_COORDINATOR (aiokafka's ``errno``), which aiokafka
retries."""


class RepeatFilter(logging.Filter):
    """At most one record per (logger, message template, level) and ``interval_s``."""

    def __init__(self, interval_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.clock = clock
        self._last: dict[tuple[str, str, int], float] = {}
        self._held: dict[tuple[str, str, int], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg), record.levelno)
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.msg} [{held} more like this in the last " \
                         f"{self.interval_s:.0f} s]"
        if len(self._last) > 10_000:
            self._last.clear()
        return True


def install_repeat_filter(logger: logging.Logger | None = None,
                          interval_s: float = 10.0) -> RepeatFilter:
    """Put one :class:`RepeatFilter` on every handler of ``logger`` (the root logger)."""
    target = logger or logging.getLogger()
    repeat = RepeatFilter(interval_s)
    for handler in target.handlers:
        handler.addFilter(repeat)
    return repeat


class StartupNoiseFilter(logging.Filter):
    """Drops, for ``grace_s`` seconds after it is made, what aiokafka logs while a group of
    workers starts on a fresh broker: "Group Coordinator Request failed" with one of
    :data:`STARTUP_ERRORS` (retried), "Heartbeat failed … because it is rebalancing" (the
    next worker joining) and "Marking the coordinator dead" (the broker moving the group's
    coordinator while it starts; aiokafka looks it up again). Later, or with another error,
    they pass: then something is wrong."""

    def __init__(self, grace_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clock = clock
        self.until = clock() + grace_s

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith("Group Coordinator Request failed"):
            error = record.args[0] if isinstance(record.args, tuple) and record.args else None
            expected = getattr(error, "errno", None) in STARTUP_ERRORS
        else:
            expected = (message.endswith("because it is rebalancing")
                        or message.startswith("Marking the coordinator dead"))
        return not expected or self.clock() >= self.until


def quiet_startup_noise(grace_s: float = 60.0) -> StartupNoiseFilter:
    """Put a :class:`StartupNoiseFilter` on aiokafka's group-coordinator logger (a logger
    filter: it holds whatever handlers faust installs later)."""
    noise = StartupNoiseFilter(grace_s)
    logging.getLogger(COORDINATOR_LOGGER).addFilter(noise)
    return noise


class BadRequestFilter(RepeatFilter):
    """aiohttp answers a request it cannot read (a request line or header over its 8 KB limit,
    a malformed header) with 400 and logs it at ERROR with a traceback of its parser. This
    keeps one WARNING line naming the reason, at most one per ``interval_s`` (with the count
    held back); other records pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import BadHttpMessage

        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, BadHttpMessage):
            return True
        record.msg = "refused an HTTP request it cannot read (400): %s"
        record.args = (" ".join(str(error.message).split()),)
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return super().filter(record)


def quiet_bad_requests(interval_s: float = 10.0) -> BadRequestFilter:
    """Put a :class:`BadRequestFilter` on aiohttp's server logger (the worker's web server,
    the board, the gateway)."""
    bad = BadRequestFilter(interval_s)
    logging.getLogger(HTTP_SERVER_LOGGER).addFilter(bad)
    return bad

"""Repeated log records are held back (issue 10: the log grew by 18 MB during an outage), and
a request the HTTP server cannot read is one line (issue 25)."""

import asyncio
import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiokafka.errors import GroupAuthorizationFailedError, GroupCoordinatorNotAvailableError

from service.logs import HTTP_SERVER_LOGGER, RepeatFilter, StartupNoiseFilter, quiet_bad_requests


def record(msg: str, name: str = "aiokafka") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, (1,), None)


def test_one_record_per_kind_and_interval_then_the_count_held_back() -> None:
    now = [0.0]
    repeat = RepeatFilter(10.0, clock=lambda: now[0])
    assert repeat.filter(record("Unable connect to node %s"))
    assert repeat.filter(record("another message %s"))
    passed = []
    for step in range(1, 100):
        now[0] = step * 0.1
        passed.append(repeat.filter(record("Unable connect to node %s")))
    assert not any(passed)
    now[0] = 10.5
    last = record("Unable connect to node %s")
    assert repeat.filter(last)
    assert last.getMessage() == "Unable connect to node 1 [99 more like this in the last 10 s]"
    assert repeat.filter(record("Unable connect to node %s", name="faust"))


def coordinator_record(error: Exception) -> logging.LogRecord:
    return logging.LogRecord("aiokafka.consumer.group_coordinator", logging.ERROR, __file__, 1,
                             "Group Coordinator Request failed: %s", (error,), None)


def test_a_fresh_brokers_coordinator_errors_are_quiet_only_at_start() -> None:
    """Issue 14: two "ERROR Group Coordinator Request failed" lines at start-up looked like a
    failure. A broker that is still creating its offsets topic answers
    COORDINATOR_NOT_AVAILABLE (Kafka protocol error 15); aiokafka retries."""
    now = [0.0]
    noise = StartupNoiseFilter(60.0, clock=lambda: now[0])
    assert not noise.filter(coordinator_record(GroupCoordinatorNotAvailableError()))
    assert noise.filter(coordinator_record(GroupAuthorizationFailedError()))
    assert noise.filter(record("Unable connect to node %s"))
    rebalancing = logging.LogRecord("aiokafka.consumer.group_coordinator", logging.WARNING,
                                    __file__, 1, "Heartbeat failed for group %s because it is "
                                    "rebalancing", ("support-kpi",), None)
    assert not noise.filter(rebalancing)
    dead = logging.LogRecord("aiokafka.consumer.group_coordinator", logging.WARNING, __file__,
                             1, "Marking the coordinator dead (node %s)for group %s.",
                             (1, "support-kpi"), None)
    assert not noise.filter(dead), "seen on the demo's screen at start (issue 25 item 6)"
    now[0] = 60.0
    assert noise.filter(rebalancing)
    assert noise.filter(dead)
    assert noise.filter(coordinator_record(GroupCoordinatorNotAvailableError()))


async def test_a_request_aiohttp_cannot_read_is_one_line_at_most_once_per_interval(
        caplog: pytest.LogCaptureFixture) -> None:
    """A request line over aiohttp's 8 KB limit gets 400, and the server's log one WARNING
    line naming the reason, without the parser's traceback; three of them, one line."""
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", hello)
    bad = quiet_bad_requests(60.0)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        with caplog.at_level(logging.DEBUG, logger=HTTP_SERVER_LOGGER):
            for _ in range(3):
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(f"GET /{'x' * 9000} HTTP/1.1\r\nHost: here\r\n\r\n".encode())
                await writer.drain()
                status = await reader.readline()
                writer.close()
                assert status.split()[1] == b"400"
    finally:
        await server.close()
        logging.getLogger(HTTP_SERVER_LOGGER).removeFilter(bad)
    records = [r for r in caplog.records if r.name == HTTP_SERVER_LOGGER]
    assert len(records) == 1, [r.getMessage() for r in records]
    (line,) = records
    assert line.levelno == logging.WARNING and line.exc_info is None
    message = line.getMessage()
    assert message.startswith("refused an HTTP request it cannot read (400): ")
    assert "\n" not in message and "8190" in message

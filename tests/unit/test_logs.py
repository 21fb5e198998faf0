"""Repeated log records are held back (issue 10: the log grew by 18 MB during an outage)."""

import logging

from aiokafka.errors import GroupAuthorizationFailedError, GroupCoordinatorNotAvailableError

from service.logs import RepeatFilter, StartupNoiseFilter


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
    now[0] = 60.0
    assert noise.filter(rebalancing)
    assert noise.filter(coordinator_record(GroupCoordinatorNotAvailableError()))

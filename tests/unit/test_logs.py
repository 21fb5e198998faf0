"""Repeated log records are held back (issue 10: the log grew by 18 MB during an outage)."""

import logging

from service.logs import RepeatFilter


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

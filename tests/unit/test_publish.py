"""The publishers' bookkeeping without a broker: resume lines, the failure message, the
threaded line reader and batch envelopes."""

import asyncio
import threading

import pytest

from service.partitioning import partition_for
from service.publish import Envelopes, PublishStats, _ThreadedLines, failure_report


def test_resume_line_is_the_first_undelivered_line() -> None:
    stats = PublishStats(events=10, delivered=4, lines=9, first_undelivered_line=5)
    assert stats.undelivered == 6
    assert stats.resume_line == 5


def test_resume_line_after_an_interruption_is_the_next_unread_line() -> None:
    stats = PublishStats(events=7, delivered=7, lines=7, interrupted=True)
    assert stats.resume_line == 8
    assert PublishStats(events=7, delivered=7, lines=7, exhausted=True).resume_line is None


def test_failure_report_names_the_undelivered_count_and_how_to_resume() -> None:
    stats = PublishStats(events=50_000, delivered=12_345, lines=50_000, exhausted=True,
                         first_undelivered_line=12_001, error="KafkaTimeoutError: no ack")
    text = failure_report("produce", stats, "kafka:9092", "events.jsonl")
    assert "12,345 of 50,000 events delivered; 37,655 not delivered" in text
    assert "KafkaTimeoutError: no ack" in text
    assert "`tail -n +12001 events.jsonl | support-kpi produce -`" in text
    from_stdin = failure_report("produce", stats, "kafka:9092", "-")
    assert "from its line 12,001 on" in from_stdin


def test_simulate_failure_report_says_to_check_kafka() -> None:
    stats = PublishStats(events=100, delivered=60, error="KafkaTimeoutError: no ack")
    text = failure_report("simulate", stats, "kafka:9092")
    assert "60 of 100 events delivered; 40 not delivered" in text
    assert "kafka:9092" in text


def test_envelopes_accept_a_precomputed_partition() -> None:
    grouped = Envelopes(partitions=4, batch=2)
    key = b"c-1"
    partition = partition_for(key, 4)
    assert grouped.add(key, b"{}", partition) is None
    assert grouped.add(key, b"{}") == (partition, key, b"[{},{}]", 2)


async def test_threaded_lines_hand_over_a_slow_feed_line_by_line() -> None:
    release = threading.Event()

    def feed():  # type: ignore[no-untyped-def]
        yield b"first\n"
        release.wait(10)
        yield b"second\n"

    reader = _ThreadedLines(feed())
    assert await asyncio.wait_for(reader.chunk(), 5) == [b"first\n"]
    release.set()
    assert await asyncio.wait_for(reader.chunk(), 5) == [b"second\n"]
    assert await asyncio.wait_for(reader.chunk(), 5) is None


async def test_threaded_lines_raise_what_reading_raised() -> None:
    def broken():  # type: ignore[no-untyped-def]
        yield b"ok\n"
        raise OSError("disk gone")

    reader = _ThreadedLines(broken())
    with pytest.raises(OSError, match="disk gone"):
        while await asyncio.wait_for(reader.chunk(), 5) is not None:
            pass


async def test_threaded_lines_bound_what_they_buffer() -> None:
    reader = _ThreadedLines(iter([b"x\n"] * 100), limit=10)
    total = 0
    while (chunk := await asyncio.wait_for(reader.chunk(), 5)) is not None:
        assert len(chunk) <= 10
        total += len(chunk)
    assert total == 100

"""The bulk changelog read (``service.stream.restore``) on a real broker: what it hands to its
writer, where it starts and ends, and a read cut short by its time bound."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer

from service.publish import ensure_topics
from service.stream.restore import FETCH_RECORDS, ChangelogPartition, restore_changelogs

ROWS = FETCH_RECORDS + 5_000
"""More records than one fetch holds, so that a partition arrives in several writes."""


async def publish(bootstrap: str, topic: str) -> list[tuple[bytes, bytes | None]]:
    """Partition 0: ``ROWS`` records over 1,000 keys, every 7th a tombstone; partition 1: 3
    records. Returns partition 0's records in offset order."""
    await ensure_topics(bootstrap, [topic], 2)
    records: list[tuple[bytes, bytes | None]] = [
        (f"k{n % 1000}".encode(), None if n % 7 == 0 else f"v{n}".encode())
        for n in range(ROWS)]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        for key, value in records:
            await producer.send(topic, value, key=key, partition=0)
        for n in range(3):
            await producer.send(topic, f"w{n}".encode(), key=b"other", partition=1)
        await producer.flush()
    finally:
        await producer.stop()
    return records


class Store:
    """What a partition's store would hold after the writes: rows and the offset reached."""

    def __init__(self) -> None:
        self.rows: dict[tuple[int, bytes], bytes] = {}
        self.offsets: dict[int, int] = {}
        self.records = 0
        self.writes = 0

    def write(self, part: ChangelogPartition, rows: dict[bytes, bytes | None], offset: int,
              records: int) -> None:
        assert offset > self.offsets.get(part.partition, part.first - 1)
        for key, value in rows.items():
            if value is None:
                self.rows.pop((part.partition, key), None)
            else:
                self.rows[(part.partition, key)] = value
        self.offsets[part.partition] = offset
        self.records += records
        self.writes += 1


def last_values(records: list[tuple[bytes, bytes | None]], first: int, last: int
                ) -> dict[tuple[int, bytes], Any]:
    held: dict[tuple[int, bytes], Any] = {}
    for key, value in records[first:last + 1]:
        if value is None:
            held.pop((0, key), None)
        else:
            held[(0, key)] = value
    return held


async def test_reads_each_partition_to_its_end_last_value_wins(
        kafka_bootstrap: str, topic_name: str) -> None:
    records = await publish(kafka_bootstrap, topic_name)
    store = Store()
    done = await restore_changelogs(
        kafka_bootstrap, [ChangelogPartition(topic_name, 0, 0, ROWS - 1),
                          ChangelogPartition(topic_name, 1, 0, 2),
                          ChangelogPartition(topic_name, 1, 5, 4)],  # nothing to read
        store.write, time_bound_s=60)
    assert {(p.partition, offset) for p, offset in done.items()} == {(0, ROWS - 1), (1, 2)}
    assert store.records == ROWS + 3 and store.writes >= 3
    expected = last_values(records, 0, ROWS - 1)
    expected[(1, b"other")] = b"w2"
    assert store.rows == expected


async def test_starts_after_what_the_store_holds_and_stops_at_the_last_offset_asked(
        kafka_bootstrap: str, topic_name: str) -> None:
    records = await publish(kafka_bootstrap, topic_name)
    store = Store()
    done = await restore_changelogs(
        kafka_bootstrap, [ChangelogPartition(topic_name, 0, 10_000, 20_000)], store.write,
        time_bound_s=60)
    assert [(p.partition, offset) for p, offset in done.items()] == [(0, 20_000)]
    assert store.records == 10_001
    assert store.rows == last_values(records, 10_000, 20_000)


async def test_a_read_out_of_time_stops_after_one_fetch_and_says_so(
        kafka_bootstrap: str, topic_name: str, caplog: Any) -> None:
    """What it wrote is whole (rows up to the offset it reports), and where it stopped is
    where a second read starts: together they hold what one read does."""
    records = await publish(kafka_bootstrap, topic_name)
    store = Store()
    done = await restore_changelogs(
        kafka_bootstrap, [ChangelogPartition(topic_name, 0, 0, ROWS - 1)], store.write,
        time_bound_s=0)
    assert "not read to their end within 0 s" in caplog.text
    reached = max(done.values(), default=-1)
    assert store.writes <= 1 and reached < ROWS - 1
    assert store.rows == last_values(records, 0, reached)
    await restore_changelogs(
        kafka_bootstrap, [ChangelogPartition(topic_name, 0, reached + 1, ROWS - 1)],
        store.write, time_bound_s=60)
    assert store.records == ROWS
    assert store.rows == last_values(records, 0, ROWS - 1)

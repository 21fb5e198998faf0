"""Consumer lag per partition (support_consumer_lag): what is left to process, not what a
restarted worker has not seen yet."""

from typing import NamedTuple

from service.stream.health import Health


class TP(NamedTuple):
    topic: str
    partition: int


def test_lag_counts_from_the_last_processed_offset() -> None:
    health = Health()
    health.observe_offset("events", 0, 41)
    health.update_lag({TP("events", 0): 50})
    assert health.registry.get_sample_value(
        "support_consumer_lag", {"topic": "events", "partition": "0"}) == 50 - 42


def test_an_idle_partition_after_a_restart_is_not_behind() -> None:
    health = Health()
    health.update_lag({TP("events", 1): 20, TP("events", 2): 20},
                      {TP("events", 1): 20, TP("events", 2): 15})
    assert health.total_lag() == {"events": 5}


def test_kafka_unreachable_exports_no_lag() -> None:
    health = Health()
    health.update_lag({TP("events", 0): 7})
    health.lag_unknown()
    assert health.registry.get_sample_value(
        "support_consumer_lag", {"topic": "events", "partition": "0"}) is None
    assert health.total_lag() == {}

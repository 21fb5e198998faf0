"""Worker health metrics: events, rejections, duplicates, late events, consumer lag and the
latency from an event's arrival in Kafka to its effect on the gauges."""

from collections import Counter
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram, disable_created_metrics
from prometheus_client import Counter as PromCounter

__all__ = ["HEALTH_METRICS", "Health"]

HEALTH_METRICS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("support_events_total", "counter", "Valid events processed, by type", ("type",)),
    ("support_events_rejected_total", "counter",
     "Input rejected to the dead-letter topic, by reason", ("reason",)),
    ("support_events_duplicate_total", "counter", "Events whose id was seen before", ()),
    ("support_events_late_total", "counter",
     "Events older than the pane retention (they still update conversation state)", ()),
    ("support_consumer_lag", "gauge", "Messages not yet processed, per topic partition",
     ("topic", "partition")),
    ("support_processing_latency_seconds", "histogram",
     "From an event's arrival in Kafka to its effect on this worker's gauges", ()),
    ("support_owned_keys", "gauge", "Aggregate keys this worker owns, by level", ("level",)),
    ("support_ready", "gauge", "1 once the tables are recovered and partitions assigned", ()),
)


class Health:
    def __init__(self) -> None:
        disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=True)
        self.events = PromCounter("support_events", HEALTH_METRICS[0][2], ["type"],
                                  registry=self.registry)
        self.rejections = PromCounter("support_events_rejected", HEALTH_METRICS[1][2],
                                      ["reason"], registry=self.registry)
        self.duplicates = PromCounter("support_events_duplicate", HEALTH_METRICS[2][2],
                                      registry=self.registry)
        self.late = PromCounter("support_events_late", HEALTH_METRICS[3][2],
                                registry=self.registry)
        self.lag = Gauge("support_consumer_lag", HEALTH_METRICS[4][2], ["topic", "partition"],
                         registry=self.registry)
        self.latency_seconds = Histogram(
            "support_processing_latency_seconds", HEALTH_METRICS[5][2], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.35, 0.5, 0.75, 1, 1.5,
                     2.5, 5, 10, 30, 60))
        self.owned_keys = Gauge("support_owned_keys", HEALTH_METRICS[6][2], ["level"],
                                registry=self.registry)
        self.ready = Gauge("support_ready", HEALTH_METRICS[7][2], registry=self.registry)
        self.offsets: dict[tuple[str, int], int] = {}
        self.lags: dict[tuple[str, int], int] = {}
        self.processed_total = 0
        self.rejected_total = 0

    def observe_offset(self, topic: str, partition: int, offset: int) -> None:
        self.offsets[(topic, partition)] = offset

    def rejected(self, reason: str) -> None:
        self.rejections.labels(reason).inc()
        self.rejected_total += 1

    def processed(self, types: Counter[str], duplicates: int, late: int) -> None:
        for event_type, count in types.items():
            self.events.labels(event_type).inc(count)
            self.processed_total += count
        if duplicates:
            self.duplicates.inc(duplicates)
        if late:
            self.late.inc(late)

    def latency(self, seconds: float) -> None:
        self.latency_seconds.observe(max(0.0, seconds))

    def update_lag(self, highwaters: dict[Any, int]) -> None:
        """Lag = high-water mark − (last processed offset + 1), per assigned partition."""
        self.lags = {}
        for tp, highwater in highwaters.items():
            done = self.offsets.get((tp.topic, tp.partition))
            lag = max(0, highwater - (done + 1 if done is not None else 0))
            self.lags[(tp.topic, tp.partition)] = lag
            self.lag.labels(tp.topic, str(tp.partition)).set(lag)

    def total_lag(self) -> dict[str, int]:
        """Lag per topic, summed over this worker's partitions (as of the last update)."""
        totals: Counter[str] = Counter()
        for (topic, _), lag in self.lags.items():
            totals[topic] += lag
        return dict(totals)

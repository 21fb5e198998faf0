"""Worker health metrics: events, rejections, duplicates, late events, consumer lag and the
latency from an event's arrival in Kafka to its effect on the gauges."""

from collections import Counter
from collections.abc import Mapping
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
    ("support_events_expired_total", "counter",
     "Events not applied: dated retention.closed_days or more behind the latest event, of a "
     "conversation no longer held", ()),
    ("support_conversations_forgotten_total", "counter",
     "Conversations dropped after retention.closed_days without activity", ()),
    ("support_consumer_lag", "gauge", "Messages not yet processed, per topic partition",
     ("topic", "partition")),
    ("support_processing_latency_seconds", "histogram",
     "From an event's arrival in Kafka to its effect on this worker's gauges", ()),
    ("support_owned_keys", "gauge", "Aggregate keys this worker owns, by level", ("level",)),
    ("support_ready", "gauge",
     "1 once the tables are recovered, partitions assigned and Kafka answers", ()),
    ("support_kafka_up", "gauge",
     "1 while the Kafka cluster answers the worker's metadata probe (every 2 s), else 0", ()),
    ("support_changelog_records_restored_total", "counter",
     "Changelog records read into this worker's tables: a restore after a start or a "
     "rebalance (with its data directory kept, only the records after the offset its store "
     "holds), and standby copies", ()),
    ("support_input_stalled_seconds", "gauge",
     "Seconds input has waited with nothing applied (0 while the worker keeps up); past 60 "
     "the worker is not ready, past 300 it exits", ()),
)


_KINDS: dict[str, Any] = {"counter": PromCounter, "gauge": Gauge, "histogram": Histogram}


class Health:
    def __init__(self) -> None:
        disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=True)
        self.events = self._metric("support_events_total")
        self.rejections = self._metric("support_events_rejected_total")
        self.duplicates = self._metric("support_events_duplicate_total")
        self.late = self._metric("support_events_late_total")
        self.expired = self._metric("support_events_expired_total")
        self.forgotten = self._metric("support_conversations_forgotten_total")
        self.lag = self._metric("support_consumer_lag")
        self.latency_seconds = self._metric(
            "support_processing_latency_seconds",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.35, 0.5, 0.75, 1, 1.5,
                     2.5, 5, 10, 30, 60))
        self.owned_keys = self._metric("support_owned_keys")
        self.ready = self._metric("support_ready")
        self.kafka_up = self._metric("support_kafka_up")
        self.stalled = self._metric("support_input_stalled_seconds")
        self.restored = self._metric("support_changelog_records_restored_total")
        self.restored_total = 0
        self.offsets: dict[tuple[str, int], int] = {}
        self.lags: dict[tuple[str, int], int] = {}
        self.processed_total = 0
        self.rejected_total = 0

    def _metric(self, name: str, **options: Any) -> Any:
        """The metric of :data:`HEALTH_METRICS` named ``name``, in this registry."""
        kind, text, labels = next((k, t, ls) for n, k, t, ls in HEALTH_METRICS if n == name)
        short = name.removesuffix("_total") if kind == "counter" else name
        return _KINDS[kind](short, text, list(labels), registry=self.registry, **options)

    def observe_offset(self, topic: str, partition: int, offset: int) -> None:
        self.offsets[(topic, partition)] = offset

    def rejected(self, reason: str, count: int = 1) -> None:
        self.rejections.labels(reason).inc(count)
        self.rejected_total += count

    def processed(self, types: Counter[str], duplicates: int, late: int, expired: int = 0,
                  forgotten: int = 0) -> None:
        for event_type, count in types.items():
            self.events.labels(event_type).inc(count)
            self.processed_total += count
        if duplicates:
            self.duplicates.inc(duplicates)
        if late:
            self.late.inc(late)
        if expired:
            self.expired.inc(expired)
        if forgotten:
            self.forgotten.inc(forgotten)

    def latency(self, seconds: float) -> None:
        self.latency_seconds.observe(max(0.0, seconds))

    def lag_unknown(self) -> None:
        """Kafka does not answer: the high-water marks are unknown, so no lag is exported
        (a stale 0 would hide the outage; ``support_kafka_up`` says why)."""
        self.lags = {}
        self.lag.clear()

    def update_lag(self, highwaters: dict[Any, int],
                   committed: Mapping[Any, int | None] | None = None) -> None:
        """Lag = high-water mark − the next offset to process, per assigned partition: the last
        processed offset + 1, or the group's committed offset when nothing was processed since
        the assignment (a restarted worker on an idle partition is not behind)."""
        self.lags = {}
        self.lag.clear()
        committed = committed or {}
        for tp, highwater in highwaters.items():
            done = self.offsets.get((tp.topic, tp.partition))
            position = max(done + 1 if done is not None else 0, committed.get(tp) or 0)
            lag = max(0, highwater - position)
            self.lags[(tp.topic, tp.partition)] = lag
            self.lag.labels(tp.topic, str(tp.partition)).set(lag)

    def total_lag(self) -> dict[str, int]:
        """Lag per topic, summed over this worker's partitions (as of the last update)."""
        totals: Counter[str] = Counter()
        for (topic, _), lag in self.lags.items():
            totals[topic] += lag
        return dict(totals)

"""SPEC §2 retention: a repeated id stays a duplicate and a closed conversation stays closed for
at least ``retention.closed_days`` after its last event; past that horizon an event of a
conversation no longer held, dated that far behind the latest event time, is *expired* (not
applied, counted). Replay (``KpiEngine``) and a worker's conversation stage agree."""

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from schemas import event_adapter
from service.config import KpiConfig
from service.engine.engine import DEFAULT_RETENTION_MS, CachedPolicy, KpiEngine
from service.engine.watermark import COMPANY
from service.stream.conversations import ConversationStage, Message
from service.stream.store import MemoryStore

T0 = datetime(2026, 2, 20, 10, 0, tzinfo=UTC)
DAY_MS = 86_400_000
SHORT = KpiConfig.model_validate({"retention": {"closed_days": 2}})


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def ev(event_id: str, kind: str, days: float, cid: str | None = "c1", **fields: Any) -> Any:
    body: dict[str, Any] = {"id": event_id, "type": kind, "at": _iso(T0 + timedelta(days=days)),
                            **fields}
    if cid is not None:
        body["conversation_id"] = cid
    return event_adapter.validate_python(body)


def created(event_id: str = "e1", days: float = 0, cid: str = "c1") -> Any:
    return ev(event_id, "conversation.created", days, cid)


def closed(days: float = 10 / 1440, cid: str = "c1") -> Any:
    return ev("e2", "conversation.status_changed", days, cid, status="closed", by="agent")


def presence(days: float) -> list[Any]:
    """Ten presence events at ``days``: the watermark moves with company
    (:mod:`service.engine.watermark`)."""
    return [ev(f"p{days}-{i}", "agent.status_changed", days, None, agent_id="a9",
               status="available") for i in range(COMPANY)]


def run(events: list[Any], config: KpiConfig | None = None) -> KpiEngine:
    engine = KpiEngine(config or KpiConfig())
    for event in events:
        engine.process(event)
    return engine


def live(engine: KpiEngine, days: float) -> dict[str, Any]:
    as_of = int((T0 + timedelta(days=days)).timestamp() * 1000)
    report = engine.report(as_of)
    values: dict[str, Any] = report["live"]["overall"]
    return values


NOT_LIVE = {"open": 0, "unassigned": 0, "awaiting_first_response": 0, "sla_breaching": 0}


def _live_subset(values: dict[str, Any]) -> dict[str, Any]:
    return {k: values[k] for k in NOT_LIVE}


def test_redelivered_created_within_the_horizon_is_a_duplicate() -> None:
    engine = run([created(), closed(), *presence(10), created()])
    assert _live_subset(live(engine, 10.5)) == NOT_LIVE
    assert engine.counts["duplicate"] == 1 and engine.counts["expired"] == 0


def test_closed_stays_terminal_within_the_horizon() -> None:
    engine = run([created(), closed(), *presence(10),
                  ev("m1", "message.created", 10, author="agent", agent_id="a1"),
                  ev("m2", "message.created", 10.01, author="customer"),
                  ev("m3", "message.created", 10.03, author="agent", agent_id="a1")])
    window = engine.report(int((T0 + timedelta(days=10.5)).timestamp() * 1000))["windows"]["24h"]
    assert window["overall"]["next_response_seconds"]["count"] == 0
    assert window["overall"]["sla"]["next_response"]["achieved"] == 0


def test_resolved_is_kept_for_the_horizon() -> None:
    resolved = ev("e2", "conversation.status_changed", 0.01, status="resolved", by="agent")
    engine = run([created(), resolved, *presence(34), created()])
    assert engine.counts["duplicate"] == 1 and engine.counts["forgotten"] == 0
    assert _live_subset(live(engine, 34.5)) == NOT_LIVE


def test_redelivered_created_past_the_horizon_is_expired() -> None:
    engine = run([created(), closed(), *presence(3), *presence(3.1), created()], SHORT)
    assert engine.counts["forgotten"] == 1
    assert engine.counts["expired"] == 1 and engine.counts["duplicate"] == 0
    assert engine.counts["late"] == 0
    assert _live_subset(live(engine, 3.2)) == NOT_LIVE
    assert "c1" not in engine.conversations.conversations


def test_the_horizon_does_not_depend_on_when_state_is_swept() -> None:
    # No hourly sweep between the close and the redelivery: the redelivery itself finds the
    # conversation past its horizon, forgets it, and is expired all the same.
    engine = run([created(), closed(), created("e1", 0), *presence(2.5)], SHORT)
    assert engine.counts["duplicate"] == 1
    others = [ev(f"x{i}", "message.created", 2.5, f"other{i}", author="customer")
              for i in range(COMPANY)]
    late = run([created(), closed(), *others, created()], SHORT)
    assert late.counts["expired"] == 1 and late.counts["forgotten"] == 1


def test_a_new_event_past_the_horizon_starts_a_state_that_is_not_live() -> None:
    engine = run([created(), closed(), *presence(3),
                  ev("m1", "message.created", 3, author="customer")], SHORT)
    assert engine.counts["forgotten"] == 1 and engine.counts["expired"] == 0
    assert _live_subset(live(engine, 3.1)) == NOT_LIVE


def test_an_unknown_conversation_dated_past_the_horizon_is_expired() -> None:
    engine = run([*presence(5), created("old", 2.5, "c2"), created("new", 3.5, "c3")], SHORT)
    assert engine.counts["expired"] == 1
    assert live(engine, 5.1)["open"] == 1


def test_open_conversations_are_kept_however_long_they_wait() -> None:
    engine = run([created(), *presence(40), created()], SHORT)
    assert engine.counts["duplicate"] == 1 and engine.counts["expired"] == 0
    assert live(engine, 40.1)["open"] == 1


def stage_of(config: KpiConfig) -> tuple[ConversationStage, MemoryStore]:
    stage = ConversationStage(CachedPolicy(config), DEFAULT_RETENTION_MS, lambda owner: 0)
    store = MemoryStore()
    stage.load(0, store)
    return stage, store


def message(offset: int, event: Any) -> Message:
    body = event.model_dump(mode="json", exclude_none=True)
    return Message("in", 0, offset, None, orjson.dumps(body), 0)


def test_closed_days_comes_from_the_configuration() -> None:
    assert KpiEngine(SHORT).conversations.closed_ms == 2 * DAY_MS
    assert KpiEngine(KpiConfig()).conversations.closed_ms == 35 * DAY_MS
    stage, _ = stage_of(SHORT)
    assert stage.partitions[0].conversations.closed_ms == 2 * DAY_MS


def test_the_conversation_stage_agrees_with_replay() -> None:
    """A worker's conversation stage, one message a batch with its rows written and its
    partition loaded again from them now and then, expires and forgets as replay does."""
    events = [created(), closed(), *presence(3), created(), created("n1", 3, "c2"),
              created("old", 0.5, "c3"), closed(3.2, "c2"), *presence(6), created("n1", 3, "c2")]
    engine = run(events, SHORT)
    stage, store = stage_of(SHORT)
    totals = {"expired": 0, "duplicate": 0, "forgotten": 0}
    for offset, event in enumerate(events):
        out = stage.process(0, [message(offset, event)])
        out.writes.apply_to(store)
        totals["expired"] += out.expired
        totals["duplicate"] += out.duplicates
        totals["forgotten"] += out.forgotten
        if offset % 4 == 3:
            stage.load(0, store)
    assert totals == {"expired": engine.counts["expired"],
                      "duplicate": engine.counts["duplicate"],
                      "forgotten": engine.counts["forgotten"]} == {"expired": 3, "duplicate": 0,
                                                                   "forgotten": 2}
    assert not list(store.scan(b"0\x1fh\x1f")), "forgotten conversations leave no rows"


def test_the_watermark_is_restored_with_the_partition() -> None:
    stage, store = stage_of(SHORT)
    events = [created(f"e{n}", n / 1440, f"c{n}") for n in range(COMPANY)]
    out = stage.process(0, [message(n, e) for n, e in enumerate(events)])
    out.writes.apply_to(store)
    before = stage.partitions[0].watermark
    assert before.at_ms is not None
    stage.load(0, store)
    assert stage.partitions[0].watermark.state() == before.state()

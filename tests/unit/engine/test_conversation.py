"""A conversation's log: what an event costs, and that order never changes the facts.

The cost tests count the fold's applications (deterministic), not time; the time of a busy
conversation is a ``make bench`` figure (phase ``keys``)."""

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import event_adapter
from service.config import KpiConfig
from service.engine import conversation as conversation_module
from service.engine.conversation import Conversation, KeyTooLarge, fold_facts
from service.engine.engine import CachedPolicy
from service.engine.fold import ConversationFold
from service.engine.records import Record, format_time, to_record

POLICY = CachedPolicy(KpiConfig())
T0 = 1_709_546_400_000  # 2024-03-04T10:00:00Z


def busy_conversation(n: int, cid: str = "c1") -> list[Record]:
    """``n`` events of one conversation one second apart: created, assigned, then customer and
    agent messages in turn, with a status change every 50 events."""
    raw: list[dict[str, Any]] = [
        {"type": "conversation.created", "channel": "chat", "team": "t1"},
        {"type": "conversation.assigned", "agent_id": "a1"},
    ]
    for i in range(2, n):
        if i % 50 == 0:
            raw.append({"type": "conversation.status_changed", "by": "agent", "agent_id": "a1",
                        "status": ("pending", "open", "resolved", "open")[i // 50 % 4]})
        elif i % 2:
            raw.append({"type": "message.created", "author": "agent", "agent_id": "a1"})
        else:
            raw.append({"type": "message.created", "author": "customer"})
    return [to_record(event_adapter.validate_python(
        {**e, "id": f"{cid}-{i}", "conversation_id": cid, "at": format_time(T0 + i * 1000)}), i)
        for i, e in enumerate(raw)]


def facts_of(records: list[Record]) -> dict[str, Any]:
    ordered = sorted(records, key=lambda r: (r.at, r.seq))
    return fold_facts(ConversationFold("c1"), ordered, POLICY)[1]


class Counting:
    """Counts ConversationFold.apply calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        apply = ConversationFold.apply

        def counted(fold: ConversationFold, record: Record, policy: Any) -> Any:
            self.calls += 1
            return apply(fold, record, policy)

        monkeypatch.setattr(ConversationFold, "apply", counted)


def test_in_order_events_are_applied_once_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """20,000 events in order: 20,000 applications of the fold, and one set lookup each for
    the duplicate check (a repeated id finds its twin without a scan)."""
    records = busy_conversation(20_000)
    counting = Counting(monkeypatch)
    conversation = Conversation("c1")
    for record in records:
        conversation.add(record, POLICY)
    assert counting.calls == 20_000
    assert conversation.add(records[5], POLICY) is None
    assert counting.calls == 20_000


def test_a_late_event_refolds_from_the_checkpoint_before_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A late event at position 1,900 of 2,000 folds again from the checkpoint at 1,792 (every
    256 events): twice the 208 events after the checkpoint plus itself, not the 2,000."""
    records = busy_conversation(2_001)
    late = records.pop(1_900)
    conversation = Conversation("c1")
    for record in records:
        conversation.add(record, POLICY)
    counting = Counting(monkeypatch)
    changes = conversation.add(late, POLICY)
    assert counting.calls == 2 * (2_000 - 1_792) + 1
    assert changes
    assert conversation.facts(POLICY) == facts_of([*records, late])


@settings(max_examples=60, deadline=None)
@given(st.integers(20, 120), st.randoms(use_true_random=False), st.booleans())
def test_any_arrival_order_gives_the_facts_of_the_sorted_log(
        n: int, rnd: random.Random, pack: bool) -> None:
    """With checkpoints every 4 events and a log of at most 40 (so that the base takes the
    older events), the kept facts after any order of the events that may still be placed are
    those of folding the sorted events: the changes, applied to an empty set, give them, and
    so does folding the conversation again while nothing went into the base."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conversation_module, "CHECKPOINT_EVENTS", 4)
        patch.setattr(conversation_module, "MAX_LOG_EVENTS", 40)
        records = busy_conversation(n)
        order = list(records)
        rnd.shuffle(order)
        conversation = Conversation("c1")
        from_changes: dict[str, Any] = {}
        taken: list[Record] = []
        for record in order:
            try:
                changes = conversation.add(record, POLICY)
            except KeyTooLarge:
                assert conversation.base_at is not None and record.at <= conversation.base_at
                continue
            assert changes is not None
            taken.append(record)
            for old, new in changes:
                if new is not None:
                    from_changes[new.fact_id] = new
                elif old is not None:
                    del from_changes[old.fact_id]
            if pack and rnd.random() < 0.1:
                conversation = Conversation.unpack("c1", conversation.pack(), POLICY)
        assert len(conversation.log) <= 40
        assert conversation.add(taken[0], POLICY) is None
        expected = facts_of(taken)
        assert from_changes == expected
        if conversation.base_at is None:
            assert len(taken) == n
            assert conversation.facts(POLICY) == expected


def test_past_the_log_bound_an_earlier_event_is_refused_and_a_redelivery_is_a_duplicate(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conversation_module, "CHECKPOINT_EVENTS", 4)
    monkeypatch.setattr(conversation_module, "MAX_LOG_EVENTS", 40)
    records = busy_conversation(60)
    late = records.pop(3)
    conversation = Conversation("c1")
    for record in records:
        conversation.add(record, POLICY)
    assert conversation.base_at is not None and len(conversation.log) <= 40
    with pytest.raises(KeyTooLarge, match="cannot be put in place"):
        conversation.add(late, POLICY)
    assert conversation.add(records[0], POLICY) is None
    assert conversation.add(records[-1], POLICY) is None


def test_a_packed_conversation_comes_back_whole() -> None:
    records = busy_conversation(700)
    conversation = Conversation("c1")
    for record in records:
        conversation.add(record, POLICY)
    packed = conversation.pack()
    assert len(packed) < 700 * 30
    back = Conversation.unpack("c1", packed, POLICY)
    assert back.log == conversation.log
    assert back.facts(POLICY) == conversation.facts(POLICY) == facts_of(records)
    assert back.fold.to_state() == conversation.fold.to_state()
    assert len(back.checkpoints) == len(conversation.checkpoints) == 1 + 700 // 256


def test_a_fold_that_raises_leaves_nothing_of_the_event(monkeypatch: pytest.MonkeyPatch) -> None:
    records = busy_conversation(300)
    conversation = Conversation("c1")
    for record in records[:-1]:
        conversation.add(record, POLICY)
    before = conversation.fold.to_state()
    apply = ConversationFold.apply

    def failing(fold: ConversationFold, record: Record, policy: Any) -> Any:
        if record is records[-1]:
            fold.human_responses += 100
            raise RuntimeError("boom")
        return apply(fold, record, policy)

    monkeypatch.setattr(ConversationFold, "apply", failing)
    with pytest.raises(RuntimeError):
        conversation.add(records[-1], POLICY)
    assert conversation.fold.to_state() == before
    assert records[-1].fingerprint not in conversation.seen
    monkeypatch.setattr(ConversationFold, "apply", apply)
    assert conversation.add(records[-1], POLICY) is not None

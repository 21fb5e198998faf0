"""The crash-loop guard across simulated restarts (a new guard on the same directory is a
restarted worker)."""

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from service.stream import guarded
from service.stream.crash_loop import CrashLoopGuard, InputRange, ranges_of

T = "support.events"
BATCH = ranges_of([(T, 0, 10), (T, 0, 19), (T, 1, 5)])


def die_in(tmp: Path, ranges: list[InputRange]) -> CrashLoopGuard:
    """Start a worker, begin a batch, die (the note stays); return the next worker's guard."""
    CrashLoopGuard(tmp, "s").plan(ranges)
    return CrashLoopGuard(tmp, "s")


def test_a_batch_that_finishes_leaves_nothing(tmp_path: Path) -> None:
    guard = CrashLoopGuard(tmp_path, "s")
    plan = guard.plan(BATCH)
    assert (plan.isolate, plan.poison, plan.deaths) == (False, None, 0)
    guard.done()
    assert not list(tmp_path.iterdir())


def test_deaths_on_the_same_input_lead_to_isolation_then_to_the_poison(tmp_path: Path) -> None:
    guard = CrashLoopGuard(tmp_path, "s", limit=3)
    guard.plan(BATCH)
    for deaths in (1, 2):
        guard = CrashLoopGuard(tmp_path, "s", limit=3)
        plan = guard.plan(BATCH)
        assert (plan.isolate, plan.deaths) == (False, deaths)
    guard = CrashLoopGuard(tmp_path, "s", limit=3)
    plan = guard.plan(BATCH)
    assert (plan.isolate, plan.poison, plan.deaths) == (True, None, 3)
    guard.processing((T, 0, 10))
    guard.processing((T, 0, 11))
    guard = CrashLoopGuard(tmp_path, "s", limit=3)
    plan = guard.plan(BATCH)
    assert (plan.isolate, plan.poison, plan.deaths) == (True, (T, 0, 11), 4)
    guard.done()
    assert not list(tmp_path.iterdir())


def test_a_smaller_batch_that_succeeds_first_keeps_the_suspicion(tmp_path: Path) -> None:
    guard = die_in(tmp_path, BATCH)
    guard.plan(ranges_of([(T, 0, 10), (T, 0, 12)]))
    guard.done()
    restarted = die_in(tmp_path, ranges_of([(T, 0, 13), (T, 0, 19), (T, 1, 5)]))
    plan = restarted.plan(ranges_of([(T, 0, 13), (T, 1, 5)]))
    assert plan.deaths == 2


def test_passing_the_suspect_input_ends_the_suspicion(tmp_path: Path) -> None:
    guard = die_in(tmp_path, BATCH)
    guard.plan(ranges_of([(T, 0, 10), (T, 0, 19), (T, 1, 5)]))
    guard.done()
    assert not list(tmp_path.iterdir())
    assert die_in(tmp_path, BATCH).plan(BATCH).deaths == 1


def test_a_death_on_other_input_starts_counting_anew(tmp_path: Path) -> None:
    die_in(tmp_path, BATCH)
    other = ranges_of([(T, 2, 100)])
    assert die_in(tmp_path, other).plan(other).deaths == 1


def test_a_kafka_failure_does_not_count(tmp_path: Path) -> None:
    guard = CrashLoopGuard(tmp_path, "s")
    guard.plan(BATCH)
    guard.clear()
    assert CrashLoopGuard(tmp_path, "s").plan(BATCH).deaths == 0


def test_an_unreadable_note_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "inflight-s.json").write_bytes(b"{not json")
    assert CrashLoopGuard(tmp_path, "s").plan(BATCH).deaths == 0


def test_the_culprit_is_kept_until_its_batch_comes_again(tmp_path: Path) -> None:
    guard = CrashLoopGuard(tmp_path, "s", limit=1)
    guard.plan(BATCH)
    guard = CrashLoopGuard(tmp_path, "s", limit=1)
    assert guard.plan(BATCH).isolate
    guard.processing((T, 1, 5))
    guard = CrashLoopGuard(tmp_path, "s", limit=1)
    other_partition = ranges_of([(T, 0, 10), (T, 0, 19)])
    plan = guard.plan(other_partition)
    assert (plan.isolate, plan.poison) == (True, None)
    guard.processing((T, 0, 10))
    guard.done()
    plan = guard.plan(ranges_of([(T, 1, 5)]))
    assert plan.poison == (T, 1, 5)
    guard.done()
    assert not list(tmp_path.iterdir())


class _Message:
    def __init__(self, offset: int) -> None:
        self.topic, self.partition, self.offset = T, 0, offset


class _Event:
    def __init__(self, offset: int) -> None:
        self.message = _Message(offset)
        self.value = b"{}"


def _run_failing(tmp: Path, error: Exception, kafka_up: bool) -> CrashLoopGuard:
    """One batch that raises ``error`` under GuardedBatches; the next worker's guard."""

    async def process(events: list[Any]) -> None:
        raise error

    def exit_without_commit(stage: str) -> None:
        raise SystemExit(70)

    batches = guarded.GuardedBatches(tmp, ("s",), lambda *_: None, lambda: asyncio.sleep(0),
                                     lambda: kafka_up)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(guarded, "exit_without_commit", exit_without_commit)
        with pytest.raises(SystemExit):
            asyncio.run(batches.run("s", [_Event(10), _Event(11)], process))
    return CrashLoopGuard(tmp, "s")


def test_a_kafka_error_while_kafka_answers_counts_as_a_death(tmp_path: Path) -> None:
    """A record the broker refuses (too large) fails again on every start: it counts."""
    guard = _run_failing(tmp_path, MessageSizeTooLargeError(), kafka_up=True)
    assert guard.deaths == 1


def test_a_kafka_error_during_an_outage_is_not_the_inputs_fault(tmp_path: Path) -> None:
    guard = _run_failing(tmp_path, KafkaConnectionError(), kafka_up=False)
    assert guard.deaths == 0

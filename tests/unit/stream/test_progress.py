"""A worker that stops consuming is visible: not ready after a minute of waiting input with
nothing applied, and it exits after five (issue 23 item 6); a busy event loop is not a Kafka
outage."""

import asyncio
import logging
import time

from service.stream.app import RECOVERY_WARN_AFTER_S, recovery_log_level
from service.stream.progress import STALL_EXIT_S, STALL_READY_S, Progress, Verdict
from service.stream.reachability import KafkaReachability


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_waiting_input_with_nothing_applied_stalls_then_exits() -> None:
    clock = Clock()
    progress = Progress(clock)
    clock.now += 30
    assert progress.stalled_seconds(waiting=500, recovering=False) == 30
    assert progress.verdict(30) is Verdict.OK
    clock.now += STALL_READY_S
    stalled = progress.stalled_seconds(waiting=500, recovering=False)
    assert stalled == 30 + STALL_READY_S
    assert progress.verdict(stalled) is Verdict.STALLED
    clock.now += STALL_EXIT_S
    assert progress.verdict(progress.stalled_seconds(500, False)) is Verdict.EXIT


def test_an_applied_batch_resets_it() -> None:
    clock = Clock()
    progress = Progress(clock)
    clock.now += 50
    progress.applied()
    clock.now += 20
    assert progress.stalled_seconds(waiting=10, recovering=False) == 20


def test_nothing_waiting_a_recovery_or_an_unknown_lag_is_no_stall() -> None:
    clock = Clock()
    progress = Progress(clock)
    for waiting, recovering in ((0, False), (None, False), (800, True)):
        clock.now += 10 * STALL_EXIT_S
        assert progress.stalled_seconds(waiting, recovering) == 0
    clock.now += 5
    assert progress.stalled_seconds(800, False) == 5, "the wait counts from when it began"


class _Silent(KafkaReachability):
    """A probe whose answer never comes, while the event loop is blocked for ``block_s``."""

    def __init__(self, block_s: float) -> None:
        super().__init__("127.0.0.1:1", timeout_s=0.1)
        self.block_s = block_s

    async def _fetch(self) -> None:
        asyncio.get_running_loop().call_soon(time.sleep, self.block_s)
        await asyncio.Event().wait()


async def test_a_timeout_after_a_busy_event_loop_says_nothing_of_kafka() -> None:
    busy = _Silent(block_s=0.5)
    assert await busy.probe() is True
    assert busy.down_since is None
    silent = _Silent(block_s=0.0)
    assert await silent.probe() is False
    assert silent.down_since is not None


async def test_a_timeout_after_the_loop_stood_still_for_much_of_it_says_nothing_either() -> None:
    """The worker loading its partitions' owners blocked the loop for 4.2 s of a probe's 3 s
    window: its timeout came on time, yet the answer could not have been read."""
    held_most = _Silent(block_s=0.07)
    assert await held_most.probe() is True
    assert held_most.down_since is None



def test_a_routine_recovery_is_told_at_info_level_and_a_long_one_warns() -> None:
    """A rebalance's recovery of a few seconds put a warning on the demo's screen; one that
    takes half a minute is worth a warning."""
    assert recovery_log_level(10) == logging.INFO
    assert recovery_log_level(RECOVERY_WARN_AFTER_S - 0.1) == logging.INFO
    assert recovery_log_level(RECOVERY_WARN_AFTER_S) == logging.WARNING

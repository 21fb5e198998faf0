"""Whether a worker applies its input: a worker that is alive but not consuming must be visible.

``/healthz`` answers while the process runs and ``/readyz`` while Kafka answers and the tables
are recovered, so a worker whose consumer stopped delivering (a fetcher that never resumes after
a recovery, a stuck rebalance) would look healthy and only the lag alert, ten minutes on, would
say otherwise. :class:`Progress` keeps the time of the last applied batch: while input waits
(consumer lag above zero) and nothing is applied for :data:`STALL_READY_S`, the worker is not
ready (``/readyz`` says ``stalled``, ``support_input_stalled_seconds`` rises, alert
``WorkerStalled``); after :data:`STALL_EXIT_S` it exits, so its supervisor restarts it and
another worker may take its partitions meanwhile.
"""

import time
from collections.abc import Callable
from enum import Enum

__all__ = ["STALL_EXIT_S", "STALL_READY_S", "Progress", "Verdict"]

STALL_READY_S = 60.0
"""Input waiting this long with nothing applied: the worker is not ready."""
STALL_EXIT_S = 300.0
"""Input waiting this long with nothing applied: the worker exits (its supervisor restarts
it)."""


class Verdict(Enum):
    OK = "ok"
    STALLED = "stalled"
    EXIT = "exit"


class Progress:
    """The time of the last applied batch, and whether input has waited too long since."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 ready_s: float = STALL_READY_S, exit_s: float = STALL_EXIT_S) -> None:
        self._clock = clock
        self.ready_s = ready_s
        self.exit_s = exit_s
        self._since = clock()

    def applied(self) -> None:
        """A batch was applied (or state loaded): the worker moves."""
        self._since = self._clock()

    def stalled_seconds(self, waiting: int | None, recovering: bool) -> float:
        """Seconds input has waited with nothing applied: 0 while nothing waits (``waiting``
        0, or None when the lag is unknown because Kafka does not answer) or the tables
        recover."""
        now = self._clock()
        if not waiting or recovering:
            self._since = now
            return 0.0
        return now - self._since

    def verdict(self, stalled_s: float) -> Verdict:
        if stalled_s >= self.exit_s:
            return Verdict.EXIT
        if stalled_s >= self.ready_s:
            return Verdict.STALLED
        return Verdict.OK

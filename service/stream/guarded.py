"""Batches run under the crash-loop guard of their stage (:mod:`service.stream.crash_loop`).

A batch that raises ends the worker without committing
(:func:`~service.stream.faust_fixes.exit_without_commit`); a batch on which the worker died
several times in a row runs one message at a time while no other batch runs, so that the next
death names its message, and the message named by the last death is dead-lettered instead of
processed. Bad input does not get here (it is dead-lettered per message). A failure of Kafka is
not counted against the input while Kafka does not answer (an outage); while it does, a Kafka
error counts like any other (a record the broker refuses, again on every start, is the input's
doing).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError
from faust.types import EventT

from service.ingest import Rejection
from service.stream.crash_loop import CrashLoopGuard, Plan, ranges_of
from service.stream.faust_fixes import exit_without_commit

__all__ = ["GuardedBatches"]

log = logging.getLogger(__name__)

Process = Callable[[list[EventT]], Awaitable[None]]


class GuardedBatches:
    """The guards of the named stages, and the lock that isolates a suspect batch."""

    def __init__(self, data_dir: Path, stages: tuple[str, ...],
                 dead_letter: Callable[[Rejection, Any], None],
                 flush: Callable[[], Awaitable[None]],
                 kafka_up: Callable[[], bool] = lambda: False) -> None:
        """``kafka_up``: whether Kafka answers the worker's probe now."""
        self.guards = {stage: CrashLoopGuard(data_dir, stage) for stage in stages}
        self._kafka_up = kafka_up
        self._dead_letter = dead_letter
        self._flush = flush
        self._isolation = asyncio.Lock()
        """Held while a stage processes a suspect batch one message at a time: no other batch
        runs then, so a death is the noted message's."""
        self._in_flight = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    async def run(self, stage: str, events: list[EventT], process: Process) -> None:
        """Process one batch under the stage's guard."""
        guard = self.guards[stage]
        if self._isolation.locked():
            async with self._isolation:
                pass
        plan = guard.plan(ranges_of((e.message.topic, e.message.partition, e.message.offset)
                                    for e in events))
        try:
            if not plan.isolate:
                self._in_flight += 1
                self._quiet.clear()
                try:
                    await process(events)
                finally:
                    self._in_flight -= 1
                    if not self._in_flight:
                        self._quiet.set()
            else:
                async with self._isolation:
                    await self._quiet.wait()
                    await self._isolate(stage, events, plan, process)
        except asyncio.CancelledError:
            guard.clear()
            raise
        except Exception as error:
            if isinstance(error, KafkaError | TimeoutError | OSError) and not self._kafka_up():
                guard.clear()
            exit_without_commit(stage)
        guard.done()

    async def _isolate(self, stage: str, events: list[EventT], plan: Plan,
                       process: Process) -> None:
        guard = self.guards[stage]
        log.warning("%s: the worker died %d times in a row on this input; processing it one "
                    "message at a time", stage, plan.deaths)
        for event in events:
            message = event.message
            where = (message.topic, message.partition, message.offset)
            if where == plan.poison:
                await self._dead_letter_crashing(event, plan.deaths)
                continue
            guard.processing(where)
            await process([event])

    async def _dead_letter_crashing(self, event: EventT, deaths: int) -> None:
        message = event.message
        log.error("dead-lettering %s partition %d offset %d: the worker died %d times in a row "
                  "while processing it", message.topic, message.partition, message.offset,
                  deaths)
        self._dead_letter(Rejection(
            "processing_error", f"the worker died {deaths} times in a row while processing "
            "this message", event.value or b""), message)
        await self._flush()

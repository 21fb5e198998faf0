"""A worker that dies on the same input again and again dead-letters the message instead.

Most bad input is rejected while it is decoded or applied (see ``service.ingest`` and the
per-message ``processing_error`` dead letters). What is left is a message that kills the
process itself (a crash outside Python's exceptions, memory exhaustion, a bug that escapes the
per-message guard): the worker exits without committing, re-reads the same batch and dies again,
and so would every worker that takes the partition over.

The guard notes in the worker's data directory which input a batch is processing (a small JSON
file per stage, written before and removed after each batch). At start-up, a note left behind
means the previous process died in that batch. When a batch overlaps the input of a note left by
:data:`CRASH_LIMIT` deaths in a row, the batch is processed one message at a time, each noted
before it runs; a death then names the message, and the next start dead-letters it
(``processing_error``) and goes on. A failure of Kafka itself is not the input's fault:
:meth:`CrashLoopGuard.clear` forgets the note before such an exit.
"""

import contextlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

__all__ = ["CRASH_LIMIT", "CrashLoopGuard", "InputRange", "Plan"]

log = logging.getLogger(__name__)

CRASH_LIMIT = 3
"""Deaths in a row on overlapping input before the batch is taken apart."""


@dataclass(frozen=True, slots=True)
class InputRange:
    """The offsets ``first..last`` (inclusive) of one topic partition in a batch."""

    topic: str
    partition: int
    first: int
    last: int

    def overlaps(self, other: "InputRange") -> bool:
        return (self.topic == other.topic and self.partition == other.partition
                and self.first <= other.last and other.first <= self.last)


@dataclass(frozen=True, slots=True)
class Plan:
    """How to process a batch: ``isolate`` one message at a time; ``poison``, the offsets
    (topic, partition, offset) of a message to dead-letter instead of processing."""

    isolate: bool
    poison: tuple[str, int, int] | None
    deaths: int


def ranges_of(offsets: Iterable[tuple[str, int, int]]) -> list[InputRange]:
    """The input ranges of (topic, partition, offset) triples."""
    spans: dict[tuple[str, int], list[int]] = {}
    for topic, partition, offset in offsets:
        span = spans.get((topic, partition))
        if span is None:
            spans[(topic, partition)] = [offset, offset]
        else:
            span[0], span[1] = min(span[0], offset), max(span[1], offset)
    return [InputRange(t, p, first, last) for (t, p), (first, last) in spans.items()]


class CrashLoopGuard:
    """One stage's note of the input in progress, in ``directory/inflight-<stage>.json``.

    The note holds the batch in progress (``ranges``; in isolation also the ``current``
    message) and, after a death, the ``suspect`` input and the number of ``deaths`` in a row on
    it. The suspicion ends once successful batches have gone past the suspect input on each of
    its partitions (a restarted worker may first finish a smaller batch that holds only part
    of it)."""

    def __init__(self, directory: Path, stage: str, limit: int = CRASH_LIMIT) -> None:
        self.path = directory / f"inflight-{stage}.json"
        self.stage = stage
        self.limit = limit
        self.deaths = 0
        self.suspect: list[InputRange] = []
        self.ranges: list[InputRange] = []
        self.current: tuple[str, int, int] | None = None
        self.culprit: tuple[str, int, int] | None = None
        """The message in progress at the last death in isolation: dead-lettered when its batch
        comes again."""
        self._load()

    def _load(self) -> None:
        try:
            note: dict[str, Any] = orjson.loads(self.path.read_bytes())
            ranges = [InputRange(*r) for r in note.get("ranges", [])]
            suspect = [InputRange(*r) for r in note.get("suspect", [])]
            deaths = int(note.get("deaths", 0))
            current = note.get("current") or note.get("culprit")
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError):
            log.warning("%s: unreadable note of the input in progress; ignored", self.path)
            return
        self.culprit = None if current is None else (current[0], current[1], current[2])
        if not ranges:
            self.deaths, self.suspect = deaths, suspect
            return
        if _overlap(ranges, suspect):
            self.deaths, self.suspect = deaths + 1, _union(suspect, ranges)
        else:
            self.deaths, self.suspect = 1, ranges
        log.warning("the previous %s worker died while processing %s (%d time(s) in a row on "
                    "this input)", self.stage, self._describe(ranges), self.deaths)

    def _describe(self, ranges: list[InputRange]) -> str:
        if self.culprit is not None:
            return "{} partition {} offset {}".format(*self.culprit)
        return ", ".join(f"{r.topic} partition {r.partition} offsets {r.first}..{r.last}"
                         for r in ranges)

    def plan(self, ranges: list[InputRange]) -> Plan:
        """What to do with a batch of these input ranges; notes it as in progress."""
        suspected = bool(self.deaths) and _overlap(ranges, self.suspect)
        isolate = suspected and self.deaths >= self.limit
        poison = None
        culprit = self.culprit
        if isolate and culprit is not None and self.deaths > self.limit and any(
                r.topic == culprit[0] and r.partition == culprit[1]
                and r.first <= culprit[2] <= r.last for r in ranges):
            poison = culprit
        self.ranges, self.current = ranges, None
        self._write()
        return Plan(isolate, poison, self.deaths if suspected else 0)

    def processing(self, message: tuple[str, int, int]) -> None:
        """Note the one message processed next (isolation mode)."""
        self.current = message
        self._write()

    def done(self) -> None:
        """The batch finished; the suspicion ends once every suspect partition is passed."""
        passed = {(r.topic, r.partition): r.last for r in self.ranges}
        if self.culprit is not None and passed.get(self.culprit[:2], -1) >= self.culprit[2]:
            self.culprit = None
        self.suspect = [r for r in self.suspect
                        if passed.get((r.topic, r.partition), -1) < r.last]
        self.ranges, self.current = [], None
        if not self.suspect:
            self.deaths, self.culprit = 0, None
            self.clear()
        else:
            self._write()

    def clear(self) -> None:
        """Forget the batch in progress (it ended, or failed for a reason that is not its
        input); a suspicion from earlier deaths stays."""
        self.ranges, self.current = [], None
        if not self.suspect:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        else:
            self._write()

    def _write(self) -> None:
        note = {"deaths": self.deaths, "current": self.current, "culprit": self.culprit,
                "ranges": [[r.topic, r.partition, r.first, r.last] for r in self.ranges],
                "suspect": [[r.topic, r.partition, r.first, r.last] for r in self.suspect]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(note))
        os.replace(tmp, self.path)


def _overlap(a: list[InputRange], b: list[InputRange]) -> bool:
    return any(x.overlaps(y) for x in a for y in b)


def _union(a: list[InputRange], b: list[InputRange]) -> list[InputRange]:
    """Per topic partition, the span from the lowest first to the highest last offset."""
    return ranges_of((r.topic, r.partition, o) for r in (*a, *b) for o in (r.first, r.last))

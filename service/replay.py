"""Offline replay: a JSON-lines file (or stdin) through the engine, out comes SPEC §6's report.

The same :class:`~service.engine.engine.KpiEngine` runs in the streaming workers, so a replay is
the reference the live service is checked against.
"""

import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from service.engine.engine import KpiEngine
from service.engine.records import to_epoch_ms
from service.ingest import decode_message

__all__ = ["ReplayStats", "replay_lines"]


@dataclass
class ReplayStats:
    lines: int = 0
    events: int = 0
    after_as_of: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    first_errors: list[str] = field(default_factory=list)

    def summary(self, engine: KpiEngine) -> str:
        parts = [f"{self.lines} lines, {self.events} events applied"]
        duplicates, late = engine.counts.get("duplicate", 0), engine.counts.get("late", 0)
        if duplicates:
            parts.append(f"{duplicates} duplicates ignored")
        if late:
            parts.append(f"{late} late (only conversation state updated)")
        if self.after_as_of:
            parts.append(f"{self.after_as_of} at or after --as-of left out")
        if self.rejected:
            detail = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.rejected.items()))
            parts.append(f"{sum(self.rejected.values())} invalid skipped ({detail})")
        text = "; ".join(parts)
        for error in self.first_errors:
            text += f"\n  {error}"
        return text


def replay_lines(
    engine: KpiEngine,
    lines: Iterable[bytes],
    as_of_ms: int | None = None,
    progress: TextIO | None = None,
    progress_every: int = 200_000,
) -> ReplayStats:
    """Feed every valid event (a line holds an event or a JSON array of them) to ``engine``.

    With ``as_of_ms``, events at or after it are left out: the report at t sees only events
    before t (SPEC §4), and the live state is the state at t.
    """
    stats = ReplayStats()
    for number, line in enumerate(lines, 1):
        stats.lines = number
        if not line.strip():
            continue
        decoded = decode_message(line.rstrip(b"\r\n"))
        for rejection in decoded.rejections:
            stats.rejected[rejection.reason] += 1
            if len(stats.first_errors) < 5:
                stats.first_errors.append(f"line {number}: {rejection.error}")
        for event in decoded.events:
            if as_of_ms is not None and to_epoch_ms(event.at) >= as_of_ms:
                stats.after_as_of += 1
                continue
            engine.process(event)
            stats.events += 1
        if progress is not None and number % progress_every == 0:
            print(f"\r  replayed {number:,} lines", end="", file=progress, flush=True)
    if progress is not None and stats.lines >= progress_every:
        print(file=progress)
    return stats


def open_lines(path: str) -> Iterable[bytes]:
    if path == "-":
        yield from sys.stdin.buffer
        return
    with open(path, "rb") as handle:
        yield from handle


def report_json(report: dict[str, Any], pretty: bool) -> bytes:
    import orjson

    option = orjson.OPT_INDENT_2 if pretty else 0
    return orjson.dumps(report, option=option) + b"\n"

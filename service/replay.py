"""Offline replay: a JSON-lines file (or stdin) through the engine, out comes SPEC §6's report.

The same :class:`~service.engine.engine.KpiEngine` runs in the streaming workers, so a replay is
the reference the live service is checked against.
"""

import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from service.engine.conversation import KeyTooLarge
from service.engine.engine import KpiEngine
from service.engine.records import to_epoch_ms
from service.history.ledger import Ledger, LedgerWriter
from service.ingest import decode_message

__all__ = ["MAX_LISTED_ERRORS", "ReplayStats", "replay_lines"]


MAX_LISTED_ERRORS = 5
"""How many rejections the summary quotes (the rest are counted)."""


@dataclass
class ReplayStats:
    lines: int = 0
    events: int = 0
    """Valid events given to the engine (duplicates and expired ones included)."""
    after_as_of: int = 0
    future: int = 0
    """Events left out without --as-of: dated more than the clock skew after the current time
    (SPEC §4)."""
    rejected: Counter[str] = field(default_factory=Counter)
    first_errors: list[str] = field(default_factory=list)

    def reject(self, reason: str, line: int, error: str, count: int = 1) -> None:
        """Count a rejection (``count`` inputs); the first few are quoted in the summary."""
        self.rejected[reason] += count
        if len(self.first_errors) < MAX_LISTED_ERRORS:
            self.first_errors.append(f"line {line}: {error}")

    def summary(self, engine: KpiEngine) -> str:
        counts = engine.counts
        duplicates, late = counts.get("duplicate", 0), counts.get("late", 0)
        expired, forgotten = counts.get("expired", 0), counts.get("forgotten", 0)
        parts = [f"{self.lines} lines, {self.events - duplicates - expired} events applied"]
        if duplicates:
            parts.append(f"{duplicates} duplicates ignored")
        if late:
            parts.append(f"{late} late (only conversation state updated)")
        if expired:
            parts.append(f"{expired} expired (older than retention.closed_days behind the "
                         "latest event, of a conversation no longer held) ignored")
        if forgotten:
            parts.append(f"{forgotten} conversations forgotten after retention.closed_days")
        if self.after_as_of:
            parts.append(f"{self.after_as_of} at or after --as-of left out")
        if self.future:
            parts.append(f"{self.future} future (dated more than the clock skew after now) "
                         "left out; give --as-of to include them")
        invalid = sum(self.rejected.values())
        if invalid:
            detail = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.rejected.items()))
            parts.append(f"{invalid} invalid skipped ({detail})")
        text = "; ".join(parts)
        for error in self.first_errors:
            text += f"\n  {error}"
        if invalid > len(self.first_errors):
            text += f"\n  … and {invalid - len(self.first_errors)} more"
        return text


def replay_lines(
    engine: KpiEngine,
    lines: Iterable[bytes],
    as_of_ms: int | None = None,
    progress: TextIO | None = None,
    progress_every: int = 200_000,
    latest_ms: int | None = None,
    ledger: Ledger | None = None,
    writer: LedgerWriter | None = None,
    flush_every: int = 100_000,
) -> ReplayStats:
    """Feed every valid event (a line holds an event or a JSON array of them) to ``engine``.

    With ``as_of_ms``, events at or after it are left out: the report at t sees only events
    before t (SPEC §4), and the live state is the state at t. Without it, events dated after
    ``latest_ms`` (when given: the current time plus the allowed clock skew) are left out and
    counted as ``future``: replay has no wall clock of its own, and its default as-of ignores
    events dated after the moment it runs (SPEC §4).

    With ``ledger``, every fact change, timeline change and conversation attribute goes into it
    too (``--history``); with ``writer``, the ledger is flushed to it whenever
    ``flush_every`` facts are pending.
    """
    stats = ReplayStats()
    if ledger is not None:
        engine.book.segment_listener = ledger.apply_segments
    limit = as_of_ms if as_of_ms is not None else latest_ms
    for number, line in enumerate(lines, 1):
        stats.lines = number
        if not line.strip():
            continue
        decoded = decode_message(line.rstrip(b"\r\n"))
        for rejection in decoded.rejections:
            stats.reject(rejection.reason, number, rejection.error, rejection.count)
        for event in decoded.events:
            if limit is not None:
                at = to_epoch_ms(event.at)
                if as_of_ms is not None and at >= as_of_ms:
                    stats.after_as_of += 1
                    continue
                if as_of_ms is None and at > limit:
                    stats.future += 1
                    continue
            try:
                changes = engine.process(event)
            except KeyTooLarge as error:
                stats.reject("key_too_large", number, str(error))
                continue
            except Exception as error:
                stats.reject("processing_error", number, f"{type(error).__name__}: {error}")
                continue
            stats.events += 1
            if ledger is not None and changes is not None:
                ledger.observe(event)
                ledger.apply(getattr(event, "conversation_id", None), changes)
                if writer is not None and len(ledger.facts) >= flush_every:
                    writer.flush(ledger)
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

"""The benchmark's events: generated once (deterministic) into the cache directory, reused."""

import os
from dataclasses import dataclass
from pathlib import Path

import orjson

from service.publish import event_key, partition_for
from service.synthetic import TrafficShape, generate_events

__all__ = ["CACHE", "Dataset", "envelopes", "events_file"]

CACHE = Path(os.environ.get("SUPPORT_KPI_CACHE", Path.home() / ".cache" / "support-kpi")) / "bench"


@dataclass(frozen=True)
class Dataset:
    events: int
    conversations: int
    """Conversations to start; the file stops at ``events``, so fewer may appear."""
    agents: int
    conversations_per_minute: float

    @property
    def path(self) -> Path:
        return CACHE / (f"events-v3-{self.events}-{self.conversations}-{self.agents}-"
                        f"{self.conversations_per_minute:g}.jsonl")


def events_file(dataset: Dataset) -> Path:
    path = dataset.path
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    shape = TrafficShape(conversations=dataset.conversations, agents=dataset.agents,
                         conversations_per_minute=dataset.conversations_per_minute)
    partial = path.with_suffix(".partial")
    written = 0
    with partial.open("wb") as out:
        for event in generate_events(shape, seed=1):
            out.write(orjson.dumps(event) + b"\n")
            written += 1
            if written % 50_000 == 0:
                print(f"\r  generating {path.name}: {written:,} / {dataset.events:,} events",
                      end="", flush=True)
            if written >= dataset.events:
                break
    print()
    partial.rename(path)
    return path


def envelopes(path: Path, partitions: int, batch: int) -> list[tuple[int, bytes, bytes, int]]:
    """The file as batch envelopes (SPEC §2) of up to ``batch`` events of one partition, each
    keyed by its first event: ``(partition, key, value, events)``, in file order."""
    out: list[tuple[int, bytes, bytes, int]] = []
    pending: dict[int, list[tuple[bytes, bytes]]] = {}
    with path.open("rb") as lines:
        for line in lines:
            line = line.strip()
            if not line:
                continue
            key = event_key(orjson.loads(line)) or b""
            partition = partition_for(key, partitions)
            group = pending.setdefault(partition, [])
            group.append((key, line))
            if len(group) >= batch:
                out.append(_envelope(partition, pending.pop(partition)))
    out.extend(_envelope(partition, group) for partition, group in pending.items())
    return out


def _envelope(partition: int, group: list[tuple[bytes, bytes]]) -> tuple[int, bytes, bytes, int]:
    return partition, group[0][0], b"[" + b",".join(v for _, v in group) + b"]", len(group)

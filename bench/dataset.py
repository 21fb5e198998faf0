"""The benchmark's events: generated once (deterministic) into the cache directory, reused."""

import os
from dataclasses import dataclass
from pathlib import Path

import orjson

from service.partitioning import event_key
from service.publish import Envelope, Envelopes
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
        return CACHE / (f"events-v5-{self.events}-{self.conversations}-{self.agents}-"
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


def envelopes(path: Path, partitions: int, batch: int) -> list[Envelope]:
    """The file as batch envelopes (SPEC §2) of up to ``batch`` events of one partition, each
    keyed by its first event, in file order."""
    grouper = Envelopes(partitions, batch)
    out: list[Envelope] = []
    with path.open("rb") as lines:
        for line in lines:
            line = line.strip()
            if line:
                envelope = grouper.add(event_key(orjson.loads(line)) or b"", line)
                if envelope is not None:
                    out.append(envelope)
    return out + grouper.drain()

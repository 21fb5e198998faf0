"""The two stages of a worker in one process, without Kafka: what a worker's own code costs.

The worker's batches, the worker's way: the input partitions' envelopes in turn, in slices
of :data:`~service.stream.app.SLICE_BYTES`, their deltas encoded and decoded as on the deltas
topic and applied by the owner stage in slices of the same size, every write applied to an
in-memory store.
No broker, no faust: the difference to the service phase is theirs. ``python -m bench.stages
--profile`` prints where the time goes (cProfile).
"""

import argparse
import cProfile
import pstats
import resource
import time
from pathlib import Path
from typing import Any

from bench.dataset import Dataset, envelopes, events_file
from service.config import load_config
from service.engine.engine import DEFAULT_RETENTION_MS, CachedPolicy
from service.engine.owner_keys import Owner
from service.partitioning import partition_for
from service.runtime import tune_gc
from service.stream.app import MAX_DELTA_MESSAGE_BYTES, SLICE_BYTES
from service.stream.conversations import ConversationStage, Message, StageResult
from service.stream.messages import encode_deltas
from service.stream.owners import OwnerStage
from service.stream.store import MemoryStore
from service.synthetic import SIMULATED_CONFIG

__all__ = ["run_stages"]


class _Worker:
    def __init__(self, partitions: int, idle_limit: int, keep_history: bool = False) -> None:
        policy = CachedPolicy(load_config(SIMULATED_CONFIG))
        self.partitions = partitions
        self.conversations = ConversationStage(policy, DEFAULT_RETENTION_MS, self.partition_of,
                                               idle_limit)
        self.owners = OwnerStage(policy, DEFAULT_RETENTION_MS, self.partition_of)
        self.input_stores = [MemoryStore() for _ in range(partitions)]
        self.owner_stores = [MemoryStore() for _ in range(partitions)]
        self.deltas: list[list[Message]] = [[] for _ in range(partitions)]
        self._partitions: dict[Owner, int] = {}
        self.delta_bytes = 0
        self.keep_history = keep_history
        self.history: list[tuple[int, bytes, bytes]] = []
        """The history topic's records (partition, key, value), when kept."""
        for partition in range(partitions):
            self.conversations.load(partition, self.input_stores[partition])
            self.owners.load(partition, self.owner_stores[partition])

    def partition_of(self, owner: Owner) -> int:
        """As the worker's: Kafka's partitioner on the owner's code, remembered."""
        partition = self._partitions.get(owner)
        if partition is None:
            partition = self._partitions[owner] = partition_for(owner.code.encode(),
                                                                self.partitions)
        return partition

    def deliver(self, result: StageResult, store: MemoryStore) -> None:
        result.first.apply_to(store)
        for destination, message in result.deltas:
            for raw in encode_deltas(message, MAX_DELTA_MESSAGE_BYTES):
                queue = self.deltas[destination]
                queue.append(Message("deltas", destination, len(queue), None, raw, 0))
                self.delta_bytes += len(raw)
        if self.keep_history:
            self.history += result.history
        result.writes.apply_to(store)

    def drain_deltas(self) -> None:
        while any(self.deltas):
            for partition in range(self.partitions):
                queue, self.deltas[partition] = self.deltas[partition], []
                for piece in _slices(queue):
                    self.deliver(self.owners.process(partition, piece),
                                 self.owner_stores[partition])


def _slices(messages: list[Message]) -> list[list[Message]]:
    out: list[list[Message]] = [[]]
    size = 0
    for message in messages:
        length = len(message.value or b"")
        if out[-1] and size + length > SLICE_BYTES:
            out.append([])
            size = 0
        out[-1].append(message)
        size += length
    return [piece for piece in out if piece]


def run_stages(path: Path, events: int, partitions: int = 4, batch: int = 200,
               idle_limit: int = 20_000, profile: Path | None = None,
               keep_history: bool = False) -> dict[str, Any]:
    """Both stages over the first ``events`` events of ``path`` (as envelopes of ``batch``):
    events/s, CPU µs per event, peak RSS, bytes of deltas and rows; with ``keep_history``, the
    history topic's records the stages sent (``history``: (partition, key, value))."""
    inputs: list[list[Message]] = [[] for _ in range(partitions)]
    taken = 0
    for partition, key, value, count in envelopes(path, partitions, batch):
        if taken >= events:
            break
        queue = inputs[partition]
        queue.append(Message("in", partition, len(queue), key, value, 0))
        taken += count
    worker = _Worker(partitions, idle_limit, keep_history)
    profiler = cProfile.Profile() if profile else None
    started, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    slices = [_slices(queue) for queue in inputs]
    for n in range(max(len(s) for s in slices)):
        for partition in range(partitions):
            if n < len(slices[partition]):
                worker.deliver(worker.conversations.process(partition, slices[partition][n]),
                               worker.input_stores[partition])
        worker.drain_deltas()
    if profiler:
        profiler.disable()
        assert profile is not None
        profiler.dump_stats(profile)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    rows = sum(len(k) + len(v) for store in (*worker.input_stores, *worker.owner_stores)
               for k, v in store.rows.items())
    return {"events": taken, "seconds": seconds, "events_per_s": taken / seconds,
            "cpu_us_per_event": cpu / taken * 1e6,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "delta_bytes_per_event": worker.delta_bytes / taken,
            "row_bytes": rows, **({"history": worker.history} if keep_history else {})}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top entries")
    args = parser.parse_args()
    tune_gc()
    path = events_file(Dataset(1_000_000, 200_000, 2000, 400))
    profile = Path("/tmp/support-kpi-stages.prof") if args.profile else None
    result = run_stages(path, args.events, profile=profile)
    print({k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()})
    if profile:
        pstats.Stats(str(profile)).sort_stats("tottime").print_stats(35)
        pstats.Stats(str(profile)).sort_stats("cumulative").print_stats(45)


if __name__ == "__main__":
    main()

"""Hypothesis: the streaming topology, run without Kafka, gives replay's report.

The real stage code (:mod:`service.stream.conversations`, :mod:`service.stream.owners`) runs
over in-memory stores and in-memory topics, driven the way the worker drives it
(:mod:`service.stream.worker`): per batch, the intent is written, the messages sent, the rows
written, the input committed. A worker may die at any point of that (a SIGKILL): what it had
sent stays sent, what it had not written is lost, and its partitions are loaded again from
their rows and processed again from the committed offsets. Partitions also move between
workers (a rebalance), and the merged reports of the owner books must equal replay's.
"""

import random
from dataclasses import dataclass, field
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streams import _as_of, config, report_of, stream
from test_arrival_order import hard_stream, shuffled_keeping_ties

from service.engine.engine import CachedPolicy, KpiEngine
from service.engine.learned_names import LearnedNames
from service.engine.owner_keys import Owner
from service.engine.queue import merge_queues
from service.engine.report import merge_reports
from service.names import named
from service.partitioning import partition_for
from service.stream.conversations import ConversationStage, Message
from service.stream.messages import encode_deltas
from service.stream.owners import OwnerStage
from service.stream.reads import queue_of
from service.stream.store import MemoryStore

PARTITIONS = 4
RETENTION_MS = 25 * 3_600_000
MAX_CRASHES = 60
"""Crashes a run injects at the most (every one reloads the worker's partitions)."""


class Crash(Exception):
    """The worker dies here."""


@dataclass
class Worker:
    conversations: ConversationStage
    owners: OwnerStage


@dataclass
class Topology:
    rnd: random.Random
    crash_rate: float
    idle_limit: int | None
    inputs: list[list[Message]] = field(default_factory=lambda: [[] for _ in range(PARTITIONS)])
    deltas: list[list[Message]] = field(default_factory=lambda: [[] for _ in range(PARTITIONS)])
    history: list[list[Message]] = field(default_factory=lambda: [[] for _ in range(PARTITIONS)])
    """The history topic (what the sink reads: tests/property/test_history_stream.py)."""
    input_stores: list[MemoryStore] = field(
        default_factory=lambda: [MemoryStore() for _ in range(PARTITIONS)])
    owner_stores: list[MemoryStore] = field(
        default_factory=lambda: [MemoryStore() for _ in range(PARTITIONS)])
    committed: dict[tuple[str, int], int] = field(default_factory=dict)
    position: dict[tuple[str, int], int] = field(default_factory=dict)
    crashes: int = 0

    def __post_init__(self) -> None:
        self.workers: dict[int, Worker] = {}
        self.assignment: dict[int, int] = {}

    @staticmethod
    def partition_of(owner: Owner) -> int:
        return partition_for(owner.code.encode(), PARTITIONS)

    def new_worker(self) -> Worker:
        return Worker(ConversationStage(config(), RETENTION_MS, self.partition_of,
                                        self.idle_limit),
                      OwnerStage(config(), RETENTION_MS, self.partition_of))

    def assign(self, partition: int, worker: int) -> None:
        """Give ``partition`` (of both topics) to ``worker``: loaded from its rows, processed
        from the committed offsets."""
        old = self.assignment.get(partition)
        if old is not None and old in self.workers:
            self.workers[old].conversations.drop(partition)
            self.workers[old].owners.drop(partition)
        if worker not in self.workers:
            self.workers[worker] = self.new_worker()
        w = self.workers[worker]
        w.conversations.load(partition, self.input_stores[partition])
        self.assignment[partition] = worker
        for topic in ("in", "deltas"):
            self.position[(topic, partition)] = self.committed.get((topic, partition), 0)
        resync = w.owners.load(partition, self.owner_stores[partition])
        try:
            self.send(resync)
            loaded, w.owners.loaded_history = w.owners.loaded_history, []
            self.send_history(loaded)
        except Crash:
            self.crash(worker)

    def crash(self, worker: int) -> None:
        """The worker dies: everything in memory is gone; it starts again on its partitions."""
        self.crashes += 1
        self.workers.pop(worker, None)
        for partition, owner in list(self.assignment.items()):
            if owner == worker:
                self.assign(partition, worker)

    def maybe_crash(self) -> None:
        if self.crashes < MAX_CRASHES and self.rnd.random() < self.crash_rate:
            raise Crash

    def publish(self, events: list[Any]) -> None:
        for event in events:
            body = event.model_dump(mode="json", exclude_none=True)
            key = (body.get("conversation_id") or body["agent_id"]).encode()
            partition = partition_for(key, PARTITIONS)
            queue = self.inputs[partition]
            queue.append(Message("in", partition, len(queue), key, orjson.dumps(body), 0))

    def send(self, deltas: list[tuple[int, Any]]) -> None:
        for destination, message in deltas:
            for raw in encode_deltas(message, 2_000):
                self.maybe_crash()
                queue = self.deltas[destination]
                queue.append(Message("deltas", destination, len(queue), None, raw, 0))

    def send_history(self, records: list[tuple[int, bytes, bytes]]) -> None:
        for partition, key, value in records:
            self.maybe_crash()
            queue = self.history[partition]
            queue.append(Message("history", partition, len(queue), key, value, 0))

    def write(self, store: MemoryStore, writes: dict[bytes, bytes | None]) -> None:
        for key, value in writes.items():
            self.maybe_crash()
            if value is None:
                store.delete(key)
            else:
                store.put(key, value)

    def step(self, topic: str, partition: int) -> bool:
        """One batch of ``partition`` of ``topic``, the worker's way; False when nothing is
        waiting."""
        queue = (self.inputs if topic == "in" else self.deltas)[partition]
        start = self.position[(topic, partition)]
        if start >= len(queue):
            return False
        batch = queue[start:start + self.rnd.randint(1, 30)]
        worker = self.assignment[partition]
        w = self.workers[worker]
        try:
            if topic == "in":
                result = w.conversations.process(partition, batch)
                store = self.input_stores[partition]
            else:
                result = w.owners.process(partition, batch)
                store = self.owner_stores[partition]
            self.write(store, result.first)
            self.send(result.deltas)
            self.send_history(result.history)
            self.write(store, result.writes)
            self.position[(topic, partition)] = batch[-1].offset + 1
            self.maybe_crash()
            self.committed[(topic, partition)] = self.position[(topic, partition)]
        except Crash:
            self.crash(worker)
        return True

    def run(self, workers: int, rebalances: int) -> None:
        for partition in range(PARTITIONS):
            self.assign(partition, partition % workers)
        moves = sorted(self.rnd.sample(range(1, 400), rebalances)) if rebalances else []
        steps = 0
        while True:
            waiting = [(t, p) for t in ("in", "deltas") for p in range(PARTITIONS)
                       if self.position[(t, p)] < len((self.inputs if t == "in"
                                                       else self.deltas)[p])]
            if not waiting:
                return
            topic, partition = self.rnd.choice(waiting)
            self.step(topic, partition)
            steps += 1
            if moves and steps == moves[0]:
                moves.pop(0)
                self.assign(self.rnd.randrange(PARTITIONS), self.rnd.randrange(workers))

    def report(self, as_of_ms: int) -> dict[str, Any]:
        reports = []
        for worker in self.workers.values():
            owned = worker.owners.owned()
            for partition, book in worker.owners.books():
                mine = {o for p, o in owned if p == partition}
                if mine:
                    reports.append(book.report(as_of_ms, mine, config().at_risk_ratio,
                                               config().weighted_score))
        learned = LearnedNames()
        for worker in self.workers.values():
            learned.held.update(worker.owners.learned_names().held)
        return named(merge_reports(reports), config().directory(), learned)


slow = settings(max_examples=20, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])


def _run(events: list[Any], rnd: random.Random, workers: int, crash_rate: float,
         rebalances: int, idle_limit: int | None, as_of_ms: int) -> Topology:
    topology = Topology(rnd, crash_rate, idle_limit)
    topology.publish(events)
    topology.run(workers, rebalances)
    return topology


@slow
@given(st.integers(0, 3), st.integers(1, 3), st.integers(0, 2**32),
       st.sampled_from([0.0, 0.01, 0.05]), st.integers(0, 3), st.sampled_from([None, 0, 5]))
def test_topology_equals_replay(seed: int, workers: int, run: int, crash_rate: float,
                                rebalances: int, idle_limit: int | None) -> None:
    """``run`` seeds the driver's choices (batch sizes, crash points, what runs next)."""
    rnd = random.Random(run)
    events = list(stream(seed))
    expected = report_of(events)
    rnd.shuffle(events)
    topology = _run(events, rnd, workers, crash_rate, rebalances, idle_limit, _as_of(expected))
    assert topology.report(_as_of(expected)) == expected


@slow
@given(st.integers(0, 3), st.integers(0, 2**32), st.sampled_from([0.0, 0.02]))
def test_topology_equals_replay_over_a_day_and_more(seed: int, run: int,
                                                    crash_rate: float) -> None:
    """Team changes, packing, expiry and events more than a day late (the hard streams)."""
    rnd = random.Random(run)
    events = list(hard_stream(seed))
    expected = report_of(events)
    topology = _run(shuffled_keeping_ties(events, rnd), rnd, 2, crash_rate, 1, 3,
                    _as_of(expected))
    assert topology.report(_as_of(expected)) == expected


def test_crashes_happen_in_the_driver() -> None:
    events = list(stream(0))
    expected = report_of(events)
    topology = _run(events, random.Random(3), 2, 0.05, 2, 0, _as_of(expected))
    assert topology.crashes > 5
    assert topology.report(_as_of(expected)) == expected


@slow
@given(st.integers(0, 3), st.integers(0, 2**32), st.sampled_from([None, "billing", "tech"]))
def test_the_workers_merged_queue_equals_replays_names_included(seed: int, run: int,
                                                               team: str | None) -> None:
    """Each worker lists the conversations of the owner asked for that it holds, and names the
    agents it holds; merged, the listing and its names are replay's (an agent's name lives on
    its own partition, not always the team's)."""
    rnd = random.Random(run)
    events = list(stream(seed))
    times = sorted(e.at for e in events)
    events = [e for e in events if e.at <= times[len(times) // 2]]  # mid-day: work is open
    engine = KpiEngine(config())
    for event in events:
        engine.process(event)
    as_of = engine.default_as_of()
    expected = engine.queue("open", as_of, team)
    rnd.shuffle(events)
    topology = _run(events, rnd, 3, 0.0, 1, None, as_of)
    policy = CachedPolicy(config())
    answers = [queue_of(worker.owners, "open", as_of, policy, config().at_risk_ratio, team,
                        None, None, config().directory())
               for worker in topology.workers.values()]
    assert merge_queues(answers, None) == expected
    assert expected.get("names", {}).get("agents"), "the stream names some agents"

"""Which partitions a worker's stages hold, and taking them over after a rebalance.

faust assigns partitions and recovers the tables' stores from their changelogs (a kept data
directory reads only the records after the persisted offset). Once it has, each stage loads
the partitions newly assigned to it from their stores and drops those that went elsewhere: the
conversation stage only the heads of its conversations (the rest is read when an event comes),
the owner stage its owners' books (what reports read), whose agents then resync the segments
they count elsewhere. Loading holds the stage's lock, so no batch runs on half a state.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from service.engine.deltas import OwnerDeltas
from service.stream.conversations import ConversationStage
from service.stream.owners import OwnerStage
from service.stream.tables import TableRows

__all__ = ["Assignment"]

log = logging.getLogger(__name__)

Send = Callable[[list[tuple[int, OwnerDeltas]]], Awaitable[None]]


class Assignment:
    """The partitions each stage holds, loaded from the tables once recovered."""

    def __init__(self, conversations: ConversationStage, owners: OwnerStage,
                 conversation_rows: TableRows, owner_rows: TableRows,
                 active: Callable[[str], frozenset[int]], recovered: Callable[[], bool],
                 input_topic: str, deltas_topic: str, send: Send) -> None:
        """``active``: the partitions of a topic assigned here; ``recovered``: whether the
        tables are recovered (and not recovering); ``send``: delivers the owner stage's resync
        messages."""
        self.conversations = conversations
        self.owners = owners
        self.conversation_rows = conversation_rows
        self.owner_rows = owner_rows
        self.active = active
        self.recovered = recovered
        self.input_topic = input_topic
        self.deltas_topic = deltas_topic
        self.send = send
        self.conversations_lock = asyncio.Lock()
        self.owners_lock = asyncio.Lock()
        self.generation: Any = None
        """What the last load saw (the assignment and faust's recovery count)."""

    @contextlib.asynccontextmanager
    async def quiet(self) -> AsyncIterator[None]:
        """Both stages' locks: no batch runs (a batch holds its stage's lock throughout) and
        no partition loads while held."""
        async with self.conversations_lock, self.owners_lock:
            yield

    @property
    def input_partitions(self) -> frozenset[int]:
        return frozenset(self.conversations.partitions)

    @property
    def owner_partitions(self) -> frozenset[int]:
        return frozenset(self.owners.partitions)

    def current(self, recoveries: int) -> tuple[frozenset[int], frozenset[int], int]:
        return (self.active(self.input_topic), self.active(self.deltas_topic), recoveries)

    async def refresh(self, recoveries: int) -> bool:
        """Load what a completed recovery brought, drop what left; True when the stages hold
        the current assignment. After each recovery every assigned partition is loaded anew:
        faust may have restored its store from the changelog meanwhile."""
        if not self.recovered():
            return False
        wanted = self.current(recoveries)
        if wanted == self.generation:
            return True
        inputs, deltas, _ = wanted
        async with self.conversations_lock:
            count = self._load(self.conversations, inputs, self.conversation_rows)
        log.info("conversations known for partitions %s: %d", sorted(inputs), count)
        async with self.owners_lock:
            resync: list[tuple[int, OwnerDeltas]] = []
            for partition in sorted(set(self.owners.partitions) - deltas):
                self.owners.drop(partition)
            for partition in sorted(deltas):
                resync += self.owners.load(partition, self.owner_rows.store_of(partition))
            if resync or self.owners.loaded_history:
                await self.send(resync)
        log.info("owners loaded for partitions %s: %d", sorted(deltas),
                 len(self.owners.owned()))
        self.generation = wanted if self.current(recoveries) == wanted else None
        return self.generation == wanted

    @staticmethod
    def _load(stage: ConversationStage, partitions: Iterable[int], rows: TableRows) -> int:
        wanted = set(partitions)
        for partition in set(stage.partitions) - wanted:
            stage.drop(partition)
        return sum(stage.load(p, rows.store_of(p)) for p in sorted(wanted))

"""What both stages of a worker write to, besides their own table: the health metrics, the
table writer, the dead letters and the facts-topic partition of an owner key."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service.ingest import Rejection
from service.stream.health import Health
from service.stream.tables import TableWriter

__all__ = ["DeadLetter", "StageOutputs"]

DeadLetter = Callable[[Rejection, Any], None]
"""Append the dead letter of a rejection read from a Kafka message (sent with the batch)."""


@dataclass(frozen=True, slots=True)
class StageOutputs:
    health: Health
    tables: TableWriter
    dead_letter: DeadLetter
    partition_of: Callable[[str], int]

"""Which partition a key goes to: Kafka's default partitioner, shared by the publishers (CLI,
gateway, bench) and the workers (which place owner keys on the deltas topic the same way)."""

from typing import Any

from aiokafka.partitioner import murmur2

__all__ = ["event_key", "partition_for"]


def partition_for(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2, positive, modulo)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def event_key(event: dict[str, Any]) -> bytes | None:
    """An event's message key (SPEC §2): its conversation id, else its agent id."""
    key = event.get("conversation_id") or event.get("agent_id")
    return key.encode() if isinstance(key, str) and key else None

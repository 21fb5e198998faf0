"""Where a stage's rows live: a key-value store per partition, behind a small protocol.

The stages (:mod:`service.stream.conversations`, :mod:`service.stream.owners`) only read their
rows (:meth:`Store.get`, :meth:`Store.scan` by prefix) and return what a batch changes as
:class:`Writes`, coalesced per key; the worker writes them after the batch's messages are
acknowledged (:mod:`service.stream.tables`: a RocksDB write batch and one changelog record per
changed key). :class:`MemoryStore` is the store of the tests (as Kafka Streams'
TopologyTestDriver runs a topology without a broker) and of ``memory://`` workers.
"""

from bisect import bisect_left
from collections.abc import Iterator, Mapping
from typing import Protocol

__all__ = ["MemoryStore", "Store", "Writes"]


class Store(Protocol):
    """One partition's rows (keys and values are bytes)."""

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Every (key, value) whose key starts with ``prefix``, in key order."""
        ...


class Writes(dict[bytes, bytes | None]):
    """A batch's changes to a store: key → new value, or None to delete; a key written twice
    keeps its last value (one changelog record per changed key)."""

    def apply_to(self, store: Store) -> None:
        for key, value in self.items():
            if value is None:
                store.delete(key)
            else:
                store.put(key, value)


class MemoryStore:
    """A :class:`Store` in a dict, with the keys kept sorted for :meth:`scan`."""

    def __init__(self, rows: Mapping[bytes, bytes] | None = None) -> None:
        self.rows: dict[bytes, bytes] = dict(rows or {})
        self._keys: list[bytes] | None = None

    def get(self, key: bytes) -> bytes | None:
        return self.rows.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        if key not in self.rows:
            self._keys = None
        self.rows[key] = value

    def delete(self, key: bytes) -> None:
        if self.rows.pop(key, None) is not None:
            self._keys = None

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        if self._keys is None:
            self._keys = sorted(self.rows)
        keys = self._keys
        for i in range(bisect_left(keys, prefix), len(keys)):
            key = keys[i]
            if not key.startswith(prefix):
                return
            value = self.rows.get(key)
            if value is not None:
                yield key, value

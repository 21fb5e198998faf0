"""One conversation's events in ``at`` order (ties: arrival order, SPEC §2) and the fold over
them (:class:`~service.engine.fold.ConversationFold`).

What an event costs does not grow with the conversation's history:

* a repeated event id is found in a set;
* an event that sorts last (the usual case) is applied to the running fold;
* an event that sorts earlier is put in place and the conversation is folded again from the
  checkpoint before it (a copy of the fold every :data:`CHECKPOINT_EVENTS` events), once with
  the old events and once with the new ones; the difference between the two runs' facts is
  what the arrival changed. Its cost grows with the events after it (which it may change),
  not with those before it;
* at most :data:`MAX_LOG_EVENTS` events are kept: past that, the older half is folded into the
  base (the checkpoint at the cut, a fold snapshot) and dropped. Results do not change: every
  later event still finds its place, except one dated at or before the base's last event,
  which cannot be put in place exactly and is refused (:class:`KeyTooLarge`, dead-lettered as
  ``key_too_large``). Their ids stay known (8 bytes each), so a redelivered one is still a
  duplicate, up to :data:`MAX_CONVERSATION_EVENTS` events per conversation.

:meth:`Conversation.pack` turns a conversation into compressed bytes (replay keeps long-idle
conversations that way, a worker's store keeps the same form in rows): nothing of it is lost,
so a late event for a packed conversation is put in place exactly as for any other.
"""

import zlib
from array import array
from bisect import bisect_left, bisect_right
from typing import Any

import orjson

from service.engine.facts import Fact, FactChange
from service.engine.fold import ConversationFold
from service.engine.records import Record
from service.engine.sla import TeamPolicy

__all__ = ["CHECKPOINT_EVENTS", "MAX_CONVERSATION_EVENTS", "MAX_LOG_EVENTS", "Conversation",
           "KeyTooLarge", "fold_facts"]

CHECKPOINT_EVENTS = 256
"""A copy of the fold is kept after every this many events of the log."""
MAX_LOG_EVENTS = 10_000
"""Events kept to put a late one in place; past this the older half is folded into the base."""
MAX_CONVERSATION_EVENTS = 1_000_000
"""Events of one conversation ever accepted; later ones are refused (``key_too_large``)."""
_PACK_VERSION = 1


class KeyTooLarge(ValueError):
    """An event a conversation past its documented bounds cannot take exactly (reason
    ``key_too_large``): dated at or before the events folded into its base, or beyond
    :data:`MAX_CONVERSATION_EVENTS`."""


def _order(record: Record) -> tuple[int, int]:
    return record.at, record.seq


class Conversation:
    """A conversation's events (sorted), checkpoints of the fold over them, and the fold."""

    __slots__ = ("base_at", "base_seen", "checkpoints", "conversation_id", "fold", "fresh",
                 "log", "rebased", "saved_chunks", "seen", "tail")

    def __init__(self, conversation_id: str, track: bool = False) -> None:
        self.conversation_id = conversation_id
        self.log: list[Record] = []
        """The events after the base, in (``at``, arrival) order."""
        self.seen: set[int] = set()
        """Fingerprints of the log's events."""
        self.base_seen = array("Q")
        """Sorted fingerprints of the events folded into the base (dropped from the log)."""
        self.base_at: int | None = None
        """The latest ``at`` folded into the base; None without a base."""
        self.checkpoints: list[ConversationFold | None] = [None]
        """``checkpoints[k]``: the fold after the base and the first ``k × CHECKPOINT_EVENTS``
        events of the log; ``[0]`` is the base (None: a fresh fold). Never applied to."""
        self.fold = ConversationFold(conversation_id)
        self.fresh: list[Record] | None = [] if track else None
        """With ``track`` (a worker), the events taken since the conversation was last saved,
        in arrival order; the worker's rows (:mod:`service.stream.rows`) save them."""
        self.saved_chunks = 0
        """Saved chunk rows of events (the last one may be partial: :attr:`tail`)."""
        self.tail: list[Record] = []
        """The events of the last saved chunk while it is partial."""
        self.rebased = False
        """The base moved since the conversation was last saved: every row is written anew."""

    @property
    def events(self) -> int:
        """Events taken so far (log and base)."""
        return len(self.log) + len(self.base_seen)

    def facts(self, policy: TeamPolicy) -> dict[str, Fact]:
        """The conversation's current facts by id, folded again from the base (the facts of
        events folded into the base are left out)."""
        return fold_facts(self._start(0), self.log, policy)[1]

    def _start(self, k: int) -> ConversationFold:
        checkpoint = self.checkpoints[k]
        return ConversationFold(self.conversation_id) if checkpoint is None else checkpoint.copy()

    def _known(self, fingerprint: int) -> bool:
        if fingerprint in self.seen:
            return True
        base = self.base_seen
        i = bisect_left(base, fingerprint)
        return i < len(base) and base[i] == fingerprint

    def add(self, record: Record, policy: TeamPolicy) -> list[FactChange] | None:
        """Apply one event; its fact changes, or None when its id was seen before. Raises
        KeyTooLarge (see the module docstring), and whatever the fold raises: then nothing of
        the event is kept."""
        if self._known(record.fingerprint):
            return None
        if self.base_at is not None and record.at <= self.base_at:
            raise KeyTooLarge(
                f"conversation {self.conversation_id!r} keeps its latest {MAX_LOG_EVENTS:,} "
                "events in order; this one is dated at or before the older events folded "
                "into its snapshot, so it cannot be put in place exactly")
        if self.events >= MAX_CONVERSATION_EVENTS:
            raise KeyTooLarge(f"conversation {self.conversation_id!r} has "
                              f"{MAX_CONVERSATION_EVENTS:,} events, the most one conversation "
                              "takes")
        log = self.log
        if not log or _order(record) > _order(log[-1]):
            changes = self._append(record, policy)
        else:
            changes = self._insert(record, policy)
        return changes

    def _append(self, record: Record, policy: TeamPolicy) -> list[FactChange]:
        log = self.log
        try:
            changes = self.fold.apply(record, policy)
        except Exception:
            k = len(log) // CHECKPOINT_EVENTS
            self.fold = fold_facts(self._start(k), log[k * CHECKPOINT_EVENTS:], policy)[0]
            raise
        log.append(record)
        self.seen.add(record.fingerprint)
        if self.fresh is not None:
            self.fresh.append(record)
        if len(log) % CHECKPOINT_EVENTS == 0:
            self.checkpoints.append(self.fold.copy())
        if len(log) > MAX_LOG_EVENTS:
            self._fold_into_base()
        return changes

    def _insert(self, record: Record, policy: TeamPolicy) -> list[FactChange]:
        log = self.log
        i = bisect_right(log, _order(record), key=_order)
        k = i // CHECKPOINT_EVENTS
        start = k * CHECKPOINT_EVENTS
        tail = log[start:]
        old_changes: list[FactChange] = []
        fold = self._start(k)
        for event in tail:
            old_changes += fold.apply(event, policy)
        tail.insert(i - start, record)
        fold = self._start(k)
        new_changes: list[FactChange] = []
        checkpoints = self.checkpoints[:k + 1]
        for n, event in enumerate(tail, start + 1):
            new_changes += fold.apply(event, policy)
            if n % CHECKPOINT_EVENTS == 0:
                checkpoints.append(fold.copy())
        log.insert(i, record)
        self.seen.add(record.fingerprint)
        if self.fresh is not None:
            self.fresh.append(record)
        self.fold, self.checkpoints = fold, checkpoints
        if len(log) > MAX_LOG_EVENTS:
            self._fold_into_base()
        return _difference(old_changes, new_changes)

    def _fold_into_base(self) -> None:
        """Drop the older half of the log into the base (the checkpoint at the cut)."""
        k = (len(self.log) // 2) // CHECKPOINT_EVENTS
        cut = k * CHECKPOINT_EVENTS
        dropped = self.log[:cut]
        self.base_at = dropped[-1].at
        fingerprints = [r.fingerprint for r in dropped]
        self.seen.difference_update(fingerprints)
        self.base_seen = array("Q", sorted((*self.base_seen, *fingerprints)))
        del self.log[:cut]
        self.checkpoints = self.checkpoints[k:]
        self.rebased = True

    # -- the persisted form ----------------------------------------------------------------------

    def pack(self) -> bytes:
        """The whole conversation as compressed bytes (:meth:`unpack` gives it back)."""
        base = self.checkpoints[0]
        state = [_PACK_VERSION, [list(r) for r in self.log],
                 None if base is None else base.to_state(), self.base_at,
                 self.base_seen.tobytes()]
        return zlib.compress(orjson.dumps(state, default=_bytes_as_hex), 1)

    @classmethod
    def unpack(cls, conversation_id: str, packed: bytes, policy: TeamPolicy) -> "Conversation":
        """A conversation from :meth:`pack`, its fold and checkpoints folded again."""
        version, log, base, base_at, base_seen = orjson.loads(zlib.decompress(packed))
        if version != _PACK_VERSION:
            raise ValueError(f"a packed conversation of version {version}, not "
                             f"{_PACK_VERSION}")
        conversation = cls(conversation_id)
        if base is not None:
            conversation.checkpoints = [ConversationFold.from_state(base)]
        conversation.base_at = base_at
        conversation.base_seen = array("Q", bytes.fromhex(base_seen))
        conversation.restore([Record(*r) for r in log], policy)
        return conversation

    def restore(self, log: list[Record], policy: TeamPolicy) -> None:
        """Take ``log`` (sorted, after the base) as the events, folding them again."""
        self.log = log
        self.seen = {r.fingerprint for r in log}
        fold = self._start(0)
        checkpoints = self.checkpoints[:1]
        for n, record in enumerate(log, 1):
            fold.apply(record, policy)
            if n % CHECKPOINT_EVENTS == 0:
                checkpoints.append(fold.copy())
        self.fold, self.checkpoints = fold, checkpoints


def _bytes_as_hex(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot encode {type(value).__name__}")


def fold_facts(fold: ConversationFold, log: list[Record], policy: TeamPolicy
               ) -> tuple[ConversationFold, dict[str, Fact]]:
    """``log`` applied to ``fold``: the fold, and the facts the events emitted (by id)."""
    facts: dict[str, Fact] = {}
    for record in log:
        _apply_changes(facts, fold.apply(record, policy))
    return fold, facts


def _difference(old: list[FactChange], new: list[FactChange]) -> list[FactChange]:
    """The changes that turn the facts after the ``old`` run into those after the ``new`` one,
    both run from the same fold. A run's first change of a fact carries its value before the
    run, so the facts neither run touched are not needed."""
    before: dict[str, Fact | None] = {}
    old_end: dict[str, Fact | None] = {}
    new_end: dict[str, Fact | None] = {}
    for changes, end in ((old, old_end), (new, new_end)):
        for was, now in changes:
            fid = (now if now is not None else was).fact_id  # type: ignore[union-attr]
            before.setdefault(fid, was)
            end[fid] = now
    out: list[FactChange] = []
    for fid, start in before.items():
        a = old_end.get(fid, start)
        b = new_end.get(fid, start)
        if a != b:
            out.append((a, b))
    return out


def _apply_changes(facts: dict[str, Fact], changes: list[FactChange]) -> None:
    for old, new in changes:
        if new is not None:
            facts[new.fact_id] = new
        elif old is not None:
            facts.pop(old.fact_id, None)

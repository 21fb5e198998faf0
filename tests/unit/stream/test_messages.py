"""The deltas topic's messages: every section round-trips exactly, a split keeps each pane
row's parts in one message, and what does not decode says why (it is dead-lettered)."""

import orjson
import pytest

from service.config import KpiConfig
from service.engine.deltas import DELTAS_VERSION, OwnerDeltas, Source
from service.engine.engine import CachedPolicy
from service.engine.facts import F_RATING, Rating
from service.engine.fold import LiveSummary
from service.engine.learned_names import Sighting
from service.engine.owner_keys import OVERALL, agent_owner, team_owner
from service.engine.presence import Segment, SegmentChange
from service.engine.records import K_PRESENCE, Record
from service.engine.sla import Wait
from service.stream.conversations import Message
from service.stream.messages import BadDelta, decode_deltas, encode_deltas
from service.stream.owners import OwnerStage
from service.stream.store import MemoryStore


def full() -> OwnerDeltas:
    deltas = OwnerDeltas(Source(2, 100, 180, 1_709_546_400_000, 1_709_546_000_000))
    deltas.panes[(OVERALL, 60_000)] = {0: 2, (1 << 20) + 17: 1 + (5_000 << 32)}
    deltas.panes[(agent_owner("a7"), 60_000)] = {3: -1}
    deltas.marks[(agent_owner("a7"), 60_000)] = {(61_000, "billing"): 1, (62_000, "tech"): -1}
    rating = Rating("c1:rt1", F_RATING, 61_000, "billing", "a7", "csat", 5, "agent", "good")
    deltas.feedback[team_owner("billing")] = {"c1:rt1": rating, "c2:rt1": None}
    deltas.attention["a7"] = {"c1:bz1": (1_000, None), "c1:bz2": (1_000, 2_000),
                              "c1:bz3": None}
    deltas.live[OVERALL] = {"c1": LiveSummary("billing", "a7", "pending", "high", None,
                                              "next_response", 900,
                                              (Wait(950, None, "pending"),), 100, "email"),
                            "c2": None}
    deltas.presence["a7"] = [Record(1_000, 5, 123, K_PRESENCE, "billing", "a7", "available",
                                    None, None)]
    deltas.segments[(OVERALL, "a7")] = SegmentChange(
        (Segment(0, 1_000, "billing", False),), (Segment(0, None, "billing", True),))
    deltas.resync[(team_owner("tech"), "a7")] = ()
    deltas.resync[(OVERALL, "a8")] = (Segment(5, 9, None, False),)
    deltas.names[agent_owner("a7")] = Sighting(61_000, "Cordelia Lear")
    deltas.names[team_owner("billing")] = Sighting(60_500, "Billing — Europe")
    return deltas


def test_every_section_round_trips_exactly() -> None:
    deltas = full()
    [raw] = encode_deltas(deltas, 1 << 20)
    assert decode_deltas(raw) == deltas


def test_a_message_of_version_1_a_release_before_names_is_read() -> None:
    deltas = full()
    deltas.names.clear()
    [raw] = encode_deltas(deltas, 1 << 20)
    version_1 = orjson.loads(raw)
    assert version_1.pop() == []
    version_1[0] = 1
    assert decode_deltas(orjson.dumps(version_1)) == deltas


def test_names_survive_a_split() -> None:
    deltas = busy()
    parts = [decode_deltas(raw) for raw in encode_deltas(deltas, 64_000)]
    assert {o: s for part in parts for o, s in part.names.items()} == deltas.names


def test_a_large_message_is_split_and_each_row_stays_whole() -> None:
    deltas = OwnerDeltas(Source(0, 0, 9))
    for minute in range(200):
        for owner in (OVERALL, agent_owner(f"a{minute % 7}")):
            deltas.panes[(owner, minute * 60_000)] = {slot: minute + 1 for slot in range(20)}
        deltas.marks[(agent_owner(f"a{minute % 7}"), minute * 60_000)] = {
            (minute * 60_000, "t1"): 1}
    parts = [decode_deltas(raw) for raw in encode_deltas(deltas, 10_000)]
    assert len(parts) > 3
    merged = OwnerDeltas(deltas.source)
    for part in parts:
        assert part.source == deltas.source
        for row in part.row_keys():
            assert all(row not in other.row_keys() for other in parts if other is not part)
        merged.panes.update(part.panes)
        merged.marks.update(part.marks)
    assert merged == deltas


@pytest.mark.parametrize(("raw", "reason"), [
    (None, "no value"),
    (b"{not json", "not JSON"),
    (b'{"a": 1}', "not a deltas message"),
    (orjson.dumps([DELTAS_VERSION + 1, []]), f"version {DELTAS_VERSION + 1}"),
    (orjson.dumps([True, []]), "version True"),
    (orjson.dumps([DELTAS_VERSION, [0, 0, 0, None, None], [["x", 0, []]], [], [], [], [],
                   [], [], [], []]), "not an owner code"),
    (orjson.dumps([DELTAS_VERSION, [0, 0, 0, -1, None, None], [], [], [], [], [], [], [],
                   [], []]), "source .*expected 5 values"),
    (orjson.dumps([DELTAS_VERSION, [0, 0, 0, None, None], []]), "3 sections, expected 11"),
    (orjson.dumps([1, [0, 0, 0, None, None], []]), "3 sections, expected 10"),
    (orjson.dumps([DELTAS_VERSION, [0, 0, 0, None, None], [], [], [], [], [], [], [], [],
                   [["a:a7", "soon", "Cordelia"]]]), "name of 'a:a7': expected a time"),
    (orjson.dumps([DELTAS_VERSION, [0, 0, 0, None, None], [], [], [], [], [], [], [], [],
                   [[7, 1, "Cordelia"]]]), "AttributeError"),
])
def test_what_does_not_decode_says_why(raw: bytes | None, reason: str) -> None:
    with pytest.raises(BadDelta, match=reason):
        decode_deltas(raw)


def busy() -> OwnerDeltas:
    """One batch of a busy desk: 3,000 live summaries for overall, 20,000 presence records of
    one agent, a resync of 8,000 segments and a change of 3,000 removed and 3,000 added."""
    deltas = full()
    summary = LiveSummary("billing", "a7", "open", "normal", 100, "first_response", 100, (),
                          100, "chat")
    deltas.live[OVERALL] = {f"c{n}": summary if n % 3 else None for n in range(3_000)}
    deltas.presence["a7"] = [Record(n * 1_000, n, n, K_PRESENCE, None, "a7", "available",
                                    None, None) for n in range(20_000)]
    deltas.resync[(OVERALL, "a8")] = tuple(Segment(n * 10, n * 10 + 5, "tech", n % 2 == 0)
                                           for n in range(8_000))
    deltas.segments[(team_owner("tech"), "a9")] = SegmentChange(
        tuple(Segment(n * 10, n * 10 + 5, "tech", False) for n in range(3_000)),
        tuple(Segment(n * 10, n * 10 + 7, "tech", True) for n in range(3_000)))
    return deltas


def owner_rows(messages: list[bytes]) -> dict[bytes, bytes]:
    """The rows of an owner stage after it applied ``messages`` (one batch)."""
    stage = OwnerStage(CachedPolicy(KpiConfig()), 25 * 3_600_000, lambda owner: 0)
    store = MemoryStore()
    stage.load(0, store)
    result = stage.process(0, [Message("deltas", 0, n, None, raw, 0)
                               for n, raw in enumerate(messages)])
    result.first.apply_to(store)
    result.writes.apply_to(store)
    return store.rows


def test_a_busy_batch_splits_below_the_bound_and_applies_as_the_whole() -> None:
    """Every section is divided when one owner's part alone is larger than the bound (a live
    section of a whole desk once made a record the broker refused, and stopped the worker)."""
    deltas = busy()
    [whole] = encode_deltas(deltas, 1 << 30)
    assert len(whole) > 1_000_000
    parts = encode_deltas(deltas, 100_000)
    assert all(len(part) <= 100_000 for part in parts)
    assert len(parts) >= len(whole) // 100_000
    decoded = [decode_deltas(part) for part in parts]
    assert all(part.source == deltas.source for part in decoded)
    assert sum(len(p.live.get(OVERALL, {})) for p in decoded) == 3_000
    assert sum(len(p.presence.get("a7", [])) for p in decoded) == 20_000
    assert sum(1 for p in decoded if (OVERALL, "a8") in p.resync) == 1
    assert owner_rows(parts) == owner_rows([whole])

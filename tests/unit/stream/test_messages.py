"""The deltas topic's messages: every section round-trips exactly, a split keeps each pane
row's parts in one message, and what does not decode says why (it is dead-lettered)."""

import orjson
import pytest

from service.engine.deltas import DELTAS_VERSION, OwnerDeltas, Source
from service.engine.facts import F_RATING, Rating
from service.engine.fold import LiveSummary
from service.engine.owner_keys import OVERALL, agent_owner, team_owner
from service.engine.presence import Segment, SegmentChange
from service.engine.records import K_PRESENCE, Record
from service.engine.sla import Wait
from service.stream.messages import BadDelta, decode_deltas, encode_deltas


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
    return deltas


def test_every_section_round_trips_exactly() -> None:
    deltas = full()
    [raw] = encode_deltas(deltas, 1 << 20)
    assert decode_deltas(raw) == deltas


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
    (orjson.dumps([DELTAS_VERSION, [0, 0, 0, None, None], [["x", 0, []]], [], [], [], [],
                   [], [], []]), "not an owner code"),
    (orjson.dumps([DELTAS_VERSION, [0, 0, 0, -1, None, None], [], [], [], [], [], [], [],
                   []]), "source .*expected 5 values"),
    (orjson.dumps([DELTAS_VERSION, [0, 0, 0, None, None], []]), "3 sections, expected 10"),
])
def test_what_does_not_decode_says_why(raw: bytes | None, reason: str) -> None:
    with pytest.raises(BadDelta, match=reason):
        decode_deltas(raw)

"""The stage-to-stage message format round-trips exactly (tuples included) and splits."""

import pytest

from service.engine.facts import F_FIRST_RESPONSE, Response
from service.engine.fold import LiveSummary
from service.engine.owners import ConversationUpdate, SegmentSync
from service.engine.presence import Segment
from service.engine.records import K_PRESENCE, Record
from service.engine.sla import Wait
from service.stream.wire import (
    OwnerMessage,
    decode_owner_message,
    encode_owner_message,
    encode_owner_messages,
)


def test_owner_message_round_trip() -> None:
    message = OwnerMessage(1_709_546_400_000)
    message.updates.append(ConversationUpdate(
        "c1", (Response("c1:fr", F_FIRST_RESPONSE, 1000, "billing", "a7", 300_000, 0, 1),),
        LiveSummary("billing", "a7", "pending", "normal", None, "next_response", 900,
                    (Wait(950, None, "pending"),)), ("o", "t:billing")))
    message.updates.append(ConversationUpdate("c2", (), None, ("a:a7",)))
    message.updates.append(ConversationUpdate(
        "c3", (Response("c3:fr", F_FIRST_RESPONSE, 1000, "billing", "a8", 60_000, 0, 1),),
        None, ("a:a7", "a:a8"), (("c3:fu", ("a:a7",)),), False))
    message.presence.append(("a:a7", Record(1000, 5, 123, K_PRESENCE, "billing", "a7",
                                            "available", None, None)))
    message.segments.append(SegmentSync("o", "a7", (Segment(0, 100, "billing", True),
                                                    Segment(100, None, None, False))))
    decoded = decode_owner_message(encode_owner_message(message))
    assert decoded.updates == message.updates
    assert decoded.presence == message.presence
    assert decoded.segments == message.segments
    fact, live = decoded.updates[0].facts[0], decoded.updates[0].live
    assert isinstance(fact, Response) and fact.ms == 300_000
    assert isinstance(live, LiveSummary) and live.waits[0].status == "pending"
    assert isinstance(decoded.presence[0][1], Record)
    assert decoded.segments[0].segments[1].end is None
    assert decoded.updates[2].retracted == (("c3:fu", ("a:a7",)),)
    assert decoded.updates[2].full is False and decoded.updates[0].full is True
    assert decoded.origin_ms == message.origin_ms
    assert bool(OwnerMessage()) is False and bool(decoded) is True


def test_large_messages_are_split_below_the_limit_and_lose_nothing() -> None:
    message = OwnerMessage(7)
    for n in range(500):
        message.updates.append(ConversationUpdate(
            f"c{n}", (Response(f"c{n}:fr", F_FIRST_RESPONSE, 1000 + n, "billing", "a7", n, 0,
                               1),), None, (f"a:a{n % 7}",)))
    for n in range(40):
        message.presence.append((f"a:a{n}", Record(n, 5, 123, K_PRESENCE, "billing", f"a{n}",
                                                   "away", None, None)))
    message.segments.append(SegmentSync("o", "a7", (Segment(0, 100, "billing", True),)))
    whole = encode_owner_message(message)
    parts = encode_owner_messages(message, len(whole) // 5)
    assert len(parts) >= 5
    assert all(len(part) <= len(whole) // 5 for part in parts)
    decoded = [decode_owner_message(part) for part in parts]
    assert [u for d in decoded for u in d.updates] == message.updates
    assert [p for d in decoded for p in d.presence] == message.presence
    assert [s for d in decoded for s in d.segments] == message.segments
    assert {d.origin_ms for d in decoded} == {7}
    assert encode_owner_messages(message, len(whole)) == [whole]


def test_a_fact_of_the_wrong_shape_is_refused() -> None:
    """A fact decoded from the wire must have its shape's number of values and a known kind:
    anything else raises (the owner message is dead-lettered), never a half-typed fact."""
    from service.engine.facts import fact_from

    good = ["c1:fr", F_FIRST_RESPONSE, 1000, "billing", "a7", 300_000, 0, 1, 0]
    assert isinstance(fact_from(good), Response)
    with pytest.raises(TypeError, match="9 values, not 8"):
        fact_from(good[:-1])
    with pytest.raises(KeyError):
        fact_from(["c1:x", 99, 1000, None, None])


def test_an_update_written_before_deltas_is_a_full_one() -> None:
    raw = b'{"u": [["c1", [], null, ["o"]]], "p": [], "s": [], "t": null}'
    [update] = decode_owner_message(raw).updates
    assert update.full is True and update.retracted == ()

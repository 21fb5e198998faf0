"""The stage-to-stage message format round-trips exactly (tuples included) and splits."""

from service.engine.owners import ConversationUpdate, SegmentSync
from service.stream.wire import (
    OwnerMessage,
    decode_owner_message,
    encode_owner_message,
    encode_owner_messages,
)


def test_owner_message_round_trip() -> None:
    message = OwnerMessage(1_709_546_400_000)
    message.updates.append(ConversationUpdate(
        "c1", (("c1:fr", 2, 1000, "billing", "a7", 300_000, 0, 1),),
        ("billing", "a7", "open", "normal", None, "next_response", 900), ("o", "t:billing")))
    message.updates.append(ConversationUpdate("c2", (), None, ("a:a7",)))
    message.presence.append(("a:a7", (1000, 5, 123, 8, "billing", "a7", "available", None,
                                      None)))
    message.segments.append(SegmentSync("o", "a7", ((0, 100, "billing", True),
                                                    (100, None, None, False))))
    decoded = decode_owner_message(encode_owner_message(message))
    assert decoded.updates == message.updates
    assert decoded.presence == message.presence
    assert decoded.segments == message.segments
    assert decoded.origin_ms == message.origin_ms
    assert bool(OwnerMessage()) is False and bool(decoded) is True


def test_large_messages_are_split_below_the_limit_and_lose_nothing() -> None:
    message = OwnerMessage(7)
    for n in range(500):
        message.updates.append(ConversationUpdate(
            f"c{n}", ((f"c{n}:fr", 2, 1000 + n, "billing", "a7", n, 0, 1),), None,
            (f"a:a{n % 7}",)))
    for n in range(40):
        message.presence.append((f"a:a{n}", (n, 5, 123, 8, "billing", f"a{n}", "away", None,
                                             None)))
    message.segments.append(SegmentSync("o", "a7", ((0, 100, "billing", True),)))
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

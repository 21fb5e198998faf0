"""The stage-to-stage message format round-trips exactly (tuples included)."""

from service.engine.owners import ConversationSync, SegmentSync
from service.stream.wire import OwnerMessage, decode_owner_message, encode_owner_message


def test_owner_message_round_trip() -> None:
    message = OwnerMessage(1_709_546_400_000)
    message.syncs.append(ConversationSync(
        "t:billing", "c1", (("c1:fr", 2, 1000, "billing", "a7", 300_000, 0, 1),),
        ("billing", "a7", "open", "normal", None, "next_response", 900)))
    message.syncs.append(ConversationSync("a:a7", "c2", (), None))
    message.presence.append(("a:a7", (1000, 5, 123, 8, "billing", "a7", "available", None,
                                      None)))
    message.segments.append(SegmentSync("o", "a7", ((0, 100, "billing", True),
                                                    (100, None, None, False))))
    decoded = decode_owner_message(encode_owner_message(message))
    assert decoded.syncs == message.syncs
    assert decoded.presence == message.presence
    assert decoded.segments == message.segments
    assert decoded.origin_ms == message.origin_ms
    assert bool(OwnerMessage()) is False and bool(decoded) is True

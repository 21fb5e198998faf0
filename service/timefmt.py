"""Report times: RFC 3339 with an offset in, epoch milliseconds out."""

from datetime import datetime

from service.engine.records import to_epoch_ms

__all__ = ["parse_as_of"]


def parse_as_of(text: str) -> int:
    """Epoch ms of an RFC 3339 time; ValueError (saying how to write it) otherwise."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an RFC 3339 time; write e.g. 2024-03-04T18:00:00Z"
                         ) from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; add Z or +HH:MM, e.g. {text}Z")
    return to_epoch_ms(moment)

"""Report times: RFC 3339 with an offset in, epoch milliseconds out."""

from datetime import UTC, datetime

from service.engine.records import to_epoch_ms

__all__ = ["AS_OF_MAX_MS", "AS_OF_MIN_MS", "parse_as_of"]

AS_OF_MIN_MS = 0
"""1970-01-01T00:00:00Z: the earliest as-of (and event time) the service accepts."""
AS_OF_MAX_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z: the latest as-of (and event time) the service accepts."""
_RANGE = "1970-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z"


def parse_as_of(text: str) -> int:
    """Epoch ms of an RFC 3339 time with offset, within 1970-01-01..9999-12-31 UTC (the range
    of event times); ValueError (saying why, and how to write it) otherwise."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an RFC 3339 time; write e.g. 2024-03-04T18:00:00Z"
                         ) from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; add Z or +HH:MM, e.g. {text}Z")
    try:
        at_ms = to_epoch_ms(moment.astimezone(UTC))
    except OverflowError:
        at_ms = None
    if at_ms is None or not AS_OF_MIN_MS <= at_ms <= AS_OF_MAX_MS:
        raise ValueError(f"{text!r} is outside the supported range {_RANGE} once converted to "
                         "UTC; write a time inside it, e.g. 9999-12-31T23:59:59Z")
    return at_ms

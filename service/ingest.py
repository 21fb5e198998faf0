"""Bytes in, validated events out: one Kafka message or one JSON line at a time.

A message holds one event object or a batch envelope (a JSON array of events); a bad element
is rejected alone. Every rejection names the field and the reason, and carries a short
``reason`` code used as the label of ``support_events_rejected_total``. Nothing a message holds
can make decoding raise: a null value, any nesting depth, any size or any text becomes a
rejection.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError

from schemas import BaseEvent, event_adapter
from schemas.common import RANGE_ERROR, RFC3339_ERROR

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "REASONS",
    "Decoded",
    "Rejection",
    "decode_message",
    "describe_error",
    "shorten",
]

DEFAULT_MAX_MESSAGE_BYTES = 1_048_576
REASONS = ("oversized", "invalid_json", "not_an_event", "invalid_event", "future", "unmappable",
           "processing_error")
"""Every rejection reason: the values of the dead letters' ``reason`` header."""
_QUOTED_INPUT_CHARS = 80
_ERROR_CHARS = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    """One of :data:`REASONS`."""
    error: str
    """Human-readable, at most about 1,000 characters: which field, and why."""
    raw: bytes
    """What was rejected: the message, or the element of a batch envelope re-encoded (the
    whole message when the element cannot be re-encoded, e.g. nested too deep)."""
    element: int | None = None
    """The element's index in a batch envelope; None for a whole message."""


@dataclass(slots=True)
class Decoded:
    events: list[BaseEvent]
    rejections: list[Rejection]


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def describe_error(error: ValidationError) -> str:
    """Name each failing field (without the union tag) and the reason, e.g. ``at: Input should
    have timezone info``. Quoted input is shortened, so the text stays small whatever the
    input."""
    parts = []
    for item in error.errors(include_url=False):
        loc = [shorten(str(p), _QUOTED_INPUT_CHARS) for p in item["loc"]]
        if loc and "." in loc[0]:
            loc = loc[1:]
        field = ".".join(loc) or "event"
        message = item["msg"]
        if item["type"] == "union_tag_invalid":
            tag = shorten(repr(item["input"].get("type")), _QUOTED_INPUT_CHARS)
            field, message = "type", f"unknown event type {tag}"
        elif item["type"] == "union_tag_not_found":
            field, message = "type", "field required"
        elif item["type"] == "value_error":
            message = message.removeprefix("Value error, ")
        elif loc and loc[-1] == "at" and item["type"] == "string_type":
            message = RFC3339_ERROR
        elif loc and loc[-1] == "at" and item["type"] in ("less_than", "greater_than_equal"):
            message = RANGE_ERROR
        parts.append(f"{field}: {shorten(message, _ERROR_CHARS)}")
    return shorten("; ".join(parts), _ERROR_CHARS)


def _encode_element(element: Any, raw: bytes) -> tuple[bytes, str]:
    """An element's JSON, or (when orjson cannot write it: more than 255 levels deep) the whole
    message and a note saying so."""
    try:
        return orjson.dumps(element), ""
    except orjson.JSONEncodeError:
        return raw, " (the whole message is attached: the element cannot be re-encoded)"


def decode_message(raw: bytes | None, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                   latest_ms: int | None = None) -> Decoded:
    """Decode one message: an event object, or an array of them (a batch envelope).

    ``max_bytes`` bounds each event, not the envelope: a large envelope of good events is
    accepted, an element larger than the limit is rejected alone. With ``latest_ms``
    (the wall clock plus the allowed clock skew, epoch ms), later events are rejected as
    ``future`` (SPEC §4)."""
    if raw is None:
        return Decoded([], [Rejection("not_an_event", "message has no value (null: a "
                                      "tombstone)", b"")])
    latest = None if latest_ms is None else _EPOCH + timedelta(milliseconds=latest_ms)
    head = raw.lstrip()[:1]
    if head != b"[":
        if len(raw) > max_bytes:
            return Decoded([], [Rejection("oversized", f"message of {len(raw)} bytes exceeds "
                                          f"the limit of {max_bytes} bytes", raw)])
        try:
            event = event_adapter.validate_json(raw)
        except ValidationError as error:
            first = error.errors()[0]
            if first["type"] == "json_invalid":
                return Decoded([], [Rejection("invalid_json", _json_error(raw, first["msg"]),
                                              raw)])
            if head != b"{":
                return Decoded([], [Rejection("not_an_event", "message is not a JSON object",
                                              raw)])
            return Decoded([], [Rejection("invalid_event", describe_error(error), raw)])
        if latest is not None and event.at > latest:
            return Decoded([], [Rejection("future", _future_error(event, latest), raw)])
        return Decoded([event], [])
    try:
        batch = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return Decoded([], [Rejection("invalid_json", _json_error(raw), raw)])
    measure = len(raw) > max_bytes
    decoded = Decoded([], [])
    rejections = decoded.rejections
    for index, element in enumerate(batch):
        if not isinstance(element, dict):
            encoded, note = _encode_element(element, raw)
            rejections.append(Rejection("not_an_event", "batch element is not a JSON object"
                                        + note, encoded, index))
            continue
        if measure:
            encoded, note = _encode_element(element, raw)
            if not note and len(encoded) > max_bytes:
                rejections.append(Rejection(
                    "oversized", f"event of {len(encoded)} bytes exceeds the limit of "
                    f"{max_bytes} bytes", encoded, index))
                continue
        try:
            event = event_adapter.validate_python(element)
        except ValidationError as error:
            encoded, note = _encode_element(element, raw)
            rejections.append(Rejection("invalid_event", describe_error(error) + note,
                                        encoded, index))
            continue
        if latest is not None and event.at > latest:
            encoded, note = _encode_element(element, raw)
            rejections.append(Rejection("future", _future_error(event, latest) + note,
                                        encoded, index))
            continue
        decoded.events.append(event)
    return decoded


def _future_error(event: BaseEvent, latest: datetime) -> str:
    limit = latest.isoformat(timespec="seconds").replace("+00:00", "Z")
    return (f"at: {event.at.isoformat()} is later than the wall clock plus the allowed clock "
            f"skew ({limit}); fix the publisher's clock")


def _json_error(raw: bytes, parser_message: str = "not valid JSON") -> str:
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        return shorten(f"not valid JSON: {error}", _ERROR_CHARS)
    return shorten(parser_message, _ERROR_CHARS)

"""Bytes in, validated events out: one Kafka message or one JSON line at a time.

A message holds one event object or a batch envelope (a JSON array of events); a bad element
is rejected alone. Every rejection names the field and the reason, and carries a short
``reason`` code used as the label of ``support_events_rejected_total``.
"""

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from schemas import BaseEvent, event_adapter

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "Decoded", "Rejection", "decode_message", "describe_error"]

DEFAULT_MAX_MESSAGE_BYTES = 1_048_576


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    """One of: oversized, invalid_json, not_an_event, invalid_event."""
    error: str
    """Human-readable: which field, and why."""
    raw: bytes


@dataclass(slots=True)
class Decoded:
    events: list[BaseEvent]
    rejections: list[Rejection]


def describe_error(error: ValidationError) -> str:
    """Name each failing field (without the union tag) and the reason, e.g. ``at: Input should
    have timezone info``."""
    parts = []
    for item in error.errors(include_url=False):
        loc = [str(p) for p in item["loc"]]
        if loc and "." in loc[0]:
            loc = loc[1:]
        field = ".".join(loc) or "event"
        message = item["msg"]
        if item["type"] == "union_tag_invalid":
            field, message = "type", f"unknown event type {item['input'].get('type')!r}"
        elif item["type"] == "union_tag_not_found":
            field, message = "type", "field required"
        elif item["type"] == "value_error":
            message = message.removeprefix("Value error, ")
        parts.append(f"{field}: {message}")
    return "; ".join(parts)


def _reject_element(reason: str, error: str, element: Any) -> Rejection:
    return Rejection(reason, error, orjson.dumps(element))


def decode_message(raw: bytes, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> Decoded:
    """Decode one message: an event object, or an array of them (a batch envelope)."""
    if len(raw) > max_bytes:
        return Decoded([], [Rejection("oversized", f"message of {len(raw)} bytes exceeds "
                                      f"the limit of {max_bytes} bytes", raw)])
    head = raw.lstrip()[:1]
    if head != b"[":
        try:
            return Decoded([event_adapter.validate_json(raw)], [])
        except ValidationError as error:
            if error.errors()[0]["type"] == "json_invalid":
                return Decoded([], [Rejection("invalid_json", _json_error(raw), raw)])
            if head != b"{":
                return Decoded([], [Rejection("not_an_event", "message is not a JSON object", raw)])
            return Decoded([], [Rejection("invalid_event", describe_error(error), raw)])
    try:
        batch = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return Decoded([], [Rejection("invalid_json", _json_error(raw), raw)])
    decoded = Decoded([], [])
    for element in batch:
        if not isinstance(element, dict):
            decoded.rejections.append(
                _reject_element("not_an_event", "batch element is not a JSON object", element))
            continue
        try:
            decoded.events.append(event_adapter.validate_python(element))
        except ValidationError as error:
            decoded.rejections.append(
                _reject_element("invalid_event", describe_error(error), element))
    return decoded


def _json_error(raw: bytes) -> str:
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        return f"not valid JSON: {error}"
    return "not valid JSON"

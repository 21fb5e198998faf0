"""Bytes in, validated events out: one Kafka message or one JSON line at a time.

A message holds one event object or a batch envelope (a JSON array of events); a bad element
is rejected alone. Every rejection names the field and the reason, and carries a short
``reason`` code used as the label of ``support_events_rejected_total``. Nothing a message holds
can make decoding raise: a null value, any nesting depth, any size or any text becomes a
rejection.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson
from pydantic import ValidationError

from schemas import BaseEvent, event_adapter
from schemas.common import RANGE_ERROR, RFC3339_ERROR
from service import strict_json
from service.strict_json import StrictJsonError

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "MAX_LISTED_REJECTIONS",
    "REASONS",
    "Decoded",
    "Rejection",
    "decode_message",
    "describe_error",
    "shorten",
]

DEFAULT_MAX_MESSAGE_BYTES = 1_048_576
REASONS = ("oversized", "invalid_json", "not_an_event", "invalid_event", "future", "unmappable",
           "key_too_large", "processing_error")
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
    count: int = 1
    """How many rejected inputs this stands for (more than one for the count of an envelope's
    elements beyond :data:`MAX_LISTED_REJECTIONS`)."""


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


MAX_LISTED_REJECTIONS = 100
"""Rejected elements of one batch envelope dead-lettered one by one; beyond, one dead letter
per reason counts the rest (memory per message stays bounded whatever it holds)."""


class _Rejections:
    """A message's rejections: the first :data:`MAX_LISTED_REJECTIONS` one by one (their
    text and bytes made only then), the rest counted by reason."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.listed: list[Rejection] = []
        self.more: Counter[str] = Counter()

    def add(self, reason: str, error: Callable[[], str], index: int, element: Any,
            piece: bytes | None) -> None:
        """Reject element ``index`` (its value, and its bytes when known)."""
        if len(self.listed) < MAX_LISTED_REJECTIONS:
            data = piece if piece is not None else orjson.dumps(element)
            self.listed.append(Rejection(reason, error(), data, index))
        else:
            self.more[reason] += 1

    def all(self) -> list[Rejection]:
        return self.listed + [
            Rejection(reason, f"{count} more elements of this envelope were rejected for "
                      f"{reason} (the first {MAX_LISTED_REJECTIONS} rejections have dead "
                      "letters of their own; the envelope is attached)", self.raw, None, count)
            for reason, count in sorted(self.more.items())]


def decode_message(raw: bytes | None, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                   latest_ms: int | None = None) -> Decoded:
    """Decode one message: an event object, or an array of them (a batch envelope).

    The JSON must be strict (:mod:`service.strict_json`: UTF-8, no NaN or Infinity, no
    duplicate names). ``max_bytes`` bounds each event, not the envelope: a large envelope of
    good events is accepted, an element larger than the limit is rejected alone. With
    ``latest_ms`` (the wall clock plus the allowed clock skew, epoch ms), later events are
    rejected as ``future`` (SPEC §4)."""
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
            document = strict_json.loads(raw)
        except StrictJsonError as error:
            return Decoded([], [Rejection("invalid_json", shorten(str(error), _ERROR_CHARS),
                                          raw)])
        if not isinstance(document, dict):
            return Decoded([], [Rejection("not_an_event", "message is not a JSON object", raw)])
        try:
            event = event_adapter.validate_python(document)
        except ValidationError as error:
            return Decoded([], [Rejection("invalid_event", describe_error(error), raw)])
        if latest is not None and event.at > latest:
            return Decoded([], [Rejection("future", _future_error(event, latest), raw)])
        return Decoded([event], [])
    try:
        items: list[tuple[Any, bytes | None]] = [(e, None) for e in strict_json.loads(raw)]
    except StrictJsonError as error:
        try:
            items = list(strict_json.elements(raw))
        except StrictJsonError:
            return Decoded([], [Rejection("invalid_json", shorten(str(error), _ERROR_CHARS),
                                          raw)])
    measure = len(raw) > max_bytes
    events: list[BaseEvent] = []
    rejections = _Rejections(raw)
    for index, (element, piece) in enumerate(items):
        if isinstance(element, StrictJsonError):
            rejections.add("invalid_json", partial(shorten, str(element), _ERROR_CHARS),
                           index, element, piece)
            continue
        if not isinstance(element, dict):
            rejections.add("not_an_event", partial(str, "batch element is not a JSON object"),
                           index, element, piece)
            continue
        if measure:
            data = piece if piece is not None else orjson.dumps(element)
            if len(data) > max_bytes:
                rejections.add("oversized", partial(
                    "event of {} bytes exceeds the limit of {} bytes".format, len(data),
                    max_bytes), index, element, data)
                continue
        try:
            event = event_adapter.validate_python(element)
        except ValidationError as error:
            rejections.add("invalid_event", partial(describe_error, error), index, element,
                           piece)
            continue
        if latest is not None and event.at > latest:
            rejections.add("future", partial(_future_error, event, latest), index, element,
                           piece)
            continue
        events.append(event)
    return Decoded(events, rejections.all())


def _future_error(event: BaseEvent, latest: datetime) -> str:
    limit = latest.isoformat(timespec="seconds").replace("+00:00", "Z")
    return (f"at: {event.at.isoformat()} is later than the wall clock plus the allowed clock "
            f"skew ({limit}); fix the publisher's clock")

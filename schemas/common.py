"""Closed vocabularies and field types shared by the event models."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    GetCoreSchemaHandler,
    GetPydanticSchema,
    Strict,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import CoreSchema, core_schema

__all__ = [
    "About",
    "AgentPresence",
    "Author",
    "Channel",
    "ConversationStatus",
    "DisplayName",
    "EventTime",
    "Id",
    "Initiator",
    "Method",
    "Priority",
    "StatusActor",
    "StrictBool",
    "StrictInt",
    "StrictNumber",
    "Survey",
]

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, tzinfo=UTC)
RFC3339_ERROR = "must be an RFC 3339 timestamp string with a UTC offset, e.g. 2024-03-04T10:00:00Z"
RANGE_ERROR = "must lie between 1970-01-01 and 9999-12-30 (UTC)"


def _rfc3339_shape(text: str) -> str:
    """Refuse what pydantic's datetime parser accepts beyond RFC 3339 (epoch seconds in a
    string, minutes without seconds): the date, the separator and both time colons must be
    where RFC 3339 puts them."""
    if (len(text) < 19 or text[4] != "-" or text[7] != "-" or text[10] not in "Tt "
            or text[13] != ":" or text[16] != ":"):
        raise ValueError(RFC3339_ERROR)
    return text


def _event_time_schema(source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
    """A string (not a number), of RFC 3339's shape, parsed by pydantic's core into an aware
    datetime the service can hold as epoch milliseconds. One cheap Python call an event."""
    return core_schema.chain_schema(
        [core_schema.str_schema(), core_schema.no_info_plain_validator_function(_rfc3339_shape),
         core_schema.datetime_schema(tz_constraint="aware", ge=EARLIEST, lt=LATEST)],
        serialization=core_schema.plain_serializer_function_ser_schema(
            lambda moment: moment.isoformat(), when_used="json"))


Id = Annotated[str, StringConstraints(min_length=1, max_length=512)]


def _printable(text: str) -> str:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise ValueError("a name may not hold control characters (line breaks, tabs, …)")
    return text


DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=200),
                        AfterValidator(_printable)]
"""A name for people (an agent's or team's): 1–200 characters, no control characters."""
EventTime = Annotated[
    datetime,
    GetPydanticSchema(_event_time_schema),
    WithJsonSchema({"type": "string", "format": "date-time"}),
    Field(description="RFC 3339 timestamp with a UTC offset; a timestamp without one is invalid"),
]
StrictInt = Annotated[int, Strict()]
"""An integer: ``true`` or ``"5"`` is not one (SPEC §2 types are strict)."""
StrictNumber = Annotated[float, Strict()]
"""A JSON number (an integer is one); not a boolean or a string."""
StrictBool = Annotated[bool, Strict()]

Channel = Literal["chat", "email", "phone", "social", "other"]
Priority = Literal["low", "normal", "high", "urgent"]
Initiator = Literal["customer", "agent"]
Method = Literal["pull", "push"]
Author = Literal["customer", "agent", "bot"]
ConversationStatus = Literal["open", "pending", "snoozed", "resolved", "closed"]
StatusActor = Literal["agent", "customer", "bot", "system"]
Survey = Literal["csat", "nps", "ces"]
About = Literal["agent", "product", "other", "unspecified"]
AgentPresence = Literal["available", "busy", "after_work", "away", "offline"]

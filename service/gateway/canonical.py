"""What every vendor mapper shares: the result type, deterministic ids, namespaced names and
times in RFC 3339.

A mapper is a pure function ``map_delivery(body: bytes, headers: Mapping[str, str],
tenant: str | None) -> Mapped``: the raw body and the request headers (lower-case names) in,
canonical events out, in the order they happened. It raises :class:`Unmappable` (with the
reason) for a body that verified but cannot be mapped; the gateway dead-letters it.
"""

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from service import strict_json
from service.names import Directory

__all__ = [
    "ID_NAMESPACE",
    "RECEIVED_AT_HEADER",
    "Mapped",
    "Unmappable",
    "event_id",
    "from_iso",
    "from_unix_ms",
    "from_unix_seconds",
    "header",
    "load_json",
    "load_object",
    "name",
    "named_agent",
    "person_name",
    "rfc3339",
    "with_teams",
]

RECEIVED_AT_HEADER = "x-support-kpi-received-at"
"""Set by the gateway on every delivery (any incoming value is replaced): when it arrived, for
vendors whose bodies carry no event time (Freshdesk's templated rule bodies)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ID_NAMESPACE = uuid.UUID("6f1d2f0e-3c1b-5a53-9a51-2f4d3a9c7e10")
"""The UUIDv5 namespace of every event id the gateway makes."""


class Unmappable(ValueError):
    """A verified delivery that cannot be mapped; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class Mapped:
    """The canonical events of one delivery (SPEC §2 objects, in the order they happened), and
    the vendor's own name for what happened (``topic``, ``type``, …) for the metrics. No
    events and ``ignored`` set: a type that carries no KPI, answered 2xx and counted."""

    kind: str
    events: list[dict[str, Any]] = field(default_factory=list)
    ignored: bool = False


def load_json(body: bytes) -> Any:
    """The body as strict JSON (:mod:`service.strict_json`), or :class:`Unmappable`."""
    try:
        return strict_json.loads(body)
    except strict_json.StrictJsonError as error:
        raise Unmappable(f"body is not JSON: {error}") from None


def load_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or :class:`Unmappable`."""
    document = load_json(body)
    if not isinstance(document, dict):
        raise Unmappable("body: not a JSON object")
    return document


def name(vendor: str, tenant: str | None, vendor_id: object) -> str:
    """A conversation or agent id namespaced by vendor and tenant, e.g.
    ``intercom:lkqcyt9t:137324500000000``, so several helpdesks can share one topic. ``tenant``
    None is written ``default``."""
    if vendor_id is None or vendor_id == "":
        raise Unmappable(f"{vendor}: an id is missing")
    return f"{vendor}:{tenant or 'default'}:{vendor_id}"


_NAME_LIMIT = 200
"""The longest name for people an event may carry (SPEC §2 ``agent_name``, ``team_name``)."""


def person_name(who: object, *fields: str) -> str | None:
    """A name for people from a payload object's ``fields`` (default ``name``; several, such as
    ``first_name`` and ``last_name``, are joined with a space): whitespace runs and control
    characters become one space, cut to 200 characters; None when there is none. A name is
    only shown, never a key, so a payload without one maps as before."""
    if not isinstance(who, dict):
        return None
    parts = [who.get(f) for f in fields or ("name",)]
    text = " ".join(p for p in parts if isinstance(p, str))
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text[:_NAME_LIMIT].rstrip() or None


def named_agent(event: dict[str, Any], who: object, *fields: str) -> dict[str, Any]:
    """``event`` with ``agent_name`` from ``who`` (:func:`person_name`), when it has an
    ``agent_id`` and ``who`` a name."""
    text = person_name(who, *fields)
    if text is not None and event.get("agent_id") is not None:
        event["agent_name"] = text
    return event


def event_id(vendor: str, tenant: str | None, *parts: object) -> str:
    """A deterministic event id from the vendor's own ids (UUIDv5 of ``vendor``, ``tenant``
    and ``parts``): a redelivery of the same delivery maps to the same ids, so it is a
    duplicate downstream."""
    key = "\x1f".join(str(p) for p in (vendor, tenant or "default", *parts))
    return str(uuid.uuid5(ID_NAMESPACE, key))


def rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, ``…Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def from_unix_seconds(value: object, field_name: str) -> str:
    """RFC 3339 of a Unix time in seconds (an int, a float with milliseconds, or a numeric
    string), or :class:`Unmappable` naming ``field_name``."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise Unmappable(f"{field_name}: not a Unix time: {value!r}") from None
    return _from_ms(round(seconds * 1000))


def from_unix_ms(value: object, field_name: str) -> str:
    """RFC 3339 of a Unix time in milliseconds."""
    try:
        ms = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise Unmappable(f"{field_name}: not a Unix time in ms: {value!r}") from None
    return _from_ms(ms)


def _from_ms(ms: int) -> str:
    """Exact to the millisecond (a float timestamp can land a microsecond short, which
    ``rfc3339`` would then cut to the millisecond before)."""
    return rfc3339(_EPOCH + timedelta(milliseconds=ms))


def from_iso(value: object, field_name: str) -> str:
    """RFC 3339 of an ISO 8601 time with an offset (``Z`` or ±hh:mm; more than six fractional
    digits are cut to microseconds), or :class:`Unmappable` naming ``field_name``."""
    if not isinstance(value, str):
        raise Unmappable(f"{field_name}: not a time: {value!r}")
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip()).replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Unmappable(f"{field_name}: not an ISO 8601 time: {value!r}") from None
    if moment.tzinfo is None:
        raise Unmappable(f"{field_name}: a time without a UTC offset: {value!r}")
    return rfc3339(moment)


def header(headers: Mapping[str, str], key: str) -> str | None:
    """A header by its lower-case name."""
    return headers.get(key.lower())


def with_teams(events: list[dict[str, Any]], directory: Directory) -> list[dict[str, Any]]:
    """The events with the teams the configuration maps their helpdesk sources to
    (:class:`~service.names.Directory`): a ``team`` that is a mapped group, inbox or mailbox
    becomes its team's key; a ``conversation.created`` that names no team takes its helpdesk
    account's team (``vendor:tenant``, from its conversation id), if one is mapped. A mapped
    event loses the helpdesk's ``team_name``: it named the group, not the team it counts
    for."""
    if not directory.sources:
        return events
    for event in events:
        team = event.get("team")
        if team is None and event.get("type") != "conversation.created":
            continue
        account = ":".join(str(event.get("conversation_id", "")).split(":", 2)[:2])
        mapped = directory.team_of(team, account)
        if mapped is not None and mapped != team:
            event["team"] = mapped
            event.pop("team_name", None)
    return events

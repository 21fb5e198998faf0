"""Freshdesk automation-rule webhooks → canonical events (WEBHOOKS.md §3/§4, rows "FD").

**Connect your helpdesk — Freshdesk.** Freshdesk has no event subscription: in *Admin →
Workflows → Automations* (*Ticket creation* and *Ticket updates*) create one rule per event
you want (ticket is created; status is changed; agent is changed; note is added) whose action
is *Trigger webhook*: ``POST`` to ``https://<gateway>/webhooks/freshdesk``, content JSON,
*Advanced* body::

    {"freshdesk_webhook": {"triggered_event": "{{triggered_event}}",
      "ticket_id": "{{ticket.id}}", "ticket_status": "{{ticket.status}}",
      "ticket_priority": "{{ticket.priority}}", "ticket_source": "{{ticket.source}}",
      "agent_id": "{{ticket.agent.id}}", "agent_name": "{{ticket.agent.name}}"}}

(the names under ``freshdesk_webhook`` are the ones the Zulip integration made common; other
keys are ignored). For replies, add rules on *reply is sent* (by agent / by customer) whose
body also has ``"event": "agent_reply"`` or ``"event": "customer_reply"``. Freshdesk signs
nothing: give the webhook the value of ``SUPPORT_KPI_GATEWAY_FRESHDESK_SECRET`` as its basic-auth
password (any user name) or as a custom header ``X-Webhook-Secret``. A rule body has
no event id and no event time, so ids are built from the ticket id, the triggered event and a
sha256 of the body, and the time is the body's ``triggered_at``/``updated_at`` if the admin
added one, else the time the gateway received the delivery. Freshdesk cannot send ratings,
agent presence or who wrote a note (``agent_id`` above is the ticket's agent; a note without
it is attributed to the placeholder agent ``unknown``); priority changes and other ticket
updates are ignored. Custom statuses (codes 6 and up) count as ``pending``.
"""

import hashlib
from collections.abc import Mapping
from typing import Any

from service.gateway.canonical import (
    RECEIVED_AT_HEADER,
    Mapped,
    Unmappable,
    event_id,
    from_iso,
    header,
    load_json,
    name,
    person_name,
)

__all__ = [
    "STATUS_CODES",
    "UNKNOWN_AGENT",
    "map_delivery",
    "parse_triggered_event",
]

VENDOR = "freshdesk"


BODY_TIME_FIELDS = ("triggered_at", "ticket_updated_at", "updated_at")
"""Optional time fields an admin may add to the rule body (ISO 8601 with an offset)."""

STATUS_CODES: dict[int, str] = {2: "open", 3: "pending", 4: "resolved", 5: "closed"}
"""Freshdesk's built-in status codes. Codes 6 and above are the account's custom statuses
("Waiting on Customer", "Waiting on Third Party", …): mapped to ``pending``, since Freshdesk
creates them to park a ticket while someone other than the agent acts."""

UNKNOWN_AGENT = "unknown"
"""The agent of a note whose body names none (a rule body has no note author)."""

SOURCES: dict[str, tuple[str, str]] = {
    # {{ticket.source}} by name or by code → (channel, initiator)
    "email": ("email", "customer"), "1": ("email", "customer"),
    "portal": ("other", "customer"), "2": ("other", "customer"),
    "phone": ("phone", "customer"), "3": ("phone", "customer"),
    "chat": ("chat", "customer"), "7": ("chat", "customer"),
    "feedback widget": ("other", "customer"), "9": ("other", "customer"),
    "outbound email": ("email", "agent"), "10": ("email", "agent"),
    "twitter": ("social", "customer"), "facebook": ("social", "customer"),
    "whatsapp": ("social", "customer"), "mobihelp": ("other", "customer"),
}

PRIORITIES = {"low": "low", "1": "low", "medium": "normal", "2": "normal", "high": "high",
              "3": "high", "urgent": "urgent", "4": "urgent"}

REPLY_EVENTS = ("customer_reply", "agent_reply")
"""Literal ``"event"`` values of a reply rule's body (its ``triggered_event`` is whatever
Freshdesk reports, e.g. a status change the reply caused)."""

AGENT_FIELDS = ("agent_id", "responder_id", "ticket_agent_id", "agent_email",
                "ticket_agent_email")


class _Parser:
    """``{status:{from:4,to:6}}`` → ``{"status": {"from": "4", "to": "6"}}``: keys and
    values unquoted, values are strings (``""`` and ``null`` → None) or nested objects."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, why: str) -> Unmappable:
        return Unmappable(f"triggered_event: {why} at {self.pos} in {self.text!r}")

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def object(self) -> dict[str, Any]:
        self.skip()
        if self.text[self.pos:self.pos + 1] != "{":
            raise self.fail("expected '{'")
        self.pos += 1
        result: dict[str, Any] = {}
        self.skip()
        if self.text[self.pos:self.pos + 1] == "}":
            self.pos += 1
            return result
        while True:
            key = self.scalar(":")
            if not key or self.text[self.pos:self.pos + 1] != ":":
                raise self.fail("expected 'key:'")
            self.pos += 1
            self.skip()
            value: Any = (self.object() if self.text[self.pos:self.pos + 1] == "{"
                          else self.scalar(",}") or None)
            if value == "null":
                value = None
            result[key] = value
            self.skip()
            sep = self.text[self.pos:self.pos + 1]
            self.pos += 1
            if sep == "}":
                return result
            if sep != ",":
                raise self.fail("expected ',' or '}'")

    def scalar(self, stops: str) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in stops + "{}":
            self.pos += 1
        return self.text[start:self.pos].strip().strip("\"'")


def parse_triggered_event(text: str) -> dict[str, Any]:
    """Freshdesk's ``{{triggered_event}}`` (not JSON) as a dict, or :class:`Unmappable`."""
    parser = _Parser(text.strip())
    result = parser.object()
    parser.skip()
    if parser.pos != len(parser.text):
        raise parser.fail("trailing text")
    return result


def _event_time(ticket: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    for key in BODY_TIME_FIELDS:
        if ticket.get(key):
            return from_iso(ticket[key], f"freshdesk_webhook.{key}")
    received = header(headers, RECEIVED_AT_HEADER)
    if received:
        return from_iso(received, RECEIVED_AT_HEADER)
    raise Unmappable("freshdesk_webhook: no event time (no triggered_at/updated_at in the body "
                     f"and no {RECEIVED_AT_HEADER} header)")


def _agent(ticket: Mapping[str, Any]) -> str | None:
    for key in AGENT_FIELDS:
        value = ticket.get(key)
        if value not in (None, "") and not str(value).startswith("{{"):
            return str(value)
    return None


def _named(event: dict[str, Any], ticket: Mapping[str, Any], agent: object) -> dict[str, Any]:
    """``event`` with the ticket's ``agent_name`` (``{{ticket.agent.name}}``), when its agent
    is the ticket's agent (``agent``, from :data:`AGENT_FIELDS`) and the rule filled the name
    in."""
    text = person_name(ticket, "agent_name")
    if (text is not None and not text.startswith("{{") and agent is not None
            and str(agent) == _agent(ticket)):
        event["agent_name"] = text
    return event


def _status_code(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise Unmappable(f"triggered_event: status 'to' is not a code: {value!r}") from None


def map_delivery(body: bytes, headers: Mapping[str, str], tenant: str | None) -> Mapped:
    """One Freshdesk rule delivery → at most one canonical event."""
    data = load_json(body)
    ticket = data.get("freshdesk_webhook") if isinstance(data, dict) else None
    if not isinstance(ticket, dict):
        raise Unmappable("freshdesk_webhook: missing or not an object")
    raw_event = ticket.get("triggered_event")
    if not isinstance(raw_event, str) or not raw_event.strip():
        raise Unmappable("freshdesk_webhook.triggered_event: missing")
    triggered = parse_triggered_event(raw_event)
    kind = ",".join(triggered) or "empty"
    ticket_id = ticket.get("ticket_id")
    conversation = name(VENDOR, tenant, ticket_id)
    digest = hashlib.sha256(body).hexdigest()

    def base(event_type: str) -> dict[str, Any]:
        return {"id": event_id(VENDOR, tenant, ticket_id, raw_event.strip(), digest),
                "type": event_type, "at": _event_time(ticket, headers),
                "conversation_id": conversation, "source": VENDOR}

    if triggered.get("ticket_action") == "created":
        source = str(ticket.get("ticket_source") or "").strip().lower()
        channel, initiator = SOURCES.get(source, ("other", "customer"))
        event = base("conversation.created")
        event.update(channel=channel, initiator=initiator,
                     priority=PRIORITIES.get(
                         str(ticket.get("ticket_priority") or "").strip().lower(), "normal"))
        return Mapped("ticket_action:created", [event])

    literal = str(ticket.get("event") or "").strip().lower()
    if literal in REPLY_EVENTS:
        event = base("message.created")
        if literal == "agent_reply":
            event.update(author="agent",
                         agent_id=name(VENDOR, tenant, _agent(ticket) or UNKNOWN_AGENT))
            _named(event, ticket, _agent(ticket))
        else:
            event.update(author="customer")
        return Mapped(literal, [event])

    if "note_type" in triggered:
        private = triggered["note_type"] == "private"
        event = base("message.created")
        event.update(author="agent",
                     agent_id=name(VENDOR, tenant, _agent(ticket) or UNKNOWN_AGENT),
                     internal=private)
        _named(event, ticket, _agent(ticket))
        return Mapped(f"note_type:{triggered['note_type']}", [event])

    status = triggered.get("status")
    if isinstance(status, dict):
        code = _status_code(status.get("to"))
        canonical = STATUS_CODES.get(code, "pending" if code >= 6 else None)
        if canonical is None:
            raise Unmappable(f"triggered_event: unknown status code {code}")
        event = base("conversation.status_changed")
        event.update(status=canonical, by="system")
        return Mapped("status", [event])

    responder = triggered.get("responder_id")
    if "responder_id" in triggered:
        target = responder.get("to") if isinstance(responder, dict) else responder
        if target is None:
            return Mapped("responder_id", [base("conversation.unassigned")])
        event = base("conversation.assigned")
        event.update(agent_id=name(VENDOR, tenant, target), method="push")
        return Mapped("responder_id", [_named(event, ticket, target)])

    return Mapped(kind, [], ignored=True)

"""Zendesk event webhooks (``zen:event-type:…``) → canonical events (SPEC §2; WEBHOOKS.md §3
and §4 rows "ZD").

Connect your helpdesk — Zendesk: in Admin Center open *Apps and integrations → Webhooks →
Create webhook*, choose *Zendesk events*, endpoint ``https://<gateway>/webhooks/zendesk``,
method POST, format JSON, and subscribe to the ticket events *Ticket created*, *Comment
added*, *Agent assignment changed*, *Status changed* (*Group assignment changed* helps:
see below) and the agent availability events *Agent unified status changed* (or *Agent per
channel status changed*). Copy the webhook's signing secret into
``SUPPORT_KPI_GATEWAY_ZENDESK_SECRET``. Zendesk events carry no satisfaction rating (CSAT needs
a separate trigger webhook), no priority change the KPIs can use (priority is taken when the
ticket is created) and no abandonment.

Mapping (``map_delivery``):

- ``ticket.created`` → ``conversation.created``: ``channel`` from ``detail.via.channel``
  (email → email; chat, messaging, mobile SDK → chat; voice/phone → phone; social
  networks, SMS and WhatsApp → social; web form, API, web service and the rest → other),
  ``priority`` lower-cased (low/normal/high/urgent, anything else left out), ``team`` =
  the namespaced ``group_id``, ``customer_id`` = the namespaced requester, ``initiator``
  customer when the submitter is the requester, else agent.
- ``ticket.comment_added`` → ``message.created``: ``author.is_staff`` → agent (``agent_id``
  = author), else customer; ``internal`` = not ``is_public``; author −1 (Zendesk itself:
  triggers, automations) → agent ``automated`` without ``agent_id``. A public customer comment
  on a ticket whose ``detail.status`` is new or open first yields "status open by customer"
  (a no-op on an open ticket, the reopen of a solved one: SPEC §7 wants the status change
  before the message, and Zendesk's own ``status_changed`` may come later or tie).
- ``ticket.agent_assignment_changed`` → ``conversation.assigned`` to ``event.current``
  (``pull`` when ``detail.actor_id`` is that agent, else ``push``), or
  ``conversation.unassigned`` when ``event.current`` is empty.
- ``ticket.status_changed`` → ``conversation.status_changed``: new/open → open, pending
  and hold → pending, solved → resolved, closed → closed; deleted, archived, scrubbed and
  unknown → ignored. ``by`` from ``detail.actor_id``: −1 → system; the assignee or anyone
  but the requester → agent (with ``agent_id``); the requester → customer (an end user who
  marks their request solved). The assignee test comes first: only agents can be assignees.
- ``ticket.group_assignment_changed`` → ignored: no canonical event sets a team alone
  (``conversation.assigned`` needs an agent, a ``created`` would create). Instead every
  ticket event carries ``team`` from ``detail.group_id``, so the new group applies from the
  ticket's next event (SPEC: a conversation belongs to the team last set on it).
- ``ticket.priority_changed`` and every other ticket, user or organisation event → ignored.
- ``agent.unified_state_changed`` and ``agent.state_changed`` of the ``support`` channel
  (other channels are ignored, so per-channel states do not flap the presence) →
  ``agent.status_changed``: online → available, away and transfers only → away, offline →
  offline; custom unified statuses → ignored.

Enum values are lower-cased (Zendesk sends OPEN, Open, open). Ids: the primary event has
``event_id("zendesk", tenant, id)``; the extra status of a customer comment adds ``"reopen"``.
Times: ``time`` (ISO 8601 with nanoseconds, cut to milliseconds). The tenant is the body's
``account_id`` (else the gateway's argument); tickets, agents, customers and groups are named
``zendesk:<account_id>:<id>``.
"""

from collections.abc import Mapping
from typing import Any

from service.gateway.canonical import (
    Mapped,
    Unmappable,
    event_id,
    from_iso,
    load_object,
    name,
    named_agent,
)

__all__ = ["VENDOR", "map_delivery"]

VENDOR = "zendesk"
PREFIX = "zen:event-type:"

_CHANNELS: dict[str, str] = {
    "email": "email",
    "chat": "chat",
    "native_messaging": "chat",
    "messaging": "chat",
    "sunshine_conversations": "chat",
    "mobile_sdk": "chat",
    "web_widget": "chat",
    "voice": "phone",
    "phone": "phone",
    "phone_call_inbound": "phone",
    "phone_call_outbound": "phone",
    "voicemail": "phone",
    "sms": "social",
    "twitter": "social",
    "twitter_dm": "social",
    "facebook": "social",
    "facebook_messenger": "social",
    "instagram_dm": "social",
    "whatsapp": "social",
    "line": "social",
    "wechat": "social",
    "telegram": "social",
}
"""``via.channel`` → SPEC channel; anything else (web form, api, web_service, rule…) is other."""

_PRIORITIES = frozenset({"low", "normal", "high", "urgent"})

_STATUSES: dict[str, str] = {
    "new": "open",
    "open": "open",
    "pending": "pending",
    "hold": "pending",
    "solved": "resolved",
    "closed": "closed",
}

_PRESENCE: dict[str, str] = {
    "online": "available",
    "away": "away",
    "transfers_only": "away",
    "transfers only": "away",
    "offline": "offline",
}

_SYSTEM_USER = "-1"


def map_delivery(body: bytes, headers: Mapping[str, str], tenant: str | None) -> Mapped:
    """One Zendesk event delivery → canonical events in the order they happened."""
    del headers  # the event type is in the body
    document = load_object(body)
    kind = document.get("type")
    if not isinstance(kind, str) or not kind:
        raise Unmappable("zendesk: type is missing")
    short = kind.removeprefix(PREFIX)
    account = document.get("account_id")
    if account is not None and account != "":
        tenant = str(account)
    if short.startswith("ticket."):
        mapper = _TICKET.get(short)
        if mapper is None:
            return Mapped(kind, [], ignored=True)
        events = mapper(_Ticket(document, tenant))
    elif short in ("agent.unified_state_changed", "agent.state_changed"):
        events = _agent_state(document, short, tenant)
    else:
        return Mapped(kind, [], ignored=True)
    if not events:
        return Mapped(kind, [], ignored=True)
    return Mapped(kind, events)


def _text(value: object) -> str | None:
    """An id or enum as a string; None, "" and containers are absent."""
    if value is None or value == "" or isinstance(value, (dict, list, bool)):
        return None
    return str(value)


def _lower(value: object) -> str | None:
    text = _text(value)
    return None if text is None else text.strip().lower()


def _delivery_id(document: dict[str, Any]) -> str:
    vendor_id = _text(document.get("id"))
    if vendor_id is None:
        raise Unmappable("zendesk: id (of the event) is missing")
    return vendor_id


class _Ticket:
    """A ticket event's common fields."""

    def __init__(self, document: dict[str, Any], tenant: str | None) -> None:
        self.tenant = tenant
        self.vendor_id = _delivery_id(document)
        self.at = from_iso(document.get("time"), "time")
        detail = document.get("detail")
        self.detail: dict[str, Any] = detail if isinstance(detail, dict) else {}
        event = document.get("event")
        self.event: dict[str, Any] = event if isinstance(event, dict) else {}
        ticket = _text(self.detail.get("id"))
        subject = document.get("subject")
        if ticket is None and isinstance(subject, str) and subject.startswith("zen:ticket:"):
            ticket = subject.removeprefix("zen:ticket:") or None
        if ticket is None:
            raise Unmappable("zendesk: detail.id (the ticket id) is missing")
        self.conversation_id = name(VENDOR, tenant, ticket)

    def name(self, vendor_id: str) -> str:
        return name(VENDOR, self.tenant, vendor_id)

    def base(self, event_type: str, suffix: str | None = None) -> dict[str, Any]:
        parts = (self.vendor_id,) if suffix is None else (self.vendor_id, suffix)
        out: dict[str, Any] = {
            "id": event_id(VENDOR, self.tenant, *parts),
            "type": event_type,
            "at": self.at,
            "conversation_id": self.conversation_id,
            "source": VENDOR,
        }
        group = _text(self.detail.get("group_id"))
        if group is not None and group != "0":
            out["team"] = self.name(group)
        return out


def _created(ticket: _Ticket) -> list[dict[str, Any]]:
    detail = ticket.detail
    out = ticket.base("conversation.created")
    via = detail.get("via")
    channel = _lower(via.get("channel")) if isinstance(via, dict) else None
    out["channel"] = _CHANNELS.get(channel or "", "other")
    priority = _lower(detail.get("priority"))
    if priority in _PRIORITIES:
        out["priority"] = priority
    requester = _text(detail.get("requester_id"))
    if requester is not None:
        out["customer_id"] = ticket.name(requester)
    submitter = _text(detail.get("submitter_id"))
    out["initiator"] = "agent" if (
        submitter is not None and requester is not None and submitter != requester
    ) else "customer"
    return [out]


def _comment(ticket: _Ticket) -> list[dict[str, Any]]:
    comment = ticket.event.get("comment")
    if not isinstance(comment, dict):
        raise Unmappable("zendesk: event.comment is missing")
    author = _object(comment.get("author"))
    author_id = _text(author.get("id"))
    public = comment.get("is_public") is not False
    message = ticket.base("message.created")
    out = [message]
    if author_id == _SYSTEM_USER:
        message.update(author="agent", automated=True)
    elif author.get("is_staff") is True:
        if author_id is None:
            raise Unmappable("zendesk: event.comment.author.id is missing")
        message.update(author="agent", agent_id=ticket.name(author_id))
        named_agent(message, author)
    else:
        message["author"] = "customer"
        if public and _lower(ticket.detail.get("status")) in ("new", "open"):
            reopen = ticket.base("conversation.status_changed", "reopen")
            reopen.update(status="open", by="customer")
            out.insert(0, reopen)
    if not public:
        message["internal"] = True
    return out


def _agent_assignment(ticket: _Ticket) -> list[dict[str, Any]]:
    current = _text(ticket.event.get("current"))
    if current is None or current == "0":
        return [ticket.base("conversation.unassigned")]
    out = ticket.base("conversation.assigned")
    out["agent_id"] = ticket.name(current)
    out["method"] = "pull" if _text(ticket.detail.get("actor_id")) == current else "push"
    return [out]


def _status(ticket: _Ticket) -> list[dict[str, Any]]:
    detail = ticket.detail
    current = _lower(ticket.event.get("current")) or _lower(detail.get("status"))
    status = _STATUSES.get(current or "")
    if status is None:
        return []
    out = ticket.base("conversation.status_changed")
    out["status"] = status
    actor = _text(detail.get("actor_id"))
    if actor is None or actor == _SYSTEM_USER:
        out["by"] = "system"
    elif actor != _text(detail.get("assignee_id")) and actor == _text(detail.get("requester_id")):
        out["by"] = "customer"
    else:
        out.update(by="agent", agent_id=ticket.name(actor))
    return [out]


_TICKET = {
    "ticket.created": _created,
    "ticket.comment_added": _comment,
    "ticket.agent_assignment_changed": _agent_assignment,
    "ticket.status_changed": _status,
}


def _agent_state(document: dict[str, Any], short: str, tenant: str | None) -> list[dict[str, Any]]:
    event = _object(document.get("event"))
    if short == "agent.state_changed" and _lower(event.get("channel")) != "support":
        return []
    state = event.get("new_state")
    if isinstance(state, dict):  # a unified status object: {"id": 3, "name": "Online", …}
        state = state.get("name")
    presence = _PRESENCE.get(_lower(state) or "")
    if presence is None:
        return []
    detail = _object(document.get("detail"))
    agent = _text(detail.get("agent_id"))
    if agent is None:
        raise Unmappable("zendesk: detail.agent_id is missing")
    vendor_id = _delivery_id(document)
    moment = document.get("time")
    at = from_iso(moment if moment is not None else event.get("updated_at"), "time")
    return [{
        "id": event_id(VENDOR, tenant, vendor_id),
        "type": "agent.status_changed",
        "at": at,
        "agent_id": name(VENDOR, tenant, agent),
        "status": presence,
        "source": VENDOR,
    }]


def _object(value: object) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}

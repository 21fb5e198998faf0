"""Chatwoot webhooks → canonical events (WEBHOOKS.md §3/§4, rows "CW").

**Connect your helpdesk — Chatwoot.** In Chatwoot, *Settings → Integrations → Webhooks →
Add new webhook*: URL ``https://<gateway>/webhooks/chatwoot`` and the events
*Conversation Created*, *Conversation Status Changed*, *Conversation Updated*, *Message
Created* and *Message Updated* (the CSAT answer arrives as a message update). Chatwoot 4.11.2
and later sign each delivery (``X-Chatwoot-Signature``, ``X-Chatwoot-Timestamp``): put the
webhook's secret in ``SUPPORT_KPI_GATEWAY_CHATWOOT_SECRET``. Chatwoot does not retry a failed
account webhook, so keep the gateway up. It cannot send agent presence, nor who changed a
status (``by`` is ``system``, except a reopen by an incoming message) nor whether an
assignment was taken or pushed (``push``). Chatwoot's ``conversation_bot_handoff`` never
reaches webhooks: a handoff shows only as a status change from ``pending`` (the bot's queue)
to ``open``, which is mapped to ``conversation.handed_off`` plus the status change.

Field paths (chatwoot/chatwoot ``app/listeners/webhook_listener.rb``,
``Message#webhook_data``, ``Conversations::EventDataPresenter#push_data``): a message body
has ``id``, ``created_at``, ``message_type`` (incoming | outgoing | template), ``private``,
``sender`` (``type`` contact | user | agent_bot), ``content_attributes``,
``additional_attributes``, ``conversation`` (the conversation's push data) and ``account``;
a conversation body has ``id`` (the per-account display id), ``status``, ``meta.{sender,
assignee, team}``, ``created_at`` (Unix s), ``updated_at`` (Unix s, fractional),
``changed_attributes`` ([{attr: {previous_value, current_value}}]) and ``messages``.
The tenant is ``account.id`` (or ``account_id``) from the body, else the endpoint's tenant:
conversation events carry no account, so give the endpoint the account id as its tenant.
"""

import re
from collections.abc import Mapping
from typing import Any

from service.gateway.canonical import (
    Mapped,
    Unmappable,
    event_id,
    from_iso,
    from_unix_seconds,
    load_object,
    name,
    named_agent,
    person_name,
)

__all__ = ["CHANNELS", "STATUSES", "map_delivery"]

VENDOR = "chatwoot"

STATUSES = {"open": "open", "pending": "pending", "snoozed": "snoozed",
            "resolved": "resolved"}

CHANNELS = {
    "Channel::WebWidget": "chat", "Channel::Api": "chat", "Channel::Email": "email",
    "Channel::TwilioSms": "phone", "Channel::Sms": "phone", "Channel::Voice": "phone",
    "Channel::FacebookPage": "social", "Channel::TwitterProfile": "social",
    "Channel::Instagram": "social", "Channel::Whatsapp": "social", "Channel::Telegram": "social",
    "Channel::Line": "social",
}

PRIORITIES = {"low": "low", "medium": "normal", "high": "high", "urgent": "urgent"}

HANDLED = ("conversation_created", "conversation_status_changed", "conversation_updated",
           "message_created", "message_updated")


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _time(value: Any, field: str) -> str:
    """Chatwoot writes times as Unix seconds (conversation push data), ISO 8601 (a message's
    ``created_at`` through ``as_json``) or Ruby's ``2020-03-03 13:05:57 UTC`` (older docs)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return from_unix_seconds(value, field)
    if isinstance(value, str):
        if re.fullmatch(r"\d+(\.\d+)?", value.strip()):
            return from_unix_seconds(value, field)
        text = re.sub(r"^(\S+) (\S+) UTC$", r"\1T\2Z", value.strip())
        return from_iso(text, field)
    raise Unmappable(f"{field}: missing or not a time: {value!r}")


def _tenant(data: Mapping[str, Any], tenant: str | None) -> str | None:
    account = _obj(data.get("account")).get("id") or data.get("account_id")
    return str(account) if account not in (None, "") else tenant


def _changes(data: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    changes: dict[str, tuple[Any, Any]] = {}
    raw = data.get("changed_attributes") or []
    for item in raw if isinstance(raw, list) else [raw]:
        for key, change in _obj(item).items():
            change = _obj(change)
            changes[key] = (change.get("previous_value"), change.get("current_value"))
    return changes


def map_delivery(body: bytes, headers: Mapping[str, str], tenant: str | None) -> Mapped:
    """One Chatwoot delivery (the event name is the body's ``event``) → canonical events."""
    data = load_object(body)
    kind = str(data.get("event") or "")
    if not kind:
        raise Unmappable("event: missing")
    if kind not in HANDLED:
        return Mapped(kind, [], ignored=True)
    tenant = _tenant(data, tenant)
    if kind.startswith("message_"):
        return _message(kind, data, tenant)
    return _conversation(kind, data, tenant)


def _message(kind: str, data: dict[str, Any], tenant: str | None) -> Mapped:
    convo = _obj(data.get("conversation"))
    convo_id = convo.get("id")
    conversation = name(VENDOR, tenant, convo_id)
    message_id = data.get("id")
    content = _obj(data.get("content_attributes"))

    if kind == "message_updated":
        response = _obj(_obj(content.get("submitted_values")).get("csat_survey_response"))
        rating = response.get("rating")
        if rating is None:
            return Mapped(kind, [], ignored=True)
        if isinstance(rating, str) and rating.isdigit():
            rating = int(rating)
        if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
            raise Unmappable(f"csat_survey_response.rating: not 1..5: {rating!r}")
        at_key = "updated_at" if data.get("updated_at") else "created_at"
        event: dict[str, Any] = {
            "id": event_id(VENDOR, tenant, convo_id, message_id, kind, "rating", rating),
            "type": "rating.submitted", "at": _time(data.get(at_key), at_key),
            "conversation_id": conversation, "source": VENDOR, "survey": "csat",
            "score": rating}
        assignee = _obj(_obj(convo.get("meta")).get("assignee"))
        if assignee.get("id") is not None:
            event.update(about="agent", agent_id=name(VENDOR, tenant, assignee["id"]))
            named_agent(event, assignee)
        if response.get("feedback_message"):
            event["comment"] = str(response["feedback_message"])
        return Mapped("message_updated:csat", [event])

    message_type = data.get("message_type")
    if message_type not in ("incoming", "outgoing", "template", 0, 1, 3):
        return Mapped(f"{kind}:{message_type}", [], ignored=True)
    at = _time(data.get("created_at"), "created_at")
    sender = _obj(data.get("sender"))
    automated = bool(content.get("automation_rule_id")
                     or _obj(data.get("additional_attributes")).get("campaign_id"))
    message: dict[str, Any] = {
        "id": event_id(VENDOR, tenant, convo_id, message_id, kind, "message.created"),
        "type": "message.created", "at": at, "conversation_id": conversation,
        "source": VENDOR}
    events: list[dict[str, Any]] = []
    if message_type in ("incoming", 0):
        message["author"] = "customer"
        if convo.get("status") == "resolved":
            # Chatwoot reopens a resolved conversation on an incoming message.
            events.append({
                "id": event_id(VENDOR, tenant, convo_id, message_id, kind,
                               "conversation.status_changed", "open"),
                "type": "conversation.status_changed", "at": at,
                "conversation_id": conversation, "source": VENDOR, "status": "open",
                "by": "customer"})
    elif sender.get("type") == "user" and sender.get("id") is not None and not automated:
        message.update(author="agent", agent_id=name(VENDOR, tenant, sender["id"]))
        named_agent(message, sender)
    else:
        # agent_bot / captain sender, no sender, an automation rule or a campaign
        message.update(author="bot", automated=True)
    if data.get("private") is True:
        message["internal"] = True
    events.append(message)
    return Mapped(kind, events)


def _conversation(kind: str, data: dict[str, Any], tenant: str | None) -> Mapped:
    convo_id = data.get("id")
    conversation = name(VENDOR, tenant, convo_id)
    meta = _obj(data.get("meta"))
    team = _obj(meta.get("team")).get("id")
    team_name = person_name(meta.get("team"))

    def base(event_type: str, at: str, *key: object) -> dict[str, Any]:
        event = {"id": event_id(VENDOR, tenant, convo_id, *key), "type": event_type, "at": at,
                 "conversation_id": conversation, "source": VENDOR}
        if team is not None:
            event["team"] = name(VENDOR, tenant, team)
            if team_name is not None:
                event["team_name"] = team_name
        return event

    if kind == "conversation_created":
        at = _time(data.get("created_at"), "created_at")
        event = base("conversation.created", at, kind, "conversation.created")
        event["channel"] = CHANNELS.get(str(data.get("channel")), "other")
        priority = PRIORITIES.get(str(data.get("priority")))
        if priority:
            event["priority"] = priority
        customer = _obj(meta.get("sender")).get("id")
        if customer is not None:
            event["customer_id"] = name(VENDOR, tenant, customer)
        return Mapped(kind, [event])

    changes = _changes(data)
    stamp = data.get("updated_at") if data.get("updated_at") is not None else data.get(
        "timestamp")
    at = _time(stamp, "updated_at")
    events: list[dict[str, Any]] = []
    # A status change: from conversation_status_changed, or from conversation_updated when the
    # change list has it (some moves fire only that); both deliveries of one change give the
    # same ids (conversation, status, updated_at), so the second one is a duplicate.
    if kind == "conversation_status_changed" or "status" in changes:
        previous, current = changes.get("status", (None, data.get("status")))
        status = STATUSES.get(str(current))
        if status is None:
            raise Unmappable(f"status: unknown Chatwoot status {current!r}")
        handoff = previous == "pending" and status == "open"
        change = base("conversation.status_changed", at, "status", status, stamp)
        change.update(status=status, by="bot" if handoff else "system")
        events.append(change)
        if handoff:
            events.append(base("conversation.handed_off", at, "handed_off", stamp))
    if "assignee_id" in changes:
        _, current = changes["assignee_id"]
        key = ("assignee", current, stamp)
        if current in (None, ""):
            events.append(base("conversation.unassigned", at, *key))
        else:
            assigned = base("conversation.assigned", at, *key)
            assigned.update(agent_id=name(VENDOR, tenant, current), method="push")
            assignee = _obj(meta.get("assignee"))
            if str(assignee.get("id")) == str(current):
                named_agent(assigned, assignee)
            events.append(assigned)
    if not events:
        return Mapped(kind, [], ignored=True)
    return Mapped(kind, events)

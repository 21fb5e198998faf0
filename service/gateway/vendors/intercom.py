"""Intercom webhooks → canonical events (SPEC §2, WEBHOOKS.md §3–§4, rows "IC").

Connect your helpdesk — Intercom: in the Developer Hub open your app → Webhooks, set the
endpoint URL to ``https://<gateway>/webhooks/intercom`` and subscribe to the topics
``conversation.user.created``, ``conversation.user.replied``,
``conversation.admin.single.created``, ``conversation.admin.replied``,
``conversation.operator.replied``, ``conversation.admin.noted``,
``conversation.admin.assigned``, ``conversation.admin.open.assigned``,
``conversation.admin.closed``, ``conversation.admin.opened``, ``conversation.admin.snoozed``,
``conversation.admin.unsnoozed``, ``conversation.rating.added`` and
``admin.away_mode_updated`` (other topics are answered 2xx and ignored). Intercom signs every
delivery with the app's *client secret* (Basic information → Client secret); give it to the
gateway as ``SUPPORT_KPI_GATEWAY_INTERCOM_SECRET``. The workspace (``app_id``) becomes the
tenant, so several workspaces can share one gateway. Intercom cannot tell us when a customer
abandons a chat, and has no QA/teammate reviews: ``abandoned`` counts only conversations
closed by a customer or the system before any human response, and ``qa`` stays empty.

Mapping choices (where Intercom and WEBHOOKS.md leave room):

- Both payload shapes are read: API v1 (``user``, ``assignee``, ``conversation_message``) and
  v2 (``source``, ``contacts``, ``admin_assignee_id``, ``team_assignee_id``, ``priority``).
- One delivery names one triggering conversation part. The *topic* decides the status change
  (``admin.closed`` → resolved, ``admin.opened``/``admin.unsnoozed`` → open,
  ``admin.snoozed`` → snoozed); on a topic that is not a status topic the part's
  ``part_type`` may add one (``open``, ``close``, ``snoozed``, ``assign_and_reopen`` …). An
  assignment part (``assignment``, ``default_assignment``, ``assign_and_reopen`` …) or an
  assignment topic yields (un)assigned; a part with a body (or a reply/note topic) yields a
  message. Ids are built from the part id and what the event says, so the same part arriving
  on two topics (a bot reply on ``admin.replied`` and ``operator.replied``, a reply-and-assign
  on ``admin.replied`` and ``admin.assigned``) maps to the same ids.
- Within one part the order is: reopen, handoff, (un)assignment, message, then snooze or
  close (an agent takes a conversation, answers, then closes it).
- A customer reply always yields ``status open by customer`` first: Intercom opens a closed
  or snoozed conversation on a customer reply, and open → open is a no-op downstream.
- ``conversation.admin.single.created`` (an outbound message) is created by Intercom in state
  ``closed``, waiting for the customer's answer: it maps to ``pending`` (waiting on the
  customer), not to a resolution, so no zero-second resolution is counted. An admin assignee
  present at creation yields ``conversation.assigned`` (push).
- Handover: Intercom has no handover topic. Fin (or a workflow after Fin) hands over with an
  assignment part authored by a bot (``author.type`` bot, or ``author.from_ai_agent``), to a
  team or a teammate. Such a part, in a conversation where Fin took part (the part's
  ``from_ai_agent`` or the conversation's ``ai_agent_participated``), yields
  ``conversation.handed_off`` before the assignment. A bot assignment without Fin (plain
  routing rules) is an ordinary push assignment.
- A rating's time is ``conversation_rating.updated_at`` (its ``created_at`` is when it was
  requested); its id is the conversation and the request time, so a changed rating for the
  same request is a duplicate (the first answer counts).
"""

from collections.abc import Mapping
from typing import Any

from service.gateway.canonical import (
    Mapped,
    Unmappable,
    event_id,
    from_unix_seconds,
    load_object,
    name,
    named_agent,
    person_name,
)

__all__ = ["VENDOR", "map_delivery"]

VENDOR = "intercom"

_CREATED_TOPICS = {
    "conversation.user.created": "customer",
    "conversation.admin.single.created": "agent",
}
_STATUS_TOPICS = {
    "conversation.admin.closed": "resolved",
    "conversation.admin.opened": "open",
    "conversation.admin.snoozed": "snoozed",
    "conversation.admin.unsnoozed": "open",
}
_ASSIGN_TOPICS = frozenset({"conversation.admin.assigned", "conversation.admin.open.assigned"})
_MESSAGE_TOPICS = frozenset({
    "conversation.user.replied", "conversation.admin.replied", "conversation.operator.replied",
    "conversation.admin.noted",
})
PART_TOPICS = frozenset(_STATUS_TOPICS) | _ASSIGN_TOPICS | _MESSAGE_TOPICS
RATING_TOPIC = "conversation.rating.added"
AWAY_TOPIC = "admin.away_mode_updated"

_PART_STATUS = {
    "open": "open",
    "assign_and_reopen": "open",
    "unsnoozed": "open",
    "timer_unsnooze": "open",
    "assign_and_unsnooze": "open",
    "close": "resolved",
    "snoozed": "snoozed",
}
_ASSIGN_PARTS = frozenset({
    "assignment", "default_assignment", "assign_and_reopen", "assign_and_unsnooze",
    "away_mode_assignment",
})
_CHANNELS = {
    "conversation": "chat", "chat": "chat", "messenger": "chat",
    "email": "email",
    "phone_call": "phone", "phone_switch": "phone", "phone": "phone",
    "facebook": "social", "twitter": "social", "instagram": "social", "whatsapp": "social",
}
_CUSTOMER_TYPES = frozenset({"user", "lead", "contact"})


def map_delivery(body: bytes, headers: Mapping[str, str], tenant: str | None) -> Mapped:
    """One Intercom notification (raw body) → its canonical events, in the order they
    happened. ``ping`` and topics without a KPI are ignored; a body that cannot be mapped
    raises :class:`Unmappable`."""
    del headers  # the topic is in the body
    notification = load_object(body)
    topic = notification.get("topic")
    if not isinstance(topic, str) or not topic:
        raise Unmappable("topic: missing")
    app = _app(notification, tenant)
    if topic in _CREATED_TOPICS:
        return Mapped(topic, _created(app, _item(notification), _CREATED_TOPICS[topic]))
    if topic in PART_TOPICS:
        return Mapped(topic, _part_events(app, topic, _item(notification)))
    if topic == RATING_TOPIC:
        return Mapped(topic, _rating(app, _item(notification), notification))
    if topic == AWAY_TOPIC:
        return Mapped(topic, _away(app, _item(notification), notification))
    return Mapped(topic, [], ignored=True)


# -- helpers --------------------------------------------------------------------------------


def _app(notification: dict[str, Any], tenant: str | None) -> str | None:
    app = notification.get("app_id")
    return str(app) if app not in (None, "") else tenant


def _item(notification: dict[str, Any]) -> dict[str, Any]:
    data = notification.get("data")
    item = data.get("item") if isinstance(data, dict) else None
    if not isinstance(item, dict):
        raise Unmappable("data.item: missing or not an object")
    return item


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _set(value: Any) -> bool:
    """An Intercom id that is set (not null, empty or ``0``, which the API uses for none)."""
    return value not in (None, "", 0, "0")


def _conversation_id(app: str | None, item: dict[str, Any]) -> str:
    if not _set(item.get("id")):
        raise Unmappable("data.item.id: the conversation id is missing")
    return name(VENDOR, app, str(item["id"]))


def _base(
    app: str | None, item: dict[str, Any], kind: str, at: str, *id_parts: object
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": event_id(VENDOR, app, *id_parts),
        "type": kind,
        "at": at,
        "conversation_id": _conversation_id(app, item),
        "source": VENDOR,
    }
    team = item.get("team_assignee_id")
    if _set(team):
        event["team"] = name(VENDOR, app, str(team))
    return event


def _is_bot(author: dict[str, Any]) -> bool:
    return author.get("type") == "bot" or author.get("from_ai_agent") is True


def _actor(app: str | None, author: dict[str, Any]) -> tuple[str, str | None]:
    """(``by`` of a status change, agent id or None) for a part's author."""
    if _is_bot(author):
        return "bot", None
    kind = author.get("type")
    if kind == "admin" and _set(author.get("id")):
        return "agent", name(VENDOR, app, str(author["id"]))
    if kind in _CUSTOMER_TYPES:
        return "customer", None
    return "system", None


def _message(
    app: str | None, item: dict[str, Any], at: str, author: dict[str, Any], internal: bool,
    *id_parts: object,
) -> dict[str, Any]:
    event = _base(app, item, "message.created", at, *id_parts)
    by, agent = _actor(app, author)
    if by == "bot":
        event.update(author="bot", automated=True)
    elif by == "agent":
        event.update(author="agent", agent_id=agent)
        named_agent(event, author)
    elif by == "customer":
        event["author"] = "customer"
    else:
        raise Unmappable(f"author: no usable author for a message: {author!r}")
    event["internal"] = internal
    return event


def _status(
    app: str | None, item: dict[str, Any], at: str, status: str, author: dict[str, Any],
    *id_parts: object,
) -> dict[str, Any]:
    event = _base(app, item, "conversation.status_changed", at, *id_parts)
    by, agent = _actor(app, author)
    event.update(status=status, by=by)
    if agent is not None:
        event["agent_id"] = agent
    return named_agent(event, author)


def _assignment(
    app: str | None, item: dict[str, Any], at: str, part: dict[str, Any],
    author: dict[str, Any], part_id: str,
) -> dict[str, Any]:
    """``conversation.assigned`` to the admin the part names (pull when the author assigned
    themselves), or ``conversation.unassigned`` for nobody; a team assignment sets the team
    and keeps the conversation's admin assignee, if any."""
    target = _dict(part.get("assigned_to"))
    admin: Any = None
    team: Any = None
    if target.get("type") == "team":
        team = target.get("id")
        admin = item.get("admin_assignee_id")
    elif target.get("type") != "nobody_admin":
        admin = target.get("id")
    if _set(admin):
        event = _base(app, item, "conversation.assigned", at, part_id, "assignment")
        _by, author_agent = _actor(app, author)
        agent = name(VENDOR, app, str(admin))
        event.update(agent_id=agent, method="pull" if author_agent == agent else "push")
        if target.get("type") == "admin":
            named_agent(event, target)
    else:
        event = _base(app, item, "conversation.unassigned", at, part_id, "assignment")
    if _set(team):
        event["team"] = name(VENDOR, app, str(team))
        team_name = person_name(target)
        if team_name is not None:
            event["team_name"] = team_name
    return event


def _handoff(
    app: str | None, item: dict[str, Any], at: str, part: dict[str, Any],
    author: dict[str, Any], part_id: str,
) -> dict[str, Any] | None:
    target = _dict(part.get("assigned_to"))
    fin = author.get("from_ai_agent") is True or item.get("ai_agent_participated") is True
    if not (_is_bot(author) and fin and target.get("type") in ("team", "admin")
            and _set(target.get("id"))):
        return None
    event = _base(app, item, "conversation.handed_off", at, part_id, "handoff")
    if target.get("type") == "team":
        event["team"] = name(VENDOR, app, str(target["id"]))
    return event


def _has_body(part: dict[str, Any]) -> bool:
    body = part.get("body")
    return isinstance(body, str) and body.strip() != ""


# -- topics ---------------------------------------------------------------------------------


def _created(app: str | None, item: dict[str, Any], initiator: str) -> list[dict[str, Any]]:
    """``conversation.created`` and its first message (the ``source`` / v1
    ``conversation_message``), plus the assignee and, for an outbound message, pending."""
    conversation = str(item.get("id") or "")
    at = from_unix_seconds(item.get("created_at"), "data.item.created_at")
    source = _dict(item.get("source")) or _dict(item.get("conversation_message"))
    author = _dict(source.get("author"))
    created = _base(app, item, "conversation.created", at, conversation, "created")
    channel = _CHANNELS.get(str(source.get("type") or ""), "other")
    priority = "high" if item.get("priority") == "priority" else "normal"
    customer = _customer(item, author if initiator == "customer" else {})
    created.update(channel=channel, priority=priority, initiator=initiator)
    if customer is not None:
        created["customer_id"] = name(VENDOR, app, customer)
    events = [created]
    assignee = item.get("admin_assignee_id")
    if not _set(assignee):
        v1 = _dict(item.get("assignee"))
        assignee = v1.get("id") if v1.get("type") == "admin" else None
    if _set(assignee):
        assigned = _base(app, item, "conversation.assigned", at, conversation, "assigned")
        assigned.update(agent_id=name(VENDOR, app, str(assignee)), method="push")
        v1 = _dict(item.get("assignee"))
        if str(v1.get("id")) == str(assignee):
            named_agent(assigned, v1)
        events.append(assigned)
    if source:
        if initiator == "customer" and author.get("type") not in _CUSTOMER_TYPES:
            author = {"type": "user", "id": author.get("id")}
        elif initiator == "agent" and author.get("type") is None and _set(author.get("id")):
            author = {"type": "admin", "id": author["id"]}  # v1 sometimes omits the type
        events.append(_message(app, item, at, author, False, conversation, "message"))
    if initiator == "agent" and item.get("state") in ("closed", "snoozed"):
        status = "pending" if item["state"] == "closed" else "snoozed"
        events.append(_status(app, item, at, status, author, conversation, "status", status))
    return events


def _customer(item: dict[str, Any], author: dict[str, Any]) -> str | None:
    if author.get("type") in _CUSTOMER_TYPES and _set(author.get("id")):
        return str(author["id"])
    contacts = _dict(item.get("contacts")).get("contacts")
    if isinstance(contacts, list) and contacts and _set(_dict(contacts[0]).get("id")):
        return str(contacts[0]["id"])
    user = _dict(item.get("user"))
    return str(user["id"]) if _set(user.get("id")) else None


def _part_events(app: str | None, topic: str, item: dict[str, Any]) -> list[dict[str, Any]]:
    _conversation_id(app, item)
    parts = _dict(item.get("conversation_parts")).get("conversation_parts")
    if not isinstance(parts, list) or not parts or not isinstance(parts[-1], dict):
        raise Unmappable("data.item.conversation_parts: no triggering part")
    part = parts[-1]
    if not _set(part.get("id")):
        raise Unmappable("conversation_parts[].id: the part id is missing")
    part_id = str(part["id"])
    at = from_unix_seconds(part.get("created_at"), "conversation_parts[].created_at")
    author = _dict(part.get("author"))
    if not author:
        author = {"type": "user"} if topic == "conversation.user.replied" else {}
    part_type = str(part.get("part_type") or "")

    status = _STATUS_TOPICS.get(topic) or _PART_STATUS.get(part_type)
    if topic == "conversation.user.replied":
        status = "open"
    assigns = topic in _ASSIGN_TOPICS or part_type in _ASSIGN_PARTS
    internal = topic == "conversation.admin.noted" or part_type.startswith("note")
    message = topic in _MESSAGE_TOPICS or _has_body(part)

    events: list[dict[str, Any]] = []
    if status == "open":
        events.append(_status(app, item, at, status, author, part_id, "status", status))
    if assigns:
        handoff = _handoff(app, item, at, part, author, part_id)
        if handoff is not None:
            events.append(handoff)
        events.append(_assignment(app, item, at, part, author, part_id))
    if message:
        events.append(_message(app, item, at, author, internal, part_id, "message"))
    if status is not None and status != "open":
        events.append(_status(app, item, at, status, author, part_id, "status", status))
    return events


def _rating(
    app: str | None, item: dict[str, Any], notification: dict[str, Any]
) -> list[dict[str, Any]]:
    rating = _dict(item.get("conversation_rating"))
    score = rating.get("rating")
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise Unmappable(f"conversation_rating.rating: not a score 1-5: {score!r}")
    when = rating.get("updated_at") or notification.get("created_at")
    at = from_unix_seconds(when, "conversation_rating.updated_at")
    event = _base(app, item, "rating.submitted", at, str(item.get("id") or ""), "rating",
                  rating.get("created_at"))
    teammate = _dict(rating.get("teammate"))
    event.update(survey="csat", score=score,
                 about="agent" if _set(teammate.get("id")) else "unspecified")
    if _set(teammate.get("id")) and teammate.get("type") in (None, "admin"):
        event["agent_id"] = name(VENDOR, app, str(teammate["id"]))
        named_agent(event, teammate)
    remark = rating.get("remark")
    if isinstance(remark, str) and remark.strip():
        event["comment"] = remark
    return [event]


def _away(
    app: str | None, item: dict[str, Any], notification: dict[str, Any]
) -> list[dict[str, Any]]:
    if not _set(item.get("id")):
        raise Unmappable("data.item.id: the admin id is missing")
    at = from_unix_seconds(notification.get("created_at"), "created_at")
    away = item.get("away_mode_enabled") is True
    event: dict[str, Any] = {
        "id": event_id(VENDOR, app, notification.get("id") or item["id"], "away_mode"),
        "type": "agent.status_changed",
        "at": at,
        "agent_id": name(VENDOR, app, str(item["id"])),
        "status": "away" if away else "available",
        "source": VENDOR,
    }
    named_agent(event, item)
    teams = item.get("team_ids")
    if isinstance(teams, list) and len(teams) == 1 and _set(teams[0]):
        event["team"] = name(VENDOR, app, str(teams[0]))
    return [event]

"""Help Scout webhooks → canonical events (WEBHOOKS.md §3/§4, rows "HS").

**Connect your helpdesk — Help Scout.** In Help Scout, *Manage → Apps → Webhooks* (one
webhook per account): callback URL ``https://<gateway>/webhooks/helpscout``, secret key = the
value of ``SUPPORT_KPI_GATEWAY_HELPSCOUT_SECRET`` (at most 40 characters; Help Scout signs
each body with it, ``X-HelpScout-Signature``), and tick *Conversation Created*, *Assigned*,
*Status Updated*, *Customer Reply*, *Agent Reply*, *Note Created* and *Satisfaction Ratings*;
other events are answered and ignored. Help Scout cannot send agent presence, and its webhooks
say neither who changed a status (``by`` is ``agent`` only for a close that names
``closedBy``) nor whether an assignment was taken or pushed (``push``). Ratings Great / Okay /
Bad become CSAT 5 / 3 / 1, so that Great counts as positive (SPEC §3: score ≥ 4).

Bodies follow Help Scout's webhook object pages (developer.helpscout.com/webhooks/objects/
conversation, …/thread, …/rating): the conversation's ``owner`` (or ``assignee``),
``mailbox.id`` (or ``mailboxId``), ``createdBy.type`` (``customer`` | ``user``), ``threads[]``
with ``type`` (``customer``, ``message``, ``note``, ``chat``, ``phone``, ``lineitem``, …),
``createdBy`` and ``createdAt``. A reply or note event's thread is the newest thread of its
kind; ``convo.created`` also yields its oldest thread as the first message.
"""

import hashlib
from collections.abc import Mapping
from typing import Any

from service.gateway.canonical import (
    Mapped,
    Unmappable,
    event_id,
    from_iso,
    header,
    load_object,
    name,
    named_agent,
    person_name,
)

__all__ = ["CSAT", "STATUSES", "map_delivery"]

VENDOR = "helpscout"

STATUSES = {"active": "open", "open": "open", "pending": "pending", "closed": "resolved",
            "spam": "closed"}
"""Help Scout status → canonical; a closed conversation can be reopened (→ resolved), spam is
final (→ closed)."""

CSAT = {"great": 5, "okay": 3, "bad": 1}
"""Help Scout's three-level rating on the SPEC's 1–5 CSAT scale (Great is positive)."""

CHANNELS = {"email": "email", "chat": "chat", "phone": "phone"}

CREATED = ("convo.created", "convo.ai-answers.created")
REPLIES: dict[str, tuple[str, ...]] = {
    # event → the thread types it can be about
    "convo.customer.reply.created": ("customer",),
    "convo.customer.reply": ("customer",),
    "convo.agent.reply.created": ("message", "reply", "chat", "phone"),
    "convo.agent.reply": ("message", "reply", "chat", "phone"),
    "convo.note.created": ("note",),
}
NOT_MESSAGES = ("lineitem", "forwardparent", "forwardchild")


_USER_NAME = ("firstName", "lastName")
"""A Help Scout user's name in a webhook body (the Person object of ``createdBy``, ``owner``,
``closedByUser``)."""


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _id(obj: Any) -> Any:
    return obj.get("id") if isinstance(obj, dict) else None


def _modified_at(convo: Mapping[str, Any]) -> str:
    for key in ("userModifiedAt", "userUpdatedAt", "modifiedAt", "updatedAt"):
        if convo.get(key):
            return from_iso(convo[key], key)
    raise Unmappable("conversation: no userModifiedAt/modifiedAt time")


def _message(thread: Mapping[str, Any], conversation: str, tenant: str | None,
             ident: str) -> dict[str, Any]:
    by = _obj(thread.get("createdBy"))
    kind = thread.get("type")
    event: dict[str, Any] = {
        "id": ident, "type": "message.created",
        "at": from_iso(thread.get("createdAt"), "thread.createdAt"),
        "conversation_id": conversation, "source": VENDOR}
    if kind == "customer" or by.get("type") == "customer":
        event["author"] = "customer"
    else:
        event["author"] = "agent"
        event["agent_id"] = name(VENDOR, tenant, _id(by))
        named_agent(event, by, *_USER_NAME)
    if kind == "note":
        event["internal"] = True
    return event


def _threads(convo: Mapping[str, Any], types: tuple[str, ...] | None) -> list[dict[str, Any]]:
    threads = [t for t in convo.get("threads") or [] if isinstance(t, dict)
               and t.get("type") not in NOT_MESSAGES and t.get("createdAt")
               and (types is None or t.get("type") in types)]
    return sorted(threads, key=lambda t: (from_iso(t["createdAt"], "thread.createdAt"),
                                          str(t.get("id"))))


def map_delivery(body: bytes, headers: Mapping[str, str], tenant: str | None) -> Mapped:
    """One Help Scout delivery (event name in ``X-HelpScout-Event``) → canonical events."""
    kind = (header(headers, "x-helpscout-event") or "").strip()
    if not kind:
        raise Unmappable("x-helpscout-event: missing header")
    if kind not in (*CREATED, *REPLIES, "convo.assigned", "convo.status",
                    "satisfaction.ratings"):
        return Mapped(kind, [], ignored=True)
    data = load_object(body)
    digest = hashlib.sha256(body).hexdigest()

    if kind == "satisfaction.ratings":
        score = CSAT.get(str(data.get("rating") or "").lower())
        if score is None:
            raise Unmappable(f"rating: not Great/Okay/Bad: {data.get('rating')!r}")
        at_key = "modifiedAt" if data.get("modifiedAt") else "createdAt"
        event: dict[str, Any] = {
            "id": event_id(VENDOR, tenant, data.get("ticketId"), kind,
                           data.get("id") or digest, data.get(at_key)),
            "type": "rating.submitted", "at": from_iso(data.get(at_key), at_key),
            "conversation_id": name(VENDOR, tenant, data.get("ticketId")),
            "source": VENDOR, "survey": "csat", "score": score}
        if data.get("comments"):
            event["comment"] = str(data["comments"])
        return Mapped(kind, [event])

    convo_id = data.get("id")
    conversation = name(VENDOR, tenant, convo_id)
    mailbox = _id(data.get("mailbox")) or data.get("mailboxId")
    team = name(VENDOR, tenant, mailbox) if mailbox not in (None, "") else None
    teamed: dict[str, str] = {}
    if team:
        teamed["team"] = team
        team_name = person_name(data.get("mailbox"))
        if team_name:
            teamed["team_name"] = team_name

    if kind in CREATED:
        created_by = _obj(data.get("createdBy"))
        created: dict[str, Any] = {
            "id": event_id(VENDOR, tenant, convo_id, kind, "conversation.created"),
            "type": "conversation.created", "at": from_iso(data.get("createdAt"), "createdAt"),
            "conversation_id": conversation, "source": VENDOR,
            "channel": CHANNELS.get(str(data.get("type")), "other"),
            "initiator": "agent" if created_by.get("type") == "user" else "customer"}
        customer = _id(data.get("customer")) or _id(data.get("primaryCustomer"))
        if customer is not None:
            created["customer_id"] = name(VENDOR, tenant, customer)
        created.update(teamed)
        events = [created]
        first = _threads(data, None)[:1]
        for thread in first:
            events.append(_message(thread, conversation, tenant, event_id(
                VENDOR, tenant, convo_id, kind, thread.get("id"), "message.created")))
        return Mapped(kind, events)

    if kind in REPLIES:
        threads = _threads(data, REPLIES[kind])
        if not threads:
            raise Unmappable(f"threads: no {'/'.join(REPLIES[kind])} thread for {kind}")
        thread = threads[-1]
        return Mapped(kind, [_message(thread, conversation, tenant, event_id(
            VENDOR, tenant, convo_id, kind, thread.get("id")))])

    at = _modified_at(data)
    ident = event_id(VENDOR, tenant, convo_id, kind, digest)
    if kind == "convo.assigned":
        owner = data.get("owner", data.get("assignee"))
        if _id(owner) in (None, "", -1, 0):
            event = {"id": ident, "type": "conversation.unassigned", "at": at,
                     "conversation_id": conversation, "source": VENDOR}
        else:
            event = {"id": ident, "type": "conversation.assigned", "at": at,
                     "conversation_id": conversation, "source": VENDOR,
                     "agent_id": name(VENDOR, tenant, _id(owner)), "method": "push"}
            named_agent(event, owner, *_USER_NAME)
        event.update(teamed)
        return Mapped(kind, [event])

    # convo.status
    status = STATUSES.get(str(data.get("status")))
    if status is None:
        raise Unmappable(f"status: unknown Help Scout status {data.get('status')!r}")
    event = {"id": ident, "type": "conversation.status_changed", "at": at,
             "conversation_id": conversation, "source": VENDOR, "status": status,
             "by": "system"}
    closer = _id(data.get("closedBy"))
    if status == "resolved" and closer not in (None, "", 0):
        event.update(by="agent", agent_id=name(VENDOR, tenant, closer))
        closed_by = _obj(data.get("closedByUser"))
        if _id(closed_by) == closer:
            named_agent(event, closed_by, *_USER_NAME)
        if data.get("closedAt"):
            event["at"] = from_iso(data["closedAt"], "closedAt")
    return Mapped(kind, [event])

"""Front webhooks → canonical events (SPEC §2; WEBHOOKS.md §3/§4 rows "FR").

Connect your helpdesk — Front: in Front, open *Settings → Developers*, create an app and add a
*Webhook* feature (application webhook; or, per workspace, a rule whose action is *Send to a
Webhook*, with the full event payload, not the preview) pointing at
``https://<gateway>/webhooks/front``. Subscribe to the events inbound and outbound messages,
replies, comments, assignments and unassignments, archives, reopens, trash and reminders
(tags, mentions, moves and the rest are accepted and ignored). Put the app's signing key (or,
for a rule webhook, the API secret) in ``SUPPORT_KPI_GATEWAY_FRONT_SECRET``; the gateway answers
Front's ``sync`` challenge when you save. Front cannot send agent presence, ratings, the team
(inbox) a conversation belongs to, a priority or the channel beyond "email-like", so these
stay at their defaults (no team, priority normal, channel other).

Mapping (``map_delivery``; the event of an application webhook is its ``payload``, a rule
webhook sends the event itself):

- ``inbound`` → ``conversation.created`` (customer-initiated, at the conversation's
  ``created_at``), ``conversation.status_changed`` open by the customer, then the customer's
  ``message.created``. The mapper is stateless and Front's snapshot cannot tell a first
  message from a later one, so *every* inbound carries the ``created`` event with an id made
  from the conversation id alone (``event_id("front", tenant, "conversation", cnv_id,
  "created")``): downstream all but the first are duplicates. Likewise Front moves an archived
  or snoozed conversation back to the inbox when the customer writes, which the snapshot no
  longer shows, so every inbound carries "status open by customer" before the message; on a
  conversation that is already open the engine ignores it, on a resolved one it is the reopen
  SPEC §7 asks for (the status before the message, so the next-response clock starts). It is
  left out when the snapshot still shows the conversation ``archived`` or ``deleted`` (a rule
  archived it again). Caveat: Front's conversation ``created_at`` can be a few seconds *after*
  the first message's time (the real fixture: message 1518309200, conversation
  1518309203.872); the ``created`` event keeps Front's ``created_at`` (the same on every
  delivery, so duplicates are identical) and is listed first anyway.
- ``outbound`` (a teammate starts a conversation) → ``conversation.created`` with initiator
  agent (same id scheme, so a later inbound's ``created`` is a duplicate) then the agent's
  message; ``out_reply`` → the agent's message. The agent is ``source.data.id`` when the
  source is a teammate, else ``target.data.author.id``. A rule (or no identifiable teammate)
  as the source → ``automated`` (no ``agent_id``).
- ``comment`` → an internal agent message (author ``target.data.author.id``).
- ``assign`` → ``conversation.assigned`` to ``target.data.id`` (``pull`` when the teammate
  assigned it to themselves, else ``push``); ``unassign`` → ``conversation.unassigned``.
- ``archive`` → resolved, ``reopen`` → open, ``trash`` → closed, ``reminder`` (a snooze ran
  out) → open by system. ``by`` is agent (with ``agent_id``) for a teammate source, system for
  rules, the API and reminders.
- ``sync``, tags, mentions, moves, restores, merges and every other type → ignored.

Ids: the primary event of a delivery has ``event_id("front", tenant, evt_id)``; the extra
status change of an inbound adds the suffix ``"reopen"``. Times: ``emitted_at`` (Unix seconds,
an int or a float with milliseconds). Conversation and agent ids: ``name("front", tenant,
id)``; the tenant is the gateway's argument (Front bodies carry no account id; an application
webhook's ``authorization.id`` is not used), None → ``default``.
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
)

__all__ = ["VENDOR", "map_delivery"]

VENDOR = "front"
_TEAMMATE_NAME = ("first_name", "last_name")
"""A teammate's name: first and last, as Front's app shows it."""

_STATUS_TYPES: dict[str, str] = {
    "archive": "resolved",
    "reopen": "open",
    "trash": "closed",
    "reminder": "open",
}
"""Front event types that change the conversation's status, and the canonical status."""


def map_delivery(body: bytes, headers: Mapping[str, str], tenant: str | None) -> Mapped:
    """One Front delivery (rule webhook: the event; application webhook: ``{type,
    authorization, payload}``) → canonical events in the order they happened."""
    del headers  # the event type is in the body
    document = load_object(body)
    payload = document.get("payload")
    event: dict[str, Any] = payload if isinstance(payload, dict) else document
    kind = event.get("type") or document.get("type")
    if not isinstance(kind, str) or not kind:
        raise Unmappable("front: type is missing")
    if kind == "sync":
        return Mapped(kind, [], ignored=True)
    if kind not in {"inbound", "outbound", "out_reply", "comment", "assign", "unassign",
                    *_STATUS_TYPES}:
        return Mapped(kind, [], ignored=True)
    return Mapped(kind, _Delivery(event, kind, tenant).events())


class _Delivery:
    """The fields every mapped Front event needs, read once."""

    def __init__(self, event: dict[str, Any], kind: str, tenant: str | None) -> None:
        self.event = event
        self.kind = kind
        self.tenant = tenant
        front_id = event.get("id")
        if not isinstance(front_id, str) or not front_id:
            raise Unmappable("front: id (of the event) is missing")
        self.front_id = front_id
        conversation = event.get("conversation")
        if not isinstance(conversation, dict):
            raise Unmappable("front: conversation is missing")
        self.conversation = conversation
        self.conversation_vendor_id = conversation.get("id")
        self.conversation_id = name(VENDOR, tenant, _required(conversation, "id",
                                                              "conversation.id"))
        self.at = from_unix_seconds(event.get("emitted_at"), "emitted_at")
        source = _object(event.get("source"))
        self.source_type = _meta_type(source)
        self.source_data = source.get("data")
        target = _object(event.get("target"))
        self.target_type = _meta_type(target)
        data = target.get("data")
        self.target_data: dict[str, Any] = data if isinstance(data, dict) else {}

    # -- building blocks ----------------------------------------------------------------------

    def _base(self, event_type: str, suffix: str | None = None) -> dict[str, Any]:
        parts = (self.front_id,) if suffix is None else (self.front_id, suffix)
        return {
            "id": event_id(VENDOR, self.tenant, *parts),
            "type": event_type,
            "at": self.at,
            "conversation_id": self.conversation_id,
            "source": VENDOR,
        }

    def _teammate_source(self) -> str | None:
        """The teammate who did it, when the source is a teammate."""
        if self.source_type == "teammate" and isinstance(self.source_data, dict):
            teammate = self.source_data.get("id")
            if isinstance(teammate, str) and teammate:
                return teammate
        return None

    def _author(self) -> tuple[str | None, object]:
        """The teammate behind a message or comment, and their object: the source teammate,
        else the target's author."""
        teammate = self._teammate_source()
        if teammate is not None:
            return teammate, self.source_data
        author = self.target_data.get("author")
        if isinstance(author, dict):
            author_id = author.get("id")
            if isinstance(author_id, str) and author_id:
                return author_id, author
        return None, None

    def _created(self, initiator: str) -> dict[str, Any]:
        created_at = self.conversation.get("created_at")
        at = self.at if created_at is None else from_unix_seconds(
            created_at, "conversation.created_at")
        return {
            "id": event_id(VENDOR, self.tenant, "conversation", self.conversation_vendor_id,
                           "created"),
            "type": "conversation.created",
            "at": at,
            "conversation_id": self.conversation_id,
            "source": VENDOR,
            "initiator": initiator,
        }

    def _agent_message(self, internal: bool) -> dict[str, Any]:
        message = self._base("message.created")
        message["author"] = "agent"
        author, teammate = self._author()
        if self.source_type == "rule" or author is None:
            message["automated"] = True
        else:
            message["agent_id"] = name(VENDOR, self.tenant, author)
            named_agent(message, teammate, *_TEAMMATE_NAME)
        if internal:
            message["internal"] = True
        return message

    # -- the mapping --------------------------------------------------------------------------

    def events(self) -> list[dict[str, Any]]:
        kind = self.kind
        if kind == "inbound":
            out = [self._created("customer")]
            if self.conversation.get("status") not in ("archived", "deleted"):
                reopen = self._base("conversation.status_changed", "reopen")
                reopen.update(status="open", by="customer")
                out.append(reopen)
            message = self._base("message.created")
            message["author"] = "customer"
            out.append(message)
            return out
        if kind == "outbound":
            return [self._created("agent"), self._agent_message(internal=False)]
        if kind == "out_reply":
            return [self._agent_message(internal=False)]
        if kind == "comment":
            return [self._agent_message(internal=True)]
        if kind == "assign":
            assignee = _required(self.target_data, "id", "target.data.id")
            assigned = self._base("conversation.assigned")
            assigned["agent_id"] = name(VENDOR, self.tenant, assignee)
            assigned["method"] = "pull" if self._teammate_source() == assignee else "push"
            return [named_agent(assigned, self.target_data, *_TEAMMATE_NAME)]
        if kind == "unassign":
            return [self._base("conversation.unassigned")]
        status = self._base("conversation.status_changed")
        status["status"] = _STATUS_TYPES[kind]
        teammate = self._teammate_source()
        if teammate is not None and kind != "reminder":
            status["by"] = "agent"
            status["agent_id"] = name(VENDOR, self.tenant, teammate)
            named_agent(status, self.source_data, *_TEAMMATE_NAME)
        else:
            status["by"] = "system"
        return [status]


def _meta_type(part: dict[str, Any]) -> str | None:
    meta = part.get("_meta")
    if isinstance(meta, dict) and isinstance(meta.get("type"), str):
        return str(meta["type"])
    return None


def _required(data: dict[str, Any], key: str, field_name: str) -> str:
    value = data.get(key)
    if value is None or value == "" or isinstance(value, (dict, list, bool)):
        raise Unmappable(f"front: {field_name} is missing")
    return str(value)


def _object(value: object) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}

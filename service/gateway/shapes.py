"""Canonical events in a vendor's webhook shape: what ``support-kpi simulate --gateway`` posts
and what the demo feeds the gateway, so the whole path (signature, mapping, Kafka) runs on
live simulated traffic.

:class:`IntercomShapes` turns each canonical event into one Intercom notification (v1/v2
fields the Intercom mapper reads): a customer-started conversation is
``conversation.user.created``, replies ``…admin.replied`` / ``…user.replied`` /
``…operator.replied`` (bots and auto-replies), notes ``…admin.noted``, assignments
``…admin.assigned`` (a pull is authored by the assignee, a push by a routing bot), endings
``…admin.closed`` (authored by the customer or the system for an abandonment, which the engine
reads as one), snoozes and pending ``…admin.snoozed``, reopens ``…admin.opened``, CSAT ratings
``conversation.rating.added`` and presence ``admin.away_mode_updated``. What Intercom cannot
send is left out: QA reviews, NPS and CES surveys, and the busy / after-work presence states
(an agent is away or not).
"""

from typing import Any

import orjson

from service.timefmt import parse_as_of

__all__ = ["IntercomShapes"]

_SOURCE_TYPES = {"chat": "conversation", "email": "email", "phone": "phone_call",
                 "social": "twitter", "other": "conversation"}
_STATUS_TOPICS = {"resolved": "conversation.admin.closed", "closed": "conversation.admin.closed",
                  "open": "conversation.admin.opened", "snoozed": "conversation.admin.snoozed",
                  "pending": "conversation.admin.snoozed"}
_ROUTER = {"type": "bot", "id": "routing"}


def _admin(event: dict[str, Any]) -> dict[str, Any]:
    """The Intercom admin of ``event``'s ``agent_id``, with its ``agent_name`` as ``name``."""
    admin = {"type": "admin", "id": event.get("agent_id")}
    if event.get("agent_name"):
        admin["name"] = event["agent_name"]
    return admin


class IntercomShapes:
    """Stateful only for what Intercom repeats on every notification: each conversation's
    team and customer."""

    def __init__(self, app_id: str = "demo") -> None:
        self.app_id = app_id
        self.teams: dict[str, str | None] = {}
        self.customers: dict[str, str] = {}

    def notification(self, event: dict[str, Any]) -> bytes | None:
        """The notification body of ``event``, or None for what Intercom cannot send."""
        kind = event["type"]
        seconds = parse_as_of(event["at"]) / 1000
        if kind == "agent.status_changed":
            item = {**_admin(event), "away_mode_enabled": event["status"] in ("away", "offline"),
                    "team_ids": [event["team"]] if event.get("team") else []}
            return self._wrap(event, "admin.away_mode_updated", seconds, item)
        cid = event.get("conversation_id")
        if cid is None or kind == "review.submitted":
            return None
        if event.get("team"):
            self.teams[cid] = event["team"]
        if kind == "conversation.created":
            return self._created(event, cid, seconds)
        if kind == "rating.submitted":
            if event["survey"] != "csat":
                return None
            rating = {"rating": event["score"], "remark": event.get("comment"),
                      "created_at": seconds, "updated_at": seconds,
                      "teammate": _admin(event) if event.get("agent_id") else None}
            return self._wrap(event, "conversation.rating.added", seconds,
                              self._item(cid, conversation_rating=rating))
        topic, part = self._part(event, kind)
        if topic is None:
            return None
        part.update(id=event["id"], created_at=seconds)
        return self._wrap(event, topic, seconds, self._item(
            cid, conversation_parts={"type": "conversation_part.list",
                                     "conversation_parts": [part]}))

    def _created(self, event: dict[str, Any], cid: str, seconds: float) -> bytes:
        customer = event.get("customer_id") or f"customer-{cid}"
        self.customers[cid] = customer
        by_agent = event.get("initiator") == "agent"
        author = _admin(event) if by_agent else {"type": "user", "id": customer}
        fields: dict[str, Any] = {}
        if not by_agent or event.get("agent_id"):
            fields["source"] = {
                "type": _SOURCE_TYPES.get(event.get("channel", "other"), "conversation"),
                "author": author, "body": "<p>Hello</p>"}
        item = self._item(cid, created_at=seconds, state="open",
                          priority="priority" if event.get("priority") in ("high", "urgent")
                          else "not_priority", **fields)
        topic = ("conversation.admin.single.created" if by_agent
                 else "conversation.user.created")
        return self._wrap(event, topic, seconds, item)

    def _part(self, event: dict[str, Any], kind: str) -> tuple[str | None, dict[str, Any]]:
        agent = event.get("agent_id")
        if kind == "message.created":
            author = event["author"]
            if author == "customer":
                return "conversation.user.replied", {
                    "part_type": "comment", "body": "<p>…</p>",
                    "author": {"type": "user", "id": self.customers.get(
                        event["conversation_id"], "customer")}}
            if event.get("internal"):
                return "conversation.admin.noted", {
                    "part_type": "note", "body": "<p>note</p>",
                    "author": _admin(event)}
            if author == "bot" or event.get("automated") or agent is None:
                return "conversation.operator.replied", {
                    "part_type": "comment", "body": "<p>auto</p>", "author": {"type": "bot"}}
            return "conversation.admin.replied", {
                "part_type": "comment", "body": "<p>reply</p>",
                "author": _admin(event)}
        if kind == "conversation.assigned":
            author = _admin(event) if event.get("method") == "pull" \
                else _ROUTER
            return "conversation.admin.assigned", {
                "part_type": "assignment", "body": None, "author": author,
                "assigned_to": _admin(event)}
        if kind == "conversation.unassigned":
            return "conversation.admin.assigned", {
                "part_type": "assignment", "body": None, "author": _ROUTER,
                "assigned_to": {"type": "nobody_admin", "id": None}}
        if kind == "conversation.abandoned":
            return "conversation.admin.closed", {
                "part_type": "close", "body": None, "author": {"type": "user"}}
        if kind == "conversation.status_changed":
            by = event.get("by", "system")
            author = (_admin(event) if by == "agent" and agent
                      else {"type": "user"} if by == "customer"
                      else {"type": "bot"} if by == "bot" else {"type": "system"})
            return _STATUS_TOPICS[event["status"]], {
                "part_type": "close" if event["status"] in ("resolved", "closed") else "open",
                "body": None, "author": author}
        return None, {}

    def _item(self, cid: str, **fields: Any) -> dict[str, Any]:
        return {"type": "conversation", "id": cid,
                "team_assignee_id": self.teams.get(cid), **fields}

    def _wrap(self, event: dict[str, Any], topic: str, seconds: float,
              item: dict[str, Any]) -> bytes:
        return orjson.dumps({"type": "notification_event", "app_id": self.app_id,
                             "id": f"notif_{event['id']}", "topic": topic,
                             "created_at": int(seconds),
                             "data": {"type": "notification_event_data", "item": item}})

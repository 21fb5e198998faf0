"""Help Scout mapper. No Help Scout webhook payload could be copied (see
../shared/data/webhooks/README.md), so the bodies below are built by hand, field by field,
from Help Scout's webhook docs:

- event names in ``X-HelpScout-Event``: https://developer.helpscout.com/webhooks/
- conversation body: https://developer.helpscout.com/webhooks/objects/conversation/
- threads inside it: https://developer.helpscout.com/webhooks/objects/thread/
- rating body: https://developer.helpscout.com/webhooks/objects/rating/

Expected events are written by hand from those bodies and WEBHOOKS.md §4 ("HS" rows)."""

import hashlib
from typing import Any

import orjson
import pytest

from schemas import event_adapter
from service.gateway.canonical import Mapped, Unmappable, event_id
from service.gateway.vendors.helpscout import map_delivery

CUSTOMER = {"id": 449379, "firstName": "Vernon", "lastName": "Bear", "type": "customer",
            "email": "vernon@example.com"}
AGENT = {"id": 1234, "firstName": "Jack", "lastName": "Sprout", "type": "user",
         "email": "jack@example.com"}

# The customer's first thread (webhooks/objects/thread: type "customer", createdBy a Person
# whose type is "customer").
FIRST = {"id": 88171881, "type": "customer", "status": "active",
         "createdAt": "2026-07-22T09:00:00Z", "createdBy": CUSTOMER, "body": "Hello"}
# A line item (assignment) and the agent's reply (type "message", createdBy a "user").
LINE = {"id": 88171882, "type": "lineitem", "status": "active",
        "createdAt": "2026-07-22T09:04:00Z", "createdBy": AGENT, "actionType": "workflow"}
REPLY = {"id": 88171883, "type": "message", "status": "pending",
         "createdAt": "2026-07-22T09:05:00Z", "createdBy": AGENT, "body": "Hi!"}
NOTE = {"id": 88171884, "type": "note", "status": "nochange",
        "createdAt": "2026-07-22T09:06:00Z", "createdBy": AGENT, "body": "fyi"}
SECOND = {"id": 88171885, "type": "customer", "status": "active",
          "createdAt": "2026-07-22T09:10:00Z", "createdBy": CUSTOMER, "body": "Thanks"}


def conversation(threads: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """A conversation object (webhooks/objects/conversation field guide); threads newest
    first, as Help Scout lists them."""
    return {
        "id": 291938, "type": "email", "folderId": 1234, "isDraft": False, "number": 349,
        "owner": None, "mailbox": {"id": 85, "name": "Support"}, "customer": CUSTOMER,
        "threadCount": len(threads), "status": "active", "subject": "I need help!",
        "preview": "Hello", "createdBy": CUSTOMER, "createdAt": "2026-07-22T09:00:00Z",
        "modifiedAt": "2026-07-22T09:00:00Z", "closedAt": None, "closedBy": None,
        "source": {"type": "email", "via": "customer"}, "cc": [], "bcc": [], "tags": [],
        "threads": threads, **fields}


def deliver(event: str, payload: dict[str, Any], tenant: str | None = None) -> Mapped:
    mapped = map_delivery(orjson.dumps(payload), {"x-helpscout-event": event,
                                                  "x-helpscout-signature": "ignored"}, tenant)
    for canonical in mapped.events:
        event_adapter.validate_python(canonical)
    return mapped


def digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(payload)).hexdigest()


def test_created_gives_conversation_and_first_thread() -> None:
    payload = conversation([FIRST])
    mapped = deliver("convo.created", payload, "acme")
    assert mapped.kind == "convo.created"
    assert mapped.events == [
        {"id": event_id("helpscout", "acme", 291938, "convo.created", "conversation.created"),
         "type": "conversation.created", "at": "2026-07-22T09:00:00.000Z",
         "conversation_id": "helpscout:acme:291938", "source": "helpscout", "channel": "email",
         "initiator": "customer", "customer_id": "helpscout:acme:449379",
         "team": "helpscout:acme:85", "team_name": "Support"},
        {"id": event_id("helpscout", "acme", 291938, "convo.created", 88171881,
                        "message.created"),
         "type": "message.created", "at": "2026-07-22T09:00:00.000Z",
         "conversation_id": "helpscout:acme:291938", "source": "helpscout",
         "author": "customer"}]


def test_created_by_an_agent_on_the_phone() -> None:
    phone = {**REPLY, "type": "phone", "createdAt": "2026-07-22T08:00:00Z"}
    payload = conversation([phone], type="phone", createdBy=AGENT,
                           createdAt="2026-07-22T08:00:00Z")
    created, message = deliver("convo.created", payload).events
    assert (created["channel"], created["initiator"]) == ("phone", "agent")
    assert (message["author"], message["agent_id"]) == ("agent", "helpscout:default:1234")


def test_customer_reply_is_the_newest_customer_thread() -> None:
    payload = conversation([SECOND, NOTE, REPLY, LINE, FIRST], threadCount=4)
    assert deliver("convo.customer.reply.created", payload).events == [{
        "id": event_id("helpscout", None, 291938, "convo.customer.reply.created", 88171885),
        "type": "message.created", "at": "2026-07-22T09:10:00.000Z",
        "conversation_id": "helpscout:default:291938", "source": "helpscout",
        "author": "customer"}]


def test_agent_reply_and_note() -> None:
    payload = conversation([NOTE, REPLY, LINE, FIRST], owner=AGENT, status="pending")
    assert deliver("convo.agent.reply.created", payload).events == [{
        "id": event_id("helpscout", None, 291938, "convo.agent.reply.created", 88171883),
        "type": "message.created", "at": "2026-07-22T09:05:00.000Z",
        "conversation_id": "helpscout:default:291938", "source": "helpscout",
        "author": "agent", "agent_id": "helpscout:default:1234", "agent_name": "Jack Sprout"}]
    assert deliver("convo.note.created", payload).events == [{
        "id": event_id("helpscout", None, 291938, "convo.note.created", 88171884),
        "type": "message.created", "at": "2026-07-22T09:06:00.000Z",
        "conversation_id": "helpscout:default:291938", "source": "helpscout",
        "author": "agent", "agent_id": "helpscout:default:1234", "agent_name": "Jack Sprout",
        "internal": True}]


def test_assigned_and_unassigned() -> None:
    payload = conversation([LINE, FIRST], owner=AGENT, userModifiedAt="2026-07-22T09:04:00Z")
    assert deliver("convo.assigned", payload).events == [{
        "id": event_id("helpscout", None, 291938, "convo.assigned", digest(payload)),
        "type": "conversation.assigned", "at": "2026-07-22T09:04:00.000Z",
        "conversation_id": "helpscout:default:291938", "source": "helpscout",
        "agent_id": "helpscout:default:1234", "agent_name": "Jack Sprout", "method": "push",
        "team": "helpscout:default:85", "team_name": "Support"}]
    payload = conversation([FIRST], owner=None, modifiedAt="2026-07-22T09:30:00Z")
    assert deliver("convo.assigned", payload).events == [{
        "id": event_id("helpscout", None, 291938, "convo.assigned", digest(payload)),
        "type": "conversation.unassigned", "at": "2026-07-22T09:30:00.000Z",
        "conversation_id": "helpscout:default:291938", "source": "helpscout",
        "team": "helpscout:default:85", "team_name": "Support"}]


@pytest.mark.parametrize(("status", "canonical"), [
    ("active", "open"), ("pending", "pending"), ("spam", "closed")])
def test_status(status: str, canonical: str) -> None:
    payload = conversation([FIRST], status=status, userModifiedAt="2026-07-22T09:20:00Z")
    assert deliver("convo.status", payload).events == [{
        "id": event_id("helpscout", None, 291938, "convo.status", digest(payload)),
        "type": "conversation.status_changed", "at": "2026-07-22T09:20:00.000Z",
        "conversation_id": "helpscout:default:291938", "source": "helpscout",
        "status": canonical, "by": "system"}]


def test_closed_by_an_agent_is_resolved() -> None:
    payload = conversation([FIRST], status="closed", closedBy=AGENT,
                           closedAt="2026-07-22T09:40:00Z",
                           userModifiedAt="2026-07-22T09:40:01Z")
    assert deliver("convo.status", payload).events == [{
        "id": event_id("helpscout", None, 291938, "convo.status", digest(payload)),
        "type": "conversation.status_changed", "at": "2026-07-22T09:40:00.000Z",
        "conversation_id": "helpscout:default:291938", "source": "helpscout",
        "status": "resolved", "by": "agent", "agent_id": "helpscout:default:1234"}]


@pytest.mark.parametrize(("rating", "score"), [("Great", 5), ("Okay", 3), ("Bad", 1)])
def test_rating(rating: str, score: int) -> None:
    # webhooks/objects/rating: id, customer, ticketId (the conversation), threadId, mailbox,
    # rating Great|Okay|Bad, comments, createdAt, modifiedAt.
    payload = {"id": 5434, "customer": {"id": 449379, "firstName": "Vernon"},
               "ticketId": 291938, "threadId": 88171883, "mailbox": {"id": 85, "name": "S"},
               "rating": rating, "comments": "he was really helpful",
               "createdAt": "2026-07-22T10:00:00Z", "modifiedAt": "2026-07-22T10:01:00Z"}
    assert deliver("satisfaction.ratings", payload).events == [{
        "id": event_id("helpscout", None, 291938, "satisfaction.ratings", 5434,
                       "2026-07-22T10:01:00Z"),
        "type": "rating.submitted", "at": "2026-07-22T10:01:00.000Z",
        "conversation_id": "helpscout:default:291938", "source": "helpscout",
        "survey": "csat", "score": score, "comment": "he was really helpful"}]


def test_redelivery_gives_identical_events() -> None:
    for event, payload in [("convo.created", conversation([FIRST])),
                           ("convo.status", conversation([FIRST], status="pending")),
                           ("convo.customer.reply.created", conversation([SECOND, FIRST]))]:
        assert deliver(event, payload, "t") == deliver(event, payload, "t")


def test_other_events_are_ignored() -> None:
    for event in ("convo.tags", "convo.moved", "customer.created", "beacon.chat.created",
                  "convo.deleted"):
        assert map_delivery(b'{"id": 1}', {"x-helpscout-event": event}, None) == Mapped(
            event, [], ignored=True)


def test_unmappable() -> None:
    with pytest.raises(Unmappable, match="x-helpscout-event"):
        map_delivery(b"{}", {}, None)
    with pytest.raises(Unmappable, match="JSON"):
        map_delivery(b"<xml/>", {"x-helpscout-event": "convo.status"}, None)
    with pytest.raises(Unmappable, match="status"):
        deliver("convo.status", conversation([FIRST], status="weird"))
    with pytest.raises(Unmappable, match="thread"):
        deliver("convo.note.created", conversation([FIRST]))
    with pytest.raises(Unmappable, match="rating"):
        deliver("satisfaction.ratings", {"ticketId": 1, "rating": "Meh",
                                         "createdAt": "2026-07-22T10:00:00Z"})
    with pytest.raises(Unmappable, match="createdAt"):
        deliver("convo.created", conversation([FIRST], createdAt=None))

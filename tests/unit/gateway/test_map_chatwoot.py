"""Chatwoot mapper. Chatwoot ships no JSON webhook fixtures (see
../shared/data/webhooks/README.md), so the bodies below are built by hand from:

- the payload sample in Chatwoot's guide
  https://www.chatwoot.com/hc/user-guide/articles/1677693021-how-to-use-webhooks and the
  objects in chatwoot/docs ``docs/product/others/webhook-events.md``;
- chatwoot/chatwoot ``app/listeners/webhook_listener.rb`` (``event`` and
  ``changed_attributes`` = [{attr: {previous_value, current_value}}] merged into the payload),
  ``app/models/message.rb`` ``webhook_data`` (id, content, created_at, message_type,
  private, sender, content_attributes, additional_attributes, conversation, account, inbox)
  and ``app/presenters/conversations/event_data_presenter.rb`` ``push_data`` (display id,
  status, meta.{sender, assignee, team}, channel, priority, created_at / updated_at as Unix
  seconds, messages);
- ``Conversation#bot_handoff!`` (``open!`` then ``CONVERSATION_BOT_HANDOFF``, an event the
  webhook listener does not deliver): a handoff reaches webhooks as pending → open.

Expected events are written by hand from those bodies and WEBHOOKS.md §4 ("CW" rows)."""

from typing import Any

import orjson
import pytest

from schemas import event_adapter
from service.gateway.canonical import Mapped, Unmappable, event_id
from service.gateway.vendors.chatwoot import map_delivery

ACCOUNT = {"id": 7, "name": "Planet Express"}
CONTACT = {"id": 501, "name": "Fry", "avatar": "", "type": "contact", "account": ACCOUNT}
AGENT = {"id": 12, "name": "Leela", "email": "leela@example.com", "type": "user"}
BOT = {"id": 3, "name": "Helper", "avatar_url": "", "type": "agent_bot"}


def convo_data(**fields: Any) -> dict[str, Any]:
    """Conversations::EventDataPresenter#push_data (display id 42)."""
    return {
        "additional_attributes": {}, "can_reply": True, "channel": "Channel::WebWidget",
        "contact_inbox": {"id": 9, "contact_id": 501, "inbox_id": 2, "source_id": "abc"},
        "id": 42, "inbox_id": 2, "messages": [], "labels": [],
        "meta": {"sender": CONTACT, "assignee": None, "team": None, "hmac_verified": False},
        "status": "open", "custom_attributes": {}, "snoozed_until": None, "unread_count": 0,
        "first_reply_created_at": None, "priority": None, "waiting_since": 1784710800,
        "agent_last_seen_at": 0, "contact_last_seen_at": 0, "last_activity_at": 1784710800,
        "timestamp": 1784710800, "created_at": 1784710800, "updated_at": 1784710800.25,
        **fields}


def message(event: str, **fields: Any) -> dict[str, Any]:
    """Message#webhook_data + ``event``; created_at as Rails renders a Time in JSON."""
    return {"account": ACCOUNT, "additional_attributes": {}, "content_attributes": {},
            "content_type": "text", "content": "Hi", "conversation": convo_data(),
            "created_at": "2026-07-22T09:05:00.000Z", "id": 9001,
            "inbox": {"id": 2, "name": "Website"}, "message_type": "incoming",
            "private": False, "sender": CONTACT, "source_id": None, "event": event, **fields}


def deliver(payload: dict[str, Any], tenant: str | None = None) -> Mapped:
    mapped = map_delivery(orjson.dumps(payload), {"x-chatwoot-delivery": "d-1"}, tenant)
    for canonical in mapped.events:
        event_adapter.validate_python(canonical)
    return mapped


AT = "2026-07-22T09:05:00.000Z"  # 1784710800 + 300 s
T0 = "2026-07-22T09:00:00.000Z"  # 1784710800
T0_25 = "2026-07-22T09:00:00.250Z"  # updated_at 1784710800.25


def mid(*parts: object) -> str:
    return event_id("chatwoot", "7", 42, 9001, "message_created", *parts)


def test_conversation_created() -> None:
    payload = {**convo_data(priority="high", meta={"sender": CONTACT, "assignee": None,
                                                    "team": {"id": 4, "name": "billing"}}),
               "event": "conversation_created"}
    assert deliver(payload, "7").events == [{
        "id": event_id("chatwoot", "7", 42, "conversation_created", "conversation.created"),
        "type": "conversation.created", "at": T0, "conversation_id": "chatwoot:7:42",
        "source": "chatwoot", "team": "chatwoot:7:4", "team_name": "billing", "channel": "chat",
        "priority": "high", "customer_id": "chatwoot:7:501"}]


def test_incoming_message_from_the_customer() -> None:
    assert deliver(message("message_created")).events == [{
        "id": mid("message.created"), "type": "message.created", "at": AT,
        "conversation_id": "chatwoot:7:42", "source": "chatwoot", "author": "customer"}]


def test_agent_reply_and_private_note() -> None:
    assert deliver(message("message_created", message_type="outgoing", sender=AGENT)).events \
        == [{"id": mid("message.created"), "type": "message.created", "at": AT,
             "conversation_id": "chatwoot:7:42", "source": "chatwoot", "author": "agent",
             "agent_id": "chatwoot:7:12", "agent_name": "Leela"}]
    assert deliver(message("message_created", message_type="outgoing", sender=AGENT,
                           private=True)).events == [{
        "id": mid("message.created"), "type": "message.created", "at": AT,
        "conversation_id": "chatwoot:7:42", "source": "chatwoot", "author": "agent",
        "agent_id": "chatwoot:7:12", "agent_name": "Leela", "internal": True}]


@pytest.mark.parametrize("fields", [
    {"sender": BOT},
    {"sender": None},
    {"sender": AGENT, "content_attributes": {"automation_rule_id": 5}},
    {"sender": None, "additional_attributes": {"campaign_id": 8}},
    {"sender": None, "message_type": "template", "content_type": "input_csat"},
])
def test_bots_and_automations(fields: dict[str, Any]) -> None:
    payload = message("message_created", **{"message_type": "outgoing", **fields})
    assert deliver(payload).events == [{
        "id": mid("message.created"), "type": "message.created", "at": AT,
        "conversation_id": "chatwoot:7:42", "source": "chatwoot", "author": "bot",
        "automated": True}]


def test_incoming_message_on_a_resolved_conversation_reopens_it_first() -> None:
    payload = message("message_created", conversation=convo_data(status="resolved"))
    assert deliver(payload).events == [
        {"id": mid("conversation.status_changed", "open"),
         "type": "conversation.status_changed", "at": AT, "conversation_id": "chatwoot:7:42",
         "source": "chatwoot", "status": "open", "by": "customer"},
        {"id": mid("message.created"), "type": "message.created", "at": AT,
         "conversation_id": "chatwoot:7:42", "source": "chatwoot", "author": "customer"}]


@pytest.mark.parametrize(("previous", "status"), [
    ("open", "pending"), ("open", "snoozed"), ("open", "resolved"), ("resolved", "open")])
def test_status_changed(previous: str, status: str) -> None:
    payload = {**convo_data(status=status), "event": "conversation_status_changed",
               "changed_attributes": [{"status": {"previous_value": previous,
                                                  "current_value": status}}]}
    assert deliver(payload, "7").events == [{
        "id": event_id("chatwoot", "7", 42, "status", status, 1784710800.25),
        "type": "conversation.status_changed", "at": T0_25, "conversation_id": "chatwoot:7:42",
        "source": "chatwoot", "status": status, "by": "system"}]


def test_bot_handoff_is_pending_to_open() -> None:
    payload = {**convo_data(status="open"), "event": "conversation_status_changed",
               "changed_attributes": [{"status": {"previous_value": "pending",
                                                  "current_value": "open"}}]}
    assert deliver(payload, "7").events == [
        {"id": event_id("chatwoot", "7", 42, "status", "open", 1784710800.25),
         "type": "conversation.status_changed", "at": T0_25, "conversation_id": "chatwoot:7:42",
         "source": "chatwoot", "status": "open", "by": "bot"},
        {"id": event_id("chatwoot", "7", 42, "handed_off", 1784710800.25),
         "type": "conversation.handed_off", "at": T0_25, "conversation_id": "chatwoot:7:42",
         "source": "chatwoot"}]


def test_status_in_conversation_updated_duplicates_the_status_webhook() -> None:
    change = [{"status": {"previous_value": "open", "current_value": "resolved"}}]
    updated = deliver({**convo_data(status="resolved"), "event": "conversation_updated",
                       "changed_attributes": change}, "7")
    status = deliver({**convo_data(status="resolved"), "event": "conversation_status_changed",
                      "changed_attributes": change}, "7")
    assert updated.events == status.events


def test_assignee_changes() -> None:
    payload = {**convo_data(meta={"sender": CONTACT, "assignee": AGENT, "team": None}),
               "event": "conversation_updated",
               "changed_attributes": [{"assignee_id": {"previous_value": None,
                                                       "current_value": 12}},
                                      {"updated_at": {"previous_value": "x",
                                                      "current_value": "y"}}]}
    assert deliver(payload, "7").events == [{
        "id": event_id("chatwoot", "7", 42, "assignee", 12, 1784710800.25),
        "type": "conversation.assigned", "at": T0_25, "conversation_id": "chatwoot:7:42",
        "source": "chatwoot", "agent_id": "chatwoot:7:12", "method": "push",
        "agent_name": "Leela"}]
    payload["changed_attributes"] = [{"assignee_id": {"previous_value": 12,
                                                      "current_value": None}}]
    assert deliver(payload, "7").events == [{
        "id": event_id("chatwoot", "7", 42, "assignee", None, 1784710800.25),
        "type": "conversation.unassigned", "at": T0_25, "conversation_id": "chatwoot:7:42",
        "source": "chatwoot"}]


def test_csat_response_is_a_rating() -> None:
    # The CSAT survey is a template message (content_type input_csat); the answer updates it:
    # content_attributes.submitted_values.csat_survey_response {rating, feedback_message}.
    payload = message(
        "message_updated", message_type="template", content_type="input_csat", sender=None,
        conversation=convo_data(meta={"sender": CONTACT, "assignee": AGENT, "team": None}),
        content_attributes={"submitted_values": {"csat_survey_response": {
            "rating": 4, "feedback_message": "quick"}}})
    assert deliver(payload).events == [{
        "id": event_id("chatwoot", "7", 42, 9001, "message_updated", "rating", 4),
        "type": "rating.submitted", "at": AT, "conversation_id": "chatwoot:7:42",
        "source": "chatwoot", "survey": "csat", "score": 4, "about": "agent",
        "agent_id": "chatwoot:7:12", "agent_name": "Leela", "comment": "quick"}]


def test_tenant_from_the_body_else_the_argument() -> None:
    [event] = deliver(message("message_created"), "other").events
    assert event["conversation_id"] == "chatwoot:7:42"
    no_account = {k: v for k, v in message("message_created").items() if k != "account"}
    [event] = deliver(no_account, None).events
    assert event["conversation_id"] == "chatwoot:default:42"


def test_redelivery_gives_identical_events() -> None:
    for payload in (message("message_created", conversation=convo_data(status="resolved")),
                    {**convo_data(), "event": "conversation_created"}):
        assert deliver(payload, "7") == deliver(payload, "7")


def test_ignored() -> None:
    for payload in ({"event": "contact_created", "id": 1},
                    {"event": "webwidget_triggered"},
                    {"event": "conversation_typing_on"},
                    message("message_updated"),  # an edit, not a CSAT answer
                    message("message_created", message_type="activity"),
                    {**convo_data(), "event": "conversation_updated",
                     "changed_attributes": [{"label_list": {"previous_value": [],
                                                            "current_value": ["x"]}}]}):
        mapped = deliver(payload, "7")
        assert mapped.events == [] and mapped.ignored, payload["event"]


def test_unmappable() -> None:
    with pytest.raises(Unmappable, match="event"):
        deliver({"id": 1})
    with pytest.raises(Unmappable, match="JSON"):
        map_delivery(b"", {}, None)
    with pytest.raises(Unmappable, match="created_at"):
        deliver(message("message_created", created_at=None))
    with pytest.raises(Unmappable, match="status"):
        deliver({**convo_data(status="weird"), "event": "conversation_status_changed"})
    with pytest.raises(Unmappable, match="rating"):
        deliver(message("message_updated", content_attributes={"submitted_values": {
            "csat_survey_response": {"rating": 9}}}))
    with pytest.raises(Unmappable, match="id is missing"):
        deliver(message("message_created", conversation={"status": "open"}))


def test_older_time_formats() -> None:
    # The guide's sample writes "2020-03-03 13:05:57 UTC"; push data writes Unix seconds.
    [event] = deliver(message("message_created", created_at="2020-03-03 13:05:57 UTC")).events
    assert event["at"] == "2020-03-03T13:05:57.000Z"
    [event] = deliver(message("message_created", created_at=1583240757)).events
    assert event["at"] == "2020-03-03T13:05:57.000Z"

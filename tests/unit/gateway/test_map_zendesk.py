"""Zendesk event deliveries → canonical events (service/gateway/vendors/zendesk.py).

Every real payload in /work/shared/data/webhooks/zendesk/ is read from there (never copied);
the expected events are written by hand from the payload and Zendesk's event docs. Times: the
nanoseconds of ``time`` are cut to milliseconds (…07.672717030Z → …07.672Z).
"""

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas import event_adapter
from service.gateway.canonical import Mapped, Unmappable, event_id
from service.gateway.vendors.zendesk import map_delivery

DATA = Path("/work/shared/data/webhooks/zendesk")
ACCOUNT = "22129848"
TICKET = "zendesk:22129848:5158"
GROUP = "zendesk:22129848:8447320466430"

# Hand-written from Zendesk's "Agent Availability Events" page (Agent Per Channel Status
# Changed example: account_id, detail, event, id); ``time``, ``subject`` and ``type`` added by
# hand in the shape every Zendesk event has.
AGENT_STATE: dict[str, Any] = {
    "account_id": 2,
    "detail": {"account_id": "2", "agent_id": "10011", "version": "3"},
    "event": {
        "updated_at": "2023-04-05T23:30:58.642630335Z",
        "previous_state": "offline",
        "new_state": "online",
        "channel": "support",
    },
    "id": "01GX79ST1QX01C889XV42S2J5T",
    "subject": "zen:agent:10011",
    "time": "2023-04-05T23:30:58.642630335Z",
    "type": "zen:event-type:agent.state_changed",
    "zendesk_event_version": "2022-11-06",
}


def raw(fixture: str) -> bytes:
    return (DATA / f"{fixture}.json").read_bytes()


def loaded(fixture: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(raw(fixture))
    return document


def run(body: bytes | dict[str, Any], tenant: str | None = None) -> Mapped:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    mapped = map_delivery(data, {"content-type": "application/json"}, tenant)
    for event in mapped.events:
        event_adapter.validate_python(event)
    return mapped


def eid(*parts: str, tenant: str = ACCOUNT) -> str:
    return event_id("zendesk", tenant, *parts)


def test_ticket_created() -> None:
    # via web_service (the API) → other; HIGH → high; submitter = requester → customer.
    assert run(raw("dust_ticket_created")) == Mapped("zen:event-type:ticket.created", [
        {"id": eid("cbe4028c-7239-495d-b020-f22348516046"), "type": "conversation.created",
         "at": "2025-01-08T10:12:07.672Z", "conversation_id": TICKET, "source": "zendesk",
         "team": GROUP, "channel": "other", "priority": "high",
         "customer_id": "zendesk:22129848:8447388090494", "initiator": "customer"},
    ])


def test_agent_public_comment() -> None:
    assert run(raw("dust_ticket_comment_added")) == Mapped(
        "zen:event-type:ticket.comment_added", [
            {"id": eid("d4f5c389-8f4a-4c2e-a1b9-8e4f39c71d52"), "type": "message.created",
             "at": "2025-01-08T14:25:30.123Z", "conversation_id": TICKET, "source": "zendesk",
             "team": GROUP, "author": "agent",
             "agent_id": "zendesk:22129848:8447388090495", "agent_name": "Support Agent"},
        ])


def test_agent_assignment_changed() -> None:
    # event.current is an integer here; the trimmed detail has no group and no actor → push.
    assert run(raw("dust_ticket_agent_assignment_changed")) == Mapped(
        "zen:event-type:ticket.agent_assignment_changed", [
            {"id": eid("c6d7e8f9-0a1b-2c3d-4e5f-6a7b8c9d0e1f"),
             "type": "conversation.assigned", "at": "2025-01-08T12:15:45.789Z",
             "conversation_id": TICKET, "source": "zendesk",
             "agent_id": "zendesk:22129848:8447388090496", "method": "push"},
        ])


def test_status_solved_by_the_assignee() -> None:
    # actor 8447388090494 is the assignee (and, in dust's example, also the requester):
    # an assignee is an agent, so by agent.
    assert run(raw("dust_ticket_status_changed")) == Mapped(
        "zen:event-type:ticket.status_changed", [
            {"id": eid("a8b9c1d2-3e4f-5a6b-7c8d-9e0f1a2b3c4d"),
             "type": "conversation.status_changed", "at": "2025-01-08T16:45:20.987Z",
             "conversation_id": TICKET, "source": "zendesk", "team": GROUP,
             "status": "resolved", "by": "agent",
             "agent_id": "zendesk:22129848:8447388090494"},
        ])


def test_priority_changed_is_ignored() -> None:
    assert run(raw("dust_ticket_priority_changed")) == Mapped(
        "zen:event-type:ticket.priority_changed", [], ignored=True)


@pytest.mark.parametrize("fixture", [
    "dust_ticket_created", "dust_ticket_comment_added", "dust_ticket_agent_assignment_changed",
    "dust_ticket_status_changed", "dust_ticket_priority_changed",
])
def test_redelivery_gives_identical_events(fixture: str) -> None:
    assert run(raw(fixture)) == run(raw(fixture))


def test_account_id_wins_over_the_argument_which_is_the_fallback() -> None:
    assert run(raw("dust_ticket_created"), tenant="other").events[0]["conversation_id"] == TICKET
    body = loaded("dust_ticket_agent_assignment_changed")
    del body["account_id"]
    assert run(body, tenant="acme").events == [
        {"id": eid("c6d7e8f9-0a1b-2c3d-4e5f-6a7b8c9d0e1f", tenant="acme"),
         "type": "conversation.assigned", "at": "2025-01-08T12:15:45.789Z",
         "conversation_id": "zendesk:acme:5158", "source": "zendesk",
         "agent_id": "zendesk:acme:8447388090496", "method": "push"}]


def test_customer_comment_reopens_first_then_the_message() -> None:
    body = loaded("dust_ticket_comment_added")
    body["event"]["comment"]["author"] = {"id": "8447388090494", "is_staff": False,
                                         "name": "Customer"}
    assert run(body).events == [
        {"id": eid("d4f5c389-8f4a-4c2e-a1b9-8e4f39c71d52", "reopen"),
         "type": "conversation.status_changed", "at": "2025-01-08T14:25:30.123Z",
         "conversation_id": TICKET, "source": "zendesk", "team": GROUP,
         "status": "open", "by": "customer"},
        {"id": eid("d4f5c389-8f4a-4c2e-a1b9-8e4f39c71d52"), "type": "message.created",
         "at": "2025-01-08T14:25:30.123Z", "conversation_id": TICKET, "source": "zendesk",
         "team": GROUP, "author": "customer"},
    ]
    body["detail"]["status"] = "Solved"  # the comment did not reopen it: no status
    assert [e["type"] for e in run(body).events] == ["message.created"]


def test_private_agent_comment_is_internal_and_system_comment_is_automated() -> None:
    body = loaded("dust_ticket_comment_added")
    body["event"]["comment"]["is_public"] = False
    event = run(body).events[0]
    assert event["internal"] is True and event["author"] == "agent"
    body["event"]["comment"]["is_public"] = True
    body["event"]["comment"]["author"] = {"id": -1, "is_staff": True, "name": "Zendesk"}
    event = run(body).events[0]
    assert event["automated"] is True and "agent_id" not in event


def test_assignment_to_nobody_is_unassigned_and_self_assignment_is_pull() -> None:
    body = loaded("dust_ticket_agent_assignment_changed")
    body["event"]["current"] = None
    assert run(body).events == [
        {"id": eid("c6d7e8f9-0a1b-2c3d-4e5f-6a7b8c9d0e1f"),
         "type": "conversation.unassigned", "at": "2025-01-08T12:15:45.789Z",
         "conversation_id": TICKET, "source": "zendesk"}]
    body["event"]["current"] = 8447388090496
    body["detail"]["actor_id"] = "8447388090496"
    assert run(body).events[0]["method"] == "pull"


@pytest.mark.parametrize("vendor, canonical", [
    ("NEW", "open"), ("Open", "open"), ("pending", "pending"), ("HOLD", "pending"),
    ("solved", "resolved"), ("CLOSED", "closed"),
])
def test_status_values(vendor: str, canonical: str) -> None:
    body = loaded("dust_ticket_status_changed")
    body["event"]["current"] = vendor
    assert run(body).events[0]["status"] == canonical


@pytest.mark.parametrize("vendor", ["DELETED", "archived", "scrubbed"])
def test_status_without_canonical_is_ignored(vendor: str) -> None:
    body = loaded("dust_ticket_status_changed")
    body["event"]["current"] = vendor
    assert run(body) == Mapped("zen:event-type:ticket.status_changed", [], ignored=True)


def test_status_by_the_requester_or_by_zendesk() -> None:
    body = loaded("dust_ticket_status_changed")
    body["detail"]["assignee_id"] = "8447388090495"  # someone else holds it
    event = run(body).events[0]
    assert event["by"] == "customer" and "agent_id" not in event
    body["detail"]["actor_id"] = "-1"
    body["event"]["current"] = "CLOSED"
    event = run(body).events[0]
    assert (event["by"], event["status"]) == ("system", "closed")
    body["detail"]["actor_id"] = "8447388090499"  # another agent
    assert run(body).events[0]["agent_id"] == "zendesk:22129848:8447388090499"


def test_created_by_an_agent_for_a_customer_on_other_channels() -> None:
    body = loaded("dust_ticket_created")
    body["detail"]["submitter_id"] = "8447388090495"
    body["detail"]["priority"] = None
    for vendor, channel in [("email", "email"), ("chat", "chat"), ("voice", "phone"),
                            ("twitter", "social"), ("web", "other")]:
        body["detail"]["via"]["channel"] = vendor
        event = run(body).events[0]
        assert (event["channel"], event["initiator"]) == (channel, "agent")
        assert "priority" not in event


def test_group_assignment_changed_is_ignored() -> None:
    body = loaded("dust_ticket_status_changed")
    body["type"] = "zen:event-type:ticket.group_assignment_changed"
    body["event"] = {"previous": "8447320466430", "current": "8447320466431"}
    assert run(body) == Mapped("zen:event-type:ticket.group_assignment_changed", [],
                               ignored=True)


def test_other_event_types_are_ignored() -> None:
    body = {"type": "zen:event-type:user.active_changed", "account_id": 1, "id": "x",
            "time": "2099-07-04T05:33:18Z", "detail": {}, "event": {}}
    assert run(body) == Mapped("zen:event-type:user.active_changed", [], ignored=True)


def test_agent_per_channel_state() -> None:
    assert run(AGENT_STATE) == Mapped("zen:event-type:agent.state_changed", [
        {"id": eid("01GX79ST1QX01C889XV42S2J5T", tenant="2"), "type": "agent.status_changed",
         "at": "2023-04-05T23:30:58.642Z", "agent_id": "zendesk:2:10011",
         "status": "available", "source": "zendesk"},
    ])
    assert run(AGENT_STATE) == run(AGENT_STATE)


@pytest.mark.parametrize("state, presence", [
    ("away", "away"), ("OFFLINE", "offline"), ("Online", "available"),
])
def test_agent_states(state: str, presence: str) -> None:
    body = json.loads(json.dumps(AGENT_STATE))
    body["event"]["new_state"] = state
    assert run(body).events[0]["status"] == presence


def test_agent_state_of_another_channel_is_ignored() -> None:
    body = json.loads(json.dumps(AGENT_STATE))
    body["event"]["channel"] = "messaging"
    assert run(body) == Mapped("zen:event-type:agent.state_changed", [], ignored=True)


def test_agent_unified_state() -> None:
    body = json.loads(json.dumps(AGENT_STATE))
    body["type"] = "zen:event-type:agent.unified_state_changed"
    del body["event"]["channel"]
    body["event"]["new_state"] = "away"
    assert run(body).events[0]["status"] == "away"
    body["event"]["new_state"] = {"id": 123, "name": "In a meeting"}  # a custom status
    assert run(body).ignored


@pytest.mark.parametrize("body, field", [
    (b"{", "not JSON"),
    (b'"text"', "JSON object"),
    (b'{"id": "1", "account_id": 1}', "type"),
    (b'{"type": "zen:event-type:ticket.created", "time": "2025-01-08T10:12:07Z",'
     b' "detail": {"id": "5"}}', r"id \(of the event\)"),
    (b'{"type": "zen:event-type:ticket.created", "id": "e", "time": "2025-01-08T10:12:07Z",'
     b' "detail": {}}', "detail.id"),
    (b'{"type": "zen:event-type:ticket.created", "id": "e", "time": "yesterday",'
     b' "detail": {"id": "5"}}', "time"),
    (b'{"type": "zen:event-type:ticket.comment_added", "id": "e",'
     b' "time": "2025-01-08T10:12:07Z", "detail": {"id": "5"}, "event": {}}', "event.comment"),
    (b'{"type": "zen:event-type:agent.state_changed", "id": "e", "time": "2025-01-08T10:12:07Z",'
     b' "detail": {}, "event": {"channel": "support", "new_state": "online"}}', "agent_id"),
])
def test_unmappable_names_the_field(body: bytes, field: str) -> None:
    with pytest.raises(Unmappable, match=field):
        map_delivery(body, {}, None)


def test_ticket_id_from_the_subject_when_detail_has_none() -> None:
    body = loaded("dust_ticket_agent_assignment_changed")
    del body["detail"]["id"]
    assert run(body).events[0]["conversation_id"] == TICKET

"""Freshdesk mapper: every real payload in ../shared/data/webhooks/freshdesk (read in place,
never copied), with the canonical events written by hand from the payload, WEBHOOKS.md §4
("FD" rows) and the mapping choices in the module docstring."""

import hashlib
from pathlib import Path

import orjson
import pytest

from schemas import event_adapter
from service.gateway.canonical import Mapped, Unmappable, event_id
from service.gateway.vendors.freshdesk import map_delivery, parse_triggered_event

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "webhooks" / "freshdesk"
RECEIVED = {"x-support-kpi-received-at": "2026-07-22T10:00:00Z"}
AT = "2026-07-22T10:00:00.000Z"


def raw(file: str) -> bytes:
    return (DATA / file).read_bytes()


def fid(file: str, triggered: str, tenant: str | None = None) -> str:
    """The id a delivery of ``file`` must get: ticket id 11 (every fixture), the triggered
    event as written in the file, and a sha256 of its raw bytes."""
    return event_id("freshdesk", tenant, "11", triggered, hashlib.sha256(raw(file)).hexdigest())


def check(mapped: Mapped) -> None:
    for event in mapped.events:
        event_adapter.validate_python(event)


def test_every_real_payload_is_covered() -> None:
    assert sorted(p.name for p in DATA.glob("*.json")) == [
        "zulip_priority_changed.json", "zulip_private_note.json", "zulip_public_note.json",
        "zulip_status_changed.json", "zulip_status_changed_fixture_with_missing_key.json",
        "zulip_ticket_created.json"]


def test_ticket_created() -> None:
    # {ticket_action:created}, ticket 11, priority "High", no ticket_source in this template.
    mapped = map_delivery(raw("zulip_ticket_created.json"), RECEIVED, None)
    assert mapped.events == [{
        "id": fid("zulip_ticket_created.json", "{ticket_action:created}"),
        "type": "conversation.created", "at": AT,
        "conversation_id": "freshdesk:default:11", "source": "freshdesk",
        "channel": "other", "initiator": "customer", "priority": "high"}]
    assert not mapped.ignored
    check(mapped)


def test_private_note_is_internal() -> None:
    mapped = map_delivery(raw("zulip_private_note.json"), RECEIVED, "acme")
    assert mapped.events == [{
        "id": fid("zulip_private_note.json", "{note_type:private}", "acme"),
        "type": "message.created", "at": AT,
        "conversation_id": "freshdesk:acme:11", "source": "freshdesk",
        "author": "agent", "agent_id": "freshdesk:acme:unknown", "internal": True}]
    check(mapped)


def test_public_note_is_an_agent_message() -> None:
    mapped = map_delivery(raw("zulip_public_note.json"), RECEIVED, None)
    assert mapped.events == [{
        "id": fid("zulip_public_note.json", "{note_type:public}"),
        "type": "message.created", "at": AT,
        "conversation_id": "freshdesk:default:11", "source": "freshdesk",
        "author": "agent", "agent_id": "freshdesk:default:unknown", "internal": False}]
    check(mapped)


def test_status_to_custom_code_is_pending() -> None:
    # {status:{from:4,to:6}}: 6 is a custom status ("Waiting on Customer") → pending.
    mapped = map_delivery(raw("zulip_status_changed.json"), RECEIVED, None)
    assert mapped.events == [{
        "id": fid("zulip_status_changed.json", "{status:{from:4,to:6}}"),
        "type": "conversation.status_changed", "at": AT,
        "conversation_id": "freshdesk:default:11", "source": "freshdesk",
        "status": "pending", "by": "system"}]
    check(mapped)


def test_priority_change_is_ignored() -> None:
    assert map_delivery(raw("zulip_priority_changed.json"), RECEIVED, None) == Mapped(
        "priority", [], ignored=True)


def test_missing_triggered_event_is_unmappable() -> None:
    with pytest.raises(Unmappable, match="triggered_event"):
        map_delivery(raw("zulip_status_changed_fixture_with_missing_key.json"), RECEIVED, None)


def test_redelivery_gives_identical_events() -> None:
    for file in ("zulip_ticket_created.json", "zulip_private_note.json",
                 "zulip_status_changed.json"):
        first = map_delivery(raw(file), RECEIVED, "t")
        # A retry comes later: another receipt time, the same ids.
        again = map_delivery(raw(file), {"x-support-kpi-received-at": "2026-07-22T10:05:00Z"},
                             "t")
        assert [e["id"] for e in first.events] == [e["id"] for e in again.events]
        assert first == map_delivery(raw(file), RECEIVED, "t")


def test_no_event_time_is_unmappable() -> None:
    with pytest.raises(Unmappable, match="event time"):
        map_delivery(raw("zulip_ticket_created.json"), {}, None)


def body(**ticket: str) -> bytes:
    return orjson.dumps({"freshdesk_webhook": {"ticket_id": "42", **ticket}})


@pytest.mark.parametrize(("code", "status"), [
    ("2", "open"), ("3", "pending"), ("4", "resolved"), ("5", "closed"), ("7", "pending")])
def test_status_codes(code: str, status: str) -> None:
    mapped = map_delivery(body(triggered_event=f"{{status:{{from:2,to:{code}}}}}"),
                          RECEIVED, None)
    assert [e["status"] for e in mapped.events] == [status]
    check(mapped)


def test_body_time_wins_over_receipt_time() -> None:
    payload = body(triggered_event="{status:{from:2,to:4}}",
                   triggered_at="2026-07-22T09:59:30+02:00")
    [event] = map_delivery(payload, RECEIVED, None).events
    assert event["at"] == "2026-07-22T07:59:30.000Z"


def test_responder_change_assigns_and_unassigns() -> None:
    payload = body(triggered_event="{responder_id:{from:,to:5001}}")
    assert map_delivery(payload, RECEIVED, None).events == [{
        "id": event_id("freshdesk", None, "42", "{responder_id:{from:,to:5001}}",
                       hashlib.sha256(payload).hexdigest()),
        "type": "conversation.assigned", "at": AT, "conversation_id": "freshdesk:default:42",
        "source": "freshdesk", "agent_id": "freshdesk:default:5001", "method": "push"}]
    payload = body(triggered_event="{responder_id:{from:5001,to:}}")
    mapped = map_delivery(payload, RECEIVED, None)
    assert mapped.events == [{
        "id": event_id("freshdesk", None, "42", "{responder_id:{from:5001,to:}}",
                       hashlib.sha256(payload).hexdigest()),
        "type": "conversation.unassigned", "at": AT, "conversation_id": "freshdesk:default:42",
        "source": "freshdesk"}]
    check(mapped)


def test_created_channel_from_source_and_agent_replies() -> None:
    [created] = map_delivery(body(triggered_event="{ticket_action:created}",
                                  ticket_source="Outbound Email", ticket_priority="Medium"),
                             RECEIVED, None).events
    assert (created["channel"], created["initiator"], created["priority"]) == (
        "email", "agent", "normal")
    [reply] = map_delivery(body(triggered_event="{ticket_action:updated}", event="agent_reply",
                                agent_id="77"), RECEIVED, None).events
    assert (reply["author"], reply["agent_id"]) == ("agent", "freshdesk:default:77")
    [reply] = map_delivery(body(triggered_event="{ticket_action:updated}",
                                event="customer_reply"), RECEIVED, None).events
    assert reply["author"] == "customer" and "agent_id" not in reply
    event_adapter.validate_python(reply)


def test_parser() -> None:
    assert parse_triggered_event("{status:{from:4,to:6}}") == {"status": {"from": "4", "to": "6"}}
    assert parse_triggered_event(" {note_type:private} ") == {"note_type": "private"}
    assert parse_triggered_event("{responder_id:{from:null,to:}}") == {
        "responder_id": {"from": None, "to": None}}
    for bad in ("status:open", "{status:{from:4,to:6}", "{a:b}x", "{:b}"):
        with pytest.raises(Unmappable, match="triggered_event"):
            parse_triggered_event(bad)


def test_unknown_event_is_ignored_and_bad_bodies_unmappable() -> None:
    assert map_delivery(body(triggered_event="{ticket_action:updated}"), RECEIVED, None) == \
        Mapped("ticket_action", [], ignored=True)
    with pytest.raises(Unmappable, match="JSON"):
        map_delivery(b"{not json", RECEIVED, None)
    with pytest.raises(Unmappable, match="freshdesk_webhook"):
        map_delivery(b'{"ticket_id": "1"}', RECEIVED, None)
    with pytest.raises(Unmappable, match="id is missing"):
        map_delivery(orjson.dumps({"freshdesk_webhook": {"triggered_event": "{note_type:x}"}}),
                     RECEIVED, None)

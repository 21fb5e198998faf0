"""Front deliveries → canonical events (service/gateway/vendors/front.py).

Every real payload in /work/shared/data/webhooks/front/ is read from there (never copied) and
its expected events are written by hand from the payload and Front's docs: ids via
``event_id`` from ids read off the payload, times converted by hand (1518307200 is
2018-02-11T00:00:00Z, so 1518309200 is +2000 s = 00:33:20).
"""

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas import event_adapter
from service.gateway.canonical import Mapped, Unmappable, event_id
from service.gateway.vendors.front import map_delivery

DATA = Path("/work/shared/data/webhooks/front")
T = "acme"


def raw(fixture: str) -> bytes:
    return (DATA / f"{fixture}.json").read_bytes()


def loaded(fixture: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(raw(fixture))
    return document


def run(body: bytes | dict[str, Any], tenant: str | None = T) -> Mapped:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    mapped = map_delivery(data, {"content-type": "application/json"}, tenant)
    for event in mapped.events:
        event_adapter.validate_python(event)
    return mapped


def eid(*parts: str, tenant: str | None = T) -> str:
    return event_id("front", tenant, *parts)


def test_inbound_message_creates_reopens_then_customer_message() -> None:
    # conversation.id is "2x9c5v" in this (edited) fixture although its links say cnv_keocka:
    # the id field is what the mapper uses. created_at 1518309203.872 (after the message!).
    mapped = run(raw("zulip_inbound_message"))
    assert mapped == Mapped("inbound", [
        {"id": eid("conversation", "2x9c5v", "created"), "type": "conversation.created",
         "at": "2018-02-11T00:33:23.872Z", "conversation_id": "front:acme:2x9c5v",
         "source": "front", "initiator": "customer"},
        {"id": eid("evt_28duo2q", "reopen"), "type": "conversation.status_changed",
         "at": "2018-02-11T00:33:20.000Z", "conversation_id": "front:acme:2x9c5v",
         "source": "front", "status": "open", "by": "customer"},
        {"id": eid("evt_28duo2q"), "type": "message.created",
         "at": "2018-02-11T00:33:20.000Z", "conversation_id": "front:acme:2x9c5v",
         "source": "front", "author": "customer"},
    ])


def test_outbound_reply_is_an_agent_message_from_the_target_author() -> None:
    # source is the inbox (a list), so the agent is target.data.author.id = tea_40yq, whose
    # first_name and last_name are Leela and Turanga.
    assert run(raw("zulip_outbound_reply")) == Mapped("out_reply", [
        {"id": eid("evt_28duq42"), "type": "message.created",
         "at": "2018-02-11T00:35:42.896Z", "conversation_id": "front:acme:cnv_keocka",
         "source": "front", "author": "agent", "agent_id": "front:acme:tea_40yq",
         "agent_name": "Leela Turanga"},
    ])


def test_comment_is_an_internal_agent_message() -> None:
    # emitted_at 1518309749.673 = 00:42:29.673; source teammate tea_40z6 (Bender).
    assert run(raw("zulip_comment")) == Mapped("comment", [
        {"id": eid("evt_28duvr6"), "type": "message.created",
         "at": "2018-02-11T00:42:29.673Z", "conversation_id": "front:acme:cnv_keocka",
         "source": "front", "author": "agent", "agent_id": "front:acme:tea_40z6",
         "agent_name": "Bender Rodriguez", "internal": True},
    ])


def test_assign_by_another_teammate_is_a_push() -> None:
    # tea_40yq assigns the conversation to tea_40z6 at 1518309907.474 = 00:45:07.474.
    assert run(raw("zulip_conversation_assigned")) == Mapped("assign", [
        {"id": eid("evt_28duxju"), "type": "conversation.assigned",
         "at": "2018-02-11T00:45:07.474Z", "conversation_id": "front:acme:cnv_keocka",
         "source": "front", "agent_id": "front:acme:tea_40z6", "method": "push",
         "agent_name": "Bender Rodriguez"},
    ])


def test_archive_is_resolved_by_the_teammate() -> None:
    # 1518307966.678 = +766.678 s = 00:12:46.678
    assert run(raw("zulip_conversation_archived")) == Mapped("archive", [
        {"id": eid("evt_28du7y2"), "type": "conversation.status_changed",
         "at": "2018-02-11T00:12:46.678Z", "conversation_id": "front:acme:cnv_keo696",
         "source": "front", "status": "resolved", "by": "agent",
         "agent_id": "front:acme:tea_40yq", "agent_name": "Leela Turanga"},
    ])


def test_reopen_is_open_by_the_teammate() -> None:
    # 1518307972.956 = +772.956 s = 00:12:52.956
    assert run(raw("zulip_conversation_reopened")) == Mapped("reopen", [
        {"id": eid("evt_28du836"), "type": "conversation.status_changed",
         "at": "2018-02-11T00:12:52.956Z", "conversation_id": "front:acme:cnv_keo696",
         "source": "front", "status": "open", "by": "agent",
         "agent_id": "front:acme:tea_40yq", "agent_name": "Leela Turanga"},
    ])


def test_no_tenant_is_default() -> None:
    assert run(raw("zulip_conversation_reopened"), tenant=None).events == [
        {"id": eid("evt_28du836", tenant=None), "type": "conversation.status_changed",
         "at": "2018-02-11T00:12:52.956Z", "conversation_id": "front:default:cnv_keo696",
         "source": "front", "status": "open", "by": "agent",
         "agent_id": "front:default:tea_40yq", "agent_name": "Leela Turanga"},
    ]


@pytest.mark.parametrize("fixture", [
    "zulip_inbound_message", "zulip_outbound_reply", "zulip_comment",
    "zulip_conversation_assigned", "zulip_conversation_archived",
    "zulip_conversation_reopened",
])
def test_redelivery_gives_identical_events(fixture: str) -> None:
    first = run(raw(fixture))
    assert run(raw(fixture)) == first
    # and the ids are distinct within one delivery
    ids = [e["id"] for e in first.events]
    assert len(ids) == len(set(ids))


def test_every_inbound_of_a_conversation_carries_the_same_created() -> None:
    later = loaded("zulip_inbound_message")
    later["id"] = "evt_later"
    later["emitted_at"] = 1518310000
    first_created = run(raw("zulip_inbound_message")).events[0]
    later_events = run(later).events
    assert later_events[0] == first_created  # same id, same content: a duplicate downstream
    assert later_events[1]["id"] == eid("evt_later", "reopen")
    assert later_events[2] == {
        "id": eid("evt_later"), "type": "message.created", "at": "2018-02-11T00:46:40.000Z",
        "conversation_id": "front:acme:2x9c5v", "source": "front", "author": "customer"}


def test_application_webhook_envelope_is_unwrapped() -> None:
    envelope = {"type": "out_reply", "authorization": {"id": "cmp_abc"},
                "payload": loaded("zulip_outbound_reply")}
    assert run(envelope) == run(raw("zulip_outbound_reply"))


def test_sync_challenge_is_ignored() -> None:
    body = b'{"type": "sync", "authorization": {"id": "cmp_abc"}}'
    assert run(body) == Mapped("sync", [], ignored=True)


@pytest.mark.parametrize("kind", ["tag", "untag", "mention", "move", "restore", "forward"])
def test_types_without_kpi_are_ignored(kind: str) -> None:
    body = loaded("zulip_comment")
    body["type"] = kind
    assert run(body) == Mapped(kind, [], ignored=True)


def test_unassign() -> None:
    body = loaded("zulip_conversation_assigned")
    body["type"] = "unassign"
    body["id"] = "evt_un"
    del body["target"]
    assert run(body).events == [
        {"id": eid("evt_un"), "type": "conversation.unassigned",
         "at": "2018-02-11T00:45:07.474Z", "conversation_id": "front:acme:cnv_keocka",
         "source": "front"}]


def test_self_assignment_is_a_pull() -> None:
    body = loaded("zulip_conversation_assigned")
    body["source"] = copy.deepcopy(body["target"])  # tea_40z6 takes it
    assert run(body).events[0]["method"] == "pull"


def test_trash_is_closed_and_reminder_is_open_by_system() -> None:
    body = loaded("zulip_conversation_archived")
    body["type"] = "trash"
    assert run(body).events == [
        {"id": eid("evt_28du7y2"), "type": "conversation.status_changed",
         "at": "2018-02-11T00:12:46.678Z", "conversation_id": "front:acme:cnv_keo696",
         "source": "front", "status": "closed", "by": "agent",
         "agent_id": "front:acme:tea_40yq", "agent_name": "Leela Turanga"}]
    body["type"] = "reminder"
    body["source"] = {"_meta": {"type": "reminder"}, "data": None}
    assert run(body).events == [
        {"id": eid("evt_28du7y2"), "type": "conversation.status_changed",
         "at": "2018-02-11T00:12:46.678Z", "conversation_id": "front:acme:cnv_keo696",
         "source": "front", "status": "open", "by": "system"}]


def test_archive_by_a_rule_is_by_system() -> None:
    body = loaded("zulip_conversation_archived")
    body["source"] = {"_meta": {"type": "rule"}, "data": {"id": "rul_1"}}
    assert run(body).events[0]["by"] == "system"
    assert "agent_id" not in run(body).events[0]


def test_outbound_by_a_rule_creates_an_agent_initiated_conversation_and_an_auto_message() -> None:
    body = loaded("zulip_outbound_reply")
    body["type"] = "outbound"
    body["id"] = "evt_out"
    body["source"] = {"_meta": {"type": "rule"}, "data": {"id": "rul_1"}}
    body["target"]["data"]["author"] = None
    # conversation created_at 1518309203.872; emitted_at 1518309342.896
    assert run(body).events == [
        {"id": eid("conversation", "cnv_keocka", "created"), "type": "conversation.created",
         "at": "2018-02-11T00:33:23.872Z", "conversation_id": "front:acme:cnv_keocka",
         "source": "front", "initiator": "agent"},
        {"id": eid("evt_out"), "type": "message.created", "at": "2018-02-11T00:35:42.896Z",
         "conversation_id": "front:acme:cnv_keocka", "source": "front", "author": "agent",
         "automated": True},
    ]


def test_reply_by_a_rule_is_automated_even_with_an_author() -> None:
    body = loaded("zulip_outbound_reply")
    body["source"] = {"_meta": {"type": "rule"}, "data": {"id": "rul_1"}}
    event = run(body).events[0]
    assert event["automated"] is True and "agent_id" not in event


def test_inbound_that_stays_archived_does_not_reopen() -> None:
    body = loaded("zulip_inbound_message")
    body["conversation"]["status"] = "archived"
    types = [e["type"] for e in run(body).events]
    assert types == ["conversation.created", "message.created"]


@pytest.mark.parametrize("body, field", [
    (b"not json", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"id": "evt_1"}', "type"),
    (b'{"type": "inbound", "emitted_at": 1, "conversation": {"id": "cnv_1"}}',
     r"id \(of the event\)"),
    (b'{"type": "inbound", "id": "evt_1", "emitted_at": 1}', "conversation"),
    (b'{"type": "inbound", "id": "evt_1", "emitted_at": 1, "conversation": {}}',
     "conversation.id"),
    (b'{"type": "archive", "id": "evt_1", "emitted_at": "soon", "conversation": {"id": "c"}}',
     "emitted_at"),
    (b'{"type": "assign", "id": "evt_1", "emitted_at": 1, "conversation": {"id": "c"}}',
     "target.data.id"),
])
def test_unmappable_names_the_field(body: bytes, field: str) -> None:
    with pytest.raises(Unmappable, match=field):
        map_delivery(body, {}, T)

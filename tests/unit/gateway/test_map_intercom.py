"""The Intercom mapper against every real Intercom payload in the shared data (read in place,
never copied), with the expected canonical events written by hand from the payloads and
Intercom's docs (ids via ``canonical.event_id`` from ids read off the payloads, times
converted by hand), and the edge cases: redelivery, one part on two topics, bots, handover,
ratings, ignored topics and unmappable bodies."""

import json
from pathlib import Path
from typing import Any

import pytest

from schemas import event_adapter
from service.gateway.canonical import Mapped, Unmappable, event_id
from service.gateway.vendors.intercom import map_delivery

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
ZULIP = DATA / "webhooks" / "intercom"
HULL = DATA / "intercom_webhooks_hull"

# ids read off the payloads
ZAPP = "i6wc9ipe"
ZCONV = "intercom:i6wc9ipe:21322009097"
ZAGENT = "intercom:i6wc9ipe:1957471"
HAPP = "lkqcyt9t"
HCONV = "intercom:lkqcyt9t:137324500000000"
ANDY = "intercom:lkqcyt9t:3330619"
# the agents with the names their parts give them (``author.name``, ``assigned_to.name``)
Z_ONE = {"agent_id": ZAGENT, "agent_name": "Agent One"}
H_ANDY = {"agent_id": ANDY, "agent_name": "Andy"}


def eid(app: str, *parts: object) -> str:
    return event_id("intercom", app, *parts)


def ev(app: str, id_parts: tuple[object, ...], **fields: Any) -> dict[str, Any]:
    """An expected event: the id from Intercom's ids, ``source`` intercom, the rest as given."""
    return {"id": eid(app, *id_parts), **fields, "source": "intercom"}


def run(body: bytes | dict[str, Any], tenant: str | None = None) -> Mapped:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    mapped = map_delivery(raw, {"content-type": "application/json"}, tenant)
    for event in mapped.events:
        event_adapter.validate_python(event)
    return mapped


def read(path: Path) -> bytes:
    return path.read_bytes()


# -- expected events, by hand ---------------------------------------------------------------

Z_REPLY_ASSIGN = [  # part 2824382500: assignment by 1957471 to 1957471, with a body
    ev(ZAPP, ("2824382500", "assignment"), type="conversation.assigned",
       at="2019-03-22T21:45:11.000Z", conversation_id=ZCONV, **Z_ONE, method="pull"),
    ev(ZAPP, ("2824382500", "message"), type="message.created", at="2019-03-22T21:45:11.000Z",
       conversation_id=ZCONV, author="agent", **Z_ONE, internal=False),
]

ZULIP_EXPECTED: dict[str, list[dict[str, Any]]] = {
    "zulip_admin_away_mode_updated.json": [
        {"id": eid("abc123def", "notif_ca8a37c8-c6b7-4a5c-89bf-1491a6e53131", "away_mode"),
         "type": "agent.status_changed", "at": "2026-01-10T03:47:08.000Z",
         "agent_id": "intercom:abc123def:1234567", "agent_name": "Bo Williams", "status": "away",
         "source": "intercom", "team": "intercom:abc123def:9680998"},
    ],
    "zulip_conversation_admin_assigned.json": Z_REPLY_ASSIGN,
    "zulip_conversation_admin_replied.json": Z_REPLY_ASSIGN,
    "zulip_conversation_admin_closed.json": [
        ev(ZAPP, ("2824395628", "status", "resolved"), type="conversation.status_changed",
           at="2019-03-22T21:49:49.000Z", conversation_id=ZCONV, status="resolved", by="agent",
           **Z_ONE),
    ],
    "zulip_conversation_admin_noted.json": [
        ev(ZAPP, ("2826904904", "message"), type="message.created",
           at="2019-03-23T22:02:16.000Z", conversation_id="intercom:i6wc9ipe:21330067382",
           author="agent", **Z_ONE, internal=True),
    ],
    "zulip_conversation_admin_opened.json": [  # part_type open; assigned_to is no assignment
        ev(ZAPP, ("2826953202", "status", "open"), type="conversation.status_changed",
           at="2019-03-23T22:42:11.000Z", conversation_id="intercom:i6wc9ipe:21330229536",
           status="open", by="agent", **Z_ONE),
    ],
    "zulip_conversation_admin_snoozed.json": [
        ev(ZAPP, ("2826902108", "status", "snoozed"), type="conversation.status_changed",
           at="2019-03-23T22:00:13.000Z", conversation_id="intercom:i6wc9ipe:21330067382",
           status="snoozed", by="agent", **Z_ONE),
    ],
    "zulip_conversation_user_created.json": [  # v1: no source.type → channel other
        ev(ZAPP, ("21321941764", "created"), type="conversation.created",
           at="2019-03-22T21:29:58.000Z", conversation_id="intercom:i6wc9ipe:21321941764",
           channel="other", priority="normal", initiator="customer",
           customer_id="intercom:i6wc9ipe:5c9553cb27e377f24eed49f7"),
        ev(ZAPP, ("21321941764", "message"), type="message.created",
           at="2019-03-22T21:29:58.000Z", conversation_id="intercom:i6wc9ipe:21321941764",
           author="customer", internal=False),
    ],
    "zulip_conversation_user_replied.json": [
        ev(ZAPP, ("2824391734", "status", "open"), type="conversation.status_changed",
           at="2019-03-22T21:48:27.000Z", conversation_id=ZCONV, status="open", by="customer"),
        ev(ZAPP, ("2824391734", "message"), type="message.created",
           at="2019-03-22T21:48:27.000Z", conversation_id=ZCONV, author="customer",
           internal=False),
    ],
}

H_SNOOZED = ev(HAPP, ("6073794381", "status", "snoozed"), type="conversation.status_changed",
               at="2020-08-05T13:45:26.000Z", conversation_id=HCONV, status="snoozed", by="agent",
               **H_ANDY)
H_UNSNOOZED = ev(HAPP, ("6073794381", "status", "open"), type="conversation.status_changed",
                 at="2020-08-05T13:45:26.000Z", conversation_id=HCONV, status="open", by="agent",
                 **H_ANDY)

HULL_EXPECTED: dict[str, list[dict[str, Any]]] = {
    # an outbound message from Andy: Intercom creates it closed, i.e. waiting on the customer
    "webhook-conversation-admin-single-created.json": [
        ev(HAPP, ("137324500000000", "created"), type="conversation.created",
           at="2020-08-05T13:40:05.000Z", conversation_id=HCONV, channel="other",
           priority="normal", initiator="agent",
           customer_id="intercom:lkqcyt9t:5ee3d479d1cf3dedbee23d68"),
        ev(HAPP, ("137324500000000", "assigned"), type="conversation.assigned",
           at="2020-08-05T13:40:05.000Z", conversation_id=HCONV, **H_ANDY, method="push"),
        # the message's author names no name (Andy's name is on the assignee only)
        ev(HAPP, ("137324500000000", "message"), type="message.created",
           at="2020-08-05T13:40:05.000Z", conversation_id=HCONV, author="agent", agent_id=ANDY,
           internal=False),
        ev(HAPP, ("137324500000000", "status", "pending"), type="conversation.status_changed",
           at="2020-08-05T13:40:05.000Z", conversation_id=HCONV, status="pending", by="agent",
           agent_id=ANDY),
    ],
    # part assign_and_reopen to nobody_admin: reopen, then back to the queue
    "webhook-conversation-admin-opened.json": [
        ev(HAPP, ("6073760644", "status", "open"), type="conversation.status_changed",
           at="2020-08-05T13:42:17.000Z", conversation_id=HCONV, status="open", by="agent",
           **H_ANDY),
        ev(HAPP, ("6073760644", "assignment"), type="conversation.unassigned",
           at="2020-08-05T13:42:17.000Z", conversation_id=HCONV),
    ],
    "webhook-conversation-admin-assigned.json": [  # Andy takes it himself: pull
        ev(HAPP, ("6073773149", "assignment"), type="conversation.assigned",
           at="2020-08-05T13:43:28.000Z", conversation_id=HCONV, **H_ANDY, method="pull"),
    ],
    # topic replied, part_type open with a body (edited fixture): open (a no-op) and the reply
    "webhook-conversation-admin-replied.json": [
        ev(HAPP, ("6073780765", "status", "open"), type="conversation.status_changed",
           at="2020-08-05T13:44:09.000Z", conversation_id=HCONV, status="open", by="agent",
           **H_ANDY),
        ev(HAPP, ("6073780765", "message"), type="message.created",
           at="2020-08-05T13:44:09.000Z", conversation_id=HCONV, author="agent", **H_ANDY,
           internal=False),
    ],
    "webhook-conversation-admin-noted.json": [
        ev(HAPP, ("6073788584", "message"), type="message.created",
           at="2020-08-05T13:44:54.000Z", conversation_id=HCONV, author="agent", **H_ANDY,
           internal=True),
    ],
    "webhook-conversation-admin-snoozed.json": [H_SNOOZED],
    # the topic decides the status; this edited fixture carries the snoozed part
    "webhook-conversation-admin-unsnoozed.json": [H_UNSNOOZED],
    "webhook-conversation-part-tag-created.json": [],
    "webhook-conversation-part-redacted.json": [],
    "webhook-conversation-admin-closed.json": [
        ev(HAPP, ("6073838784", "status", "resolved"), type="conversation.status_changed",
           at="2020-08-05T13:49:28.000Z", conversation_id=HCONV, status="resolved", by="agent",
           **H_ANDY),
    ],
    # another workspace: admin 3197195 writes, Andy (3330619) is the assignee
    "webhook-conversation-admin-single-created-lead.json": [
        ev("iynax7cx", ("15494800000000", "created"), type="conversation.created",
           at="2020-08-11T00:42:02.000Z", conversation_id="intercom:iynax7cx:15494800000000",
           channel="other", priority="normal", initiator="agent",
           customer_id="intercom:iynax7cx:59e0e10b12ce6cb8f7a30587"),
        ev("iynax7cx", ("15494800000000", "assigned"), type="conversation.assigned",
           at="2020-08-11T00:42:02.000Z", conversation_id="intercom:iynax7cx:15494800000000",
           agent_id="intercom:iynax7cx:3330619", agent_name="Andy",
           method="push"),
        ev("iynax7cx", ("15494800000000", "message"), type="message.created",
           at="2020-08-11T00:42:02.000Z", conversation_id="intercom:iynax7cx:15494800000000",
           author="agent", agent_id="intercom:iynax7cx:3197195", internal=False),
        ev("iynax7cx", ("15494800000000", "status", "pending"),
           type="conversation.status_changed", at="2020-08-11T00:42:02.000Z",
           conversation_id="intercom:iynax7cx:15494800000000", status="pending", by="agent",
           agent_id="intercom:iynax7cx:3197195"),
    ],
}

HULL_IGNORED = {"webhook-conversation-part-tag-created.json",
                "webhook-conversation-part-redacted.json"}

# conversation_events.jsonl: the same 11 bodies sorted by created_at
JSONL_ORDER = [
    "webhook-conversation-admin-single-created.json",
    "webhook-conversation-admin-opened.json",
    "webhook-conversation-admin-assigned.json",
    "webhook-conversation-admin-replied.json",
    "webhook-conversation-admin-noted.json",
    "webhook-conversation-admin-snoozed.json",
    "webhook-conversation-admin-unsnoozed.json",
    "webhook-conversation-part-tag-created.json",
    "webhook-conversation-part-redacted.json",
    "webhook-conversation-admin-closed.json",
    "webhook-conversation-admin-single-created-lead.json",
]


def test_every_payload_file_has_an_expectation() -> None:
    assert {p.name for p in ZULIP.glob("*.json")} == set(ZULIP_EXPECTED)
    assert {p.name for p in HULL.glob("*.json")} == set(HULL_EXPECTED)


@pytest.mark.parametrize("file", sorted(ZULIP_EXPECTED))
def test_zulip_payloads(file: str) -> None:
    mapped = run(read(ZULIP / file))
    assert mapped.events == ZULIP_EXPECTED[file]
    assert mapped.kind == json.loads(read(ZULIP / file))["topic"]
    assert not mapped.ignored


@pytest.mark.parametrize("file", sorted(HULL_EXPECTED))
def test_hull_payloads(file: str) -> None:
    mapped = run(read(HULL / file))
    assert mapped.events == HULL_EXPECTED[file]
    assert mapped.ignored == (file in HULL_IGNORED)


def test_hull_jsonl_lines() -> None:
    lines = (HULL / "conversation_events.jsonl").read_bytes().splitlines()
    assert len(lines) == len(JSONL_ORDER)
    for line, file in zip(lines, JSONL_ORDER, strict=True):
        assert run(line).events == HULL_EXPECTED[file], file


def test_tenant_argument_is_the_fallback_without_app_id() -> None:
    body = json.loads(read(HULL / "webhook-conversation-admin-closed.json"))
    del body["app_id"]
    event = run(body, tenant="acme").events[0]
    assert event["conversation_id"] == "intercom:acme:137324500000000"
    assert event["agent_id"] == "intercom:acme:3330619"
    assert event["id"] == eid("acme", "6073838784", "status", "resolved")


# -- redelivery and one part on two topics --------------------------------------------------


def test_redelivery_gives_identical_events() -> None:
    body = json.loads(read(ZULIP / "zulip_conversation_user_replied.json"))
    first = run(body).events
    body["delivery_attempts"] = 2
    body["first_sent_at"] += 60
    body["delivered_at"] = body["first_sent_at"] + 61
    assert run(body).events == first


def test_reply_and_assign_on_two_topics_gives_the_same_ids() -> None:
    replied = run(read(ZULIP / "zulip_conversation_admin_replied.json")).events
    assigned = run(read(ZULIP / "zulip_conversation_admin_assigned.json")).events
    assert replied == assigned  # different notification ids, one part


def _conversation(app: str, parts: list[dict[str, Any]], **item: Any) -> dict[str, Any]:
    return {
        "type": "notification_event", "app_id": app, "id": "notif_x",
        "topic": "conversation.admin.replied", "created_at": 1700000001,
        "data": {"type": "notification_event_data", "item": {
            "type": "conversation", "id": "900", "created_at": 1700000000,
            "updated_at": 1700000000, "state": "open", "open": True,
            "conversation_parts": {"type": "conversation_part.list",
                                   "conversation_parts": parts, "total_count": len(parts)},
            **item}},
    }


FIN_REPLY = {"type": "conversation_part", "id": "7001", "part_type": "comment",
             "body": "<p>I am Fin, an AI agent.</p>", "created_at": 1700000060,
             "author": {"type": "bot", "id": "42", "name": "Fin", "from_ai_agent": True}}


def test_bot_reply_on_admin_and_operator_topics_is_one_bot_message() -> None:
    admin = _conversation("app1", [FIN_REPLY])
    operator = _conversation("app1", [FIN_REPLY])
    operator["id"] = "notif_y"
    operator["topic"] = "conversation.operator.replied"
    expected = [ev("app1", ("7001", "message"), type="message.created",
                    at="2023-11-14T22:14:20.000Z", conversation_id="intercom:app1:900",
                    author="bot", automated=True, internal=False)]
    assert run(admin).events == expected
    assert run(operator).events == expected


def test_from_ai_agent_admin_author_is_a_bot() -> None:
    part = dict(FIN_REPLY, author={"type": "admin", "id": "55", "from_ai_agent": True})
    [event] = run(_conversation("app1", [part])).events
    assert (event["author"], event["automated"]) == ("bot", True)
    assert "agent_id" not in event


def test_v2_creation_channel_priority_team_and_contact() -> None:
    body = _conversation("app2", [], source={
        "type": "email", "id": "m1", "delivered_as": "customer_initiated",
        "author": {"type": "lead", "id": "c9"}},
        priority="priority", team_assignee_id=77, admin_assignee_id=None)
    body["topic"] = "conversation.user.created"
    team = "intercom:app2:77"
    assert run(body).events == [
        ev("app2", ("900", "created"), type="conversation.created",
           at="2023-11-14T22:13:20.000Z", conversation_id="intercom:app2:900", team=team,
           channel="email", priority="high", initiator="customer",
           customer_id="intercom:app2:c9"),
        ev("app2", ("900", "message"), type="message.created", at="2023-11-14T22:13:20.000Z",
           conversation_id="intercom:app2:900", team=team, author="customer", internal=False),
    ]


def test_close_with_a_body_is_a_reply_then_the_resolution() -> None:
    part = {"type": "conversation_part", "id": "8001", "part_type": "close",
            "body": "<p>Fixed, closing.</p>", "created_at": 1700000120,
            "author": {"type": "admin", "id": 12}}  # an integer admin id
    body = _conversation("app1", [part])
    body["topic"] = "conversation.admin.closed"
    agent = "intercom:app1:12"
    assert run(body).events == [
        ev("app1", ("8001", "message"), type="message.created", at="2023-11-14T22:15:20.000Z",
           conversation_id="intercom:app1:900", author="agent", agent_id=agent, internal=False),
        ev("app1", ("8001", "status", "resolved"), type="conversation.status_changed",
           at="2023-11-14T22:15:20.000Z", conversation_id="intercom:app1:900",
           status="resolved", by="agent", agent_id=agent),
    ]


def test_fin_handover_to_a_team() -> None:
    part = {"type": "conversation_part", "id": "9001", "part_type": "assignment",
            "body": None, "created_at": 1700000180,
            "assigned_to": {"type": "team", "id": "5"},
            "author": {"type": "bot", "id": "42", "from_ai_agent": True}}
    body = _conversation("app1", [part], ai_agent_participated=True, team_assignee_id="5",
                         admin_assignee_id=0)
    body["topic"] = "conversation.admin.assigned"
    team = "intercom:app1:5"
    assert run(body).events == [
        ev("app1", ("9001", "handoff"), type="conversation.handed_off",
           at="2023-11-14T22:16:20.000Z", conversation_id="intercom:app1:900", team=team),
        ev("app1", ("9001", "assignment"), type="conversation.unassigned",
           at="2023-11-14T22:16:20.000Z", conversation_id="intercom:app1:900", team=team),
    ]


def test_routing_by_a_bot_without_fin_is_a_push_assignment() -> None:
    part = {"type": "conversation_part", "id": "9002", "part_type": "default_assignment",
            "body": None, "created_at": 1700000180,
            "assigned_to": {"type": "admin", "id": "12"},
            "author": {"type": "bot", "id": "42"}}
    body = _conversation("app1", [part])
    body["topic"] = "conversation.admin.assigned"
    assert run(body).events == [
        ev("app1", ("9002", "assignment"), type="conversation.assigned",
           at="2023-11-14T22:16:20.000Z", conversation_id="intercom:app1:900",
           agent_id="intercom:app1:12", method="push"),
    ]


def test_rating_uses_updated_at_and_the_remark() -> None:
    body = _conversation("app1", [], conversation_rating={
        "rating": 4, "remark": "quick and kind", "created_at": 1700000300,
        "updated_at": 1700000400, "contact": {"type": "contact", "id": "c9"},
        "teammate": {"type": "admin", "id": "12"}})
    body["topic"] = "conversation.rating.added"
    assert run(body).events == [
        ev("app1", ("900", "rating", 1700000300), type="rating.submitted",
           at="2023-11-14T22:20:00.000Z", conversation_id="intercom:app1:900", survey="csat",
           score=4, about="agent", agent_id="intercom:app1:12", comment="quick and kind"),
    ]


def test_away_mode_off_is_available() -> None:
    body = json.loads(read(ZULIP / "zulip_admin_away_mode_updated.json"))
    body["data"]["item"]["away_mode_enabled"] = False
    [event] = run(body).events
    assert event["status"] == "available"


# -- ignored and unmappable -----------------------------------------------------------------


@pytest.mark.parametrize("topic", [
    "ping", "conversation.read", "conversation.admin.read", "conversation_part.tag.created",
    "conversation_part.redacted", "contact.created", "user.tag.created",
    "conversation.priority.updated",
])
def test_topics_without_a_kpi_are_ignored(topic: str) -> None:
    mapped = run({"type": "notification_event", "app_id": "a", "id": "notif_p", "topic": topic,
                  "data": {"item": {"type": "ping", "message": "something"}}})
    assert mapped == Mapped(topic, [], ignored=True)


@pytest.mark.parametrize(("body", "field"), [
    (b"not json", "JSON"),
    (b"[1, 2]", "object"),
    (b'{"app_id": "a", "data": {}}', "topic"),
    (b'{"topic": "conversation.admin.closed", "data": {}}', "data.item"),
    (b'{"topic": "conversation.admin.closed", "data": {"item": {"id": "1"}}}',
     "conversation_parts"),
    (b'{"topic": "conversation.user.created", "data": {"item": {"created_at": 1}}}', "id"),
    (b'{"topic": "conversation.admin.closed", "data": {"item": {"id": "1", '
     b'"conversation_parts": {"conversation_parts": [{"part_type": "close"}]}}}}', "part id"),
    (b'{"topic": "conversation.rating.added", "data": {"item": {"id": "1", '
     b'"conversation_rating": {"rating": 9}}}}', "rating"),
])
def test_unmappable_bodies(body: bytes, field: str) -> None:
    with pytest.raises(Unmappable, match=field):
        map_delivery(body, {}, None)

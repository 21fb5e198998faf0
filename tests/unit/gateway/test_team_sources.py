"""A helpdesk's groups, inboxes and mailboxes become the teams people call them by
(``teams.<team>.sources``, issue 25 item 3): real Zendesk and Intercom deliveries from
/work/shared/data/webhooks, read from there. Zendesk names the ticket's group
(8447320466430 of account 22129848); Intercom's conversation of app i6wc9ipe names no team, so
the app's own mapping gives it one."""

import hashlib
import hmac
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from service.config import KpiConfig
from service.gateway.app import GatewayConfig, build_app
from service.gateway.canonical import with_teams
from service.gateway.vendors.intercom import map_delivery as map_intercom
from service.gateway.vendors.zendesk import map_delivery as map_zendesk
from tests.unit.gateway.test_gateway_app import FakeKafka

WEBHOOKS = Path("/work/shared/data/webhooks")
CONFIG = KpiConfig.model_validate({"teams": {
    "billing": {"name": "Billing", "sources": ["zendesk:22129848:8447320466430"]},
    "support": {"sources": ["intercom:i6wc9ipe"]},
}})
JSON = {"content-type": "application/json"}


def test_a_mapped_zendesk_group_becomes_the_teams_key() -> None:
    body = (WEBHOOKS / "zendesk" / "dust_ticket_created.json").read_bytes()
    events = with_teams(map_zendesk(body, JSON, None).events, CONFIG.directory())
    assert [e["team"] for e in events] == ["billing"]


def test_an_intercom_conversation_without_team_takes_its_apps_team() -> None:
    body = (WEBHOOKS / "intercom" / "zulip_conversation_user_created.json").read_bytes()
    events = map_intercom(body, JSON, None).events
    assert all("team" not in e for e in events), "the payload names no team"
    named = with_teams(events, CONFIG.directory())
    assert [e.get("team") for e in named if e["type"] == "conversation.created"] == ["support"]
    assert all("team" not in e for e in named if e["type"] != "conversation.created")


def test_unmapped_groups_and_accounts_stay_as_they_are() -> None:
    other = KpiConfig.model_validate({"teams": {"tech": {"sources": ["zendesk:1:2"]}}})
    body = (WEBHOOKS / "zendesk" / "dust_ticket_created.json").read_bytes()
    events = with_teams(map_zendesk(body, JSON, None).events, other.directory())
    assert [e["team"] for e in events] == ["zendesk:22129848:8447320466430"]
    body = (WEBHOOKS / "intercom" / "zulip_conversation_user_created.json").read_bytes()
    assert all("team" not in e
               for e in with_teams(map_intercom(body, JSON, None).events, other.directory()))


async def test_the_gateway_publishes_the_mapped_team() -> None:
    body = (WEBHOOKS / "intercom" / "zulip_conversation_user_created.json").read_bytes()
    kafka = FakeKafka()
    secret = "ic-secret"
    app = build_app(GatewayConfig({"intercom": secret}, directory=CONFIG.directory()), kafka,
                    clock=lambda: 1_800_000_000.0)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        digest = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
        answer = await client.post("/webhooks/intercom", data=body,
                                   headers={"X-Hub-Signature": f"sha1={digest}", **JSON})
        assert answer.status == 200
        assert [e["team"] for e in kafka.events if e["type"] == "conversation.created"] == [
            "support"]
    finally:
        await client.close()

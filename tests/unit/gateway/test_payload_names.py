"""Names for people taken from the helpdesks' payloads: cleaned to what SPEC §2 accepts
(``agent_name``, ``team_name``), and dropped when the configuration maps the helpdesk's group
to a team of its own (the group's name is not the team's)."""

import orjson

from schemas import event_adapter
from service.config import KpiConfig
from service.gateway.canonical import person_name, with_teams
from service.gateway.vendors.chatwoot import map_delivery as map_chatwoot
from tests.unit.gateway.test_map_chatwoot import AGENT, CONTACT, convo_data


def test_a_name_is_cleaned_to_one_line_of_at_most_200_characters() -> None:
    assert person_name({"name": "  Leela \t Turanga\n"}) == "Leela Turanga"
    assert person_name({"first_name": "Leela", "last_name": "Turanga"},
                       "first_name", "last_name") == "Leela Turanga"
    assert person_name({"first_name": "Leela", "last_name": None},
                       "first_name", "last_name") == "Leela"
    assert person_name({"name": "x" * 300}) == "x" * 200
    for nothing in ({"name": ""}, {"name": " \n"}, {"name": 7}, {}, None, "Leela"):
        assert person_name(nothing) is None
    cleaned = person_name({"name": "Le\x00ela\u2028T"})
    assert cleaned == "Le ela T"
    event_adapter.validate_python({"id": "e", "type": "agent.status_changed",
                                   "at": "2026-01-01T00:00:00Z", "agent_id": "a",
                                   "status": "away", "agent_name": cleaned})


def test_a_group_mapped_to_a_team_loses_the_groups_name() -> None:
    payload = {**convo_data(meta={"sender": CONTACT, "assignee": AGENT,
                                  "team": {"id": 4, "name": "Billing (EU)"}}),
               "event": "conversation_created"}
    events = map_chatwoot(orjson.dumps(payload), {}, "7").events
    assert [(e["team"], e.get("team_name")) for e in events] == [("chatwoot:7:4",
                                                                  "Billing (EU)")]
    config = KpiConfig.model_validate({"teams": {"billing": {"sources": ["chatwoot:7:4"]}}})
    mapped = with_teams([dict(e) for e in events], config.directory())
    assert [(e["team"], e.get("team_name")) for e in mapped] == [("billing", None)]
    unmapped = with_teams([dict(e) for e in events], KpiConfig.model_validate(
        {"teams": {"tech": {"sources": ["chatwoot:7:9"]}}}).directory())
    assert unmapped == events

"""What a person reads for a team or agent nobody knows: the name, why, the nearest known
names, the known ones (issue 25: ``queue --team Billing`` printed "breaching: 0")."""

from service.names import UnknownName, suggestions

TEAMS = ("billing", "sales", "tech", "vip")


def test_a_case_slip_suggests_the_name_as_written() -> None:
    assert suggestions("Billing", TEAMS) == ["billing"]
    assert suggestions("BILLING", TEAMS) == ["billing"]


def test_a_spelling_slip_suggests_the_close_names_and_nothing_far() -> None:
    assert suggestions("biling", TEAMS) == ["billing"]
    assert sorted(suggestions("agent-0O12", ["agent-0012", "agent-0112", "bot-7"])) == [
        "agent-0012", "agent-0112"], "each one letter off; bot-7 is not close"
    assert suggestions("marketing", TEAMS) == []


def test_the_message_names_the_request_the_reason_and_the_known_names() -> None:
    text = UnknownName("team", "Billing", TEAMS, 25).message()
    assert text == ("team 'Billing' is not known (no data in the last 25 h and not in the "
                    "configuration); did you mean 'billing'? Teams known: billing, sales, "
                    "tech, vip.")


def test_a_long_list_is_cut_and_counted_and_one_workers_share_says_so() -> None:
    agents = tuple(f"agent-{n:04d}" for n in range(40))
    text = UnknownName("agent", "agent-9999", agents, 25).message(complete=False)
    assert "agent 'agent-9999' is not known (no data in the last 25 h)" in text
    assert "agent-0011 and 28 more." in text and "agent-0012" not in text.split("known")[-1]
    assert "Agents known to this worker:" in text and "GET /owners" in text
    assert UnknownName("agent", "a1", (), 25).message().endswith("Agents known: none yet.")


def test_a_workers_404_body_reads_back_with_every_workers_names() -> None:
    body = UnknownName("team", "Billing", ("billing",), 25).body()
    assert body["unknown"] == {"level": "team", "name": "Billing", "retention_hours": 25}
    unknown = body["unknown"]
    assert isinstance(unknown, dict)
    merged = UnknownName.of_answer(unknown, ["vip", "billing", "tech"])
    assert merged == UnknownName("team", "Billing", ("billing", "tech", "vip"), 25.0)

"""The board's rows from a merged report (SPEC §6 "Pages"), its number formats, and HTML
escaping of what comes from the events."""

from service.board.app import Board
from service.board.views import (
    ALL_TEAMS,
    CATCHING_UP_MESSAGES,
    CatchingUp,
    TeamRow,
    catching_up,
    duration,
    percent,
    team_rows,
)

REPORT = {
    "as_of": "2024-03-04T12:00:00.000Z",
    "windows": {
        "1h": {"overall": {"first_response_seconds": {"p90": 600.0}},
               "teams": {"billing": {"first_response_seconds": {"p90": 900.0}}}, "agents": {}},
        "24h": {"overall": {"sla": {"first_response": {"achieved_ratio": 0.75}},
                            "csat": {"positive_ratio": 0.5}},
                "teams": {"billing": {"sla": {"first_response": {"achieved_ratio": 0.5}},
                                      "csat": {"positive_ratio": None}},
                          "sales": {"sla": {"first_response": {"achieved_ratio": 1.0}},
                                    "csat": {"positive_ratio": 1.0}}},
                "agents": {}},
    },
    "live": {
        "overall": {"open": 3, "awaiting_first_response": 2, "sla_at_risk": 1,
                    "sla_breaching": 1, "oldest_awaiting_first_response_seconds": 4000.0},
        "teams": {"billing": {"open": 3, "awaiting_first_response": 2, "sla_at_risk": 1,
                              "sla_breaching": 1,
                              "oldest_awaiting_first_response_seconds": 4000.0}},
        "agents": {"a1": {"team": "billing", "status": "available"},
                   "a2": {"team": "billing", "status": "busy"},
                   "a3": {"team": "sales", "status": "available"},
                   "a4": {"team": "sales", "status": None}},
    },
}


def test_a_row_per_team_of_any_window_then_all_teams() -> None:
    rows = team_rows(REPORT)
    assert [row.team for row in rows] == ["billing", "sales", ALL_TEAMS]
    assert rows[0] == TeamRow("billing", "billing", 3, 2, 1, 1, 4000.0, 1, 1, 900.0, 0.5, None)
    # sales has no live conversations and no 1h responses: zeros and none.
    assert rows[1] == TeamRow("sales", "sales", 0, 0, 0, 0, None, 1, 0, None, 1.0, 1.0)
    assert rows[2] == TeamRow(ALL_TEAMS, ALL_TEAMS, 3, 2, 1, 1, 4000.0, 2, 1, 600.0, 0.75, 0.5)


def test_a_team_shows_by_its_display_name_when_the_report_has_one() -> None:
    rows = team_rows({**REPORT, "names": {"teams": {"billing": "Billing EU"}, "agents": {}}})
    assert [(row.team, row.name) for row in rows] == [
        ("billing", "Billing EU"), ("sales", "sales"), (ALL_TEAMS, ALL_TEAMS)]


def test_formats() -> None:
    assert [duration(s) for s in (None, 45, 750, 7500, -190.4)] == [
        "–", "45s", "12m 30s", "2h 05m", "-3m 10s"]
    assert [percent(r) for r in (None, 0.857, 1.0)] == ["–", "86%", "100%"]


def test_what_comes_from_events_is_escaped() -> None:
    board = Board(["http://127.0.0.1:1"], None, None, refresh_s=15)
    hostile = "<script>alert(1)</script>"
    html = board.render("agent.html", agent=hostile, kpis={}, reviews=[], as_of=None,
                        unanswered=[], ratings=[{
                            "at": "2024-03-04T10:00:00.000Z", "survey": "csat", "score": 1,
                            "about": "agent", "comment": hostile, "conversation_id": hostile}]
                        ).text
    assert html is not None and "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'http-equiv="refresh" content="15"' in html
    assert "http://" not in html.replace("http-equiv", ""), "no external assets"


def test_catching_up_from_the_workers_readiness() -> None:
    """A worker with more than CATCHING_UP_MESSAGES to read (its lag over every topic), or
    still restoring its tables, is catching up; one that did not answer is reported apart."""
    live = {"status": "ready", "lag": {"support.events": 3, "support-kpi-deltas": 0}}
    behind = {"status": "ready", "lag": {"support.events": 40_000, "support-kpi-deltas": 1_200}}
    assert catching_up([live, live]) is None
    assert catching_up([live, None]) is None
    assert catching_up([live, behind]) == CatchingUp(messages=41_200, workers=1)
    assert catching_up([{"status": "recovering"}, behind]) == CatchingUp(41_200, 2)
    at_threshold = {"status": "ready", "lag": {"support.events": CATCHING_UP_MESSAGES}}
    assert catching_up([at_threshold]) is None
    assert catching_up([{"status": "kafka_unreachable", "lag": None}]) is None

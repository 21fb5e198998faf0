"""The reports page's pure parts: the chart's series from a period report (the previous
periods' values beside each), the last day's rows (equal within the live sketch's 1% for
quantiles, exactly otherwise), the spans the page asks for, the numbers in cells."""

from service.board.reports import CHARTABLE, chart_series, compare_day, number, report_span


def levels(created: int, p90: float | None, teams: dict[str, int]) -> dict:
    return {"overall": {"conversations_created": created,
                        "first_response_seconds": {"count": 2, "avg": 1.0, "p50": 1.0,
                                                   "p90": p90}},
            "teams": {team: {"conversations_created": n} for team, n in teams.items()},
            "agents": {}}


def test_chart_series_put_each_periods_previous_beside_it() -> None:
    report = {"periods": [
        {"from": "2024-03-04T00:00:00.000Z", "to": "2024-03-05T00:00:00.000Z",
         "levels": levels(5, 300.0, {"billing": 5}), "previous": levels(3, None, {})},
        {"from": "2024-03-05T00:00:00.000Z", "to": "2024-03-06T00:00:00.000Z",
         "levels": levels(7, 600.0, {"tech": 7}), "previous": levels(5, 300.0, {"billing": 5})},
    ]}
    labels, series = chart_series(report, "conversations_created")
    assert labels == ["2024-03-04T00:00:00.000Z", "2024-03-05T00:00:00.000Z"]
    assert [(s.name, s.values, s.previous) for s in series] == [
        ("overall", [5.0, 7.0], [3.0, 5.0]),
        ("billing", [5.0, None], [None, 5.0]),
        ("tech", [None, 7.0], [None, None])]
    _, (overall, *_) = chart_series(report, "first_response_seconds.p90")
    assert (overall.values, overall.previous) == ([300.0, 600.0], [None, 300.0])


def test_the_last_day_rows_are_equal_exactly_and_quantiles_within_one_percent() -> None:
    history = levels(5, 1000.0, {"billing": 5})
    rows = {(r.level, r.path): r for r in compare_day(history, levels(5, 1009.0, {"billing": 4}))}
    assert rows[("overall", "conversations_created")].equal
    assert rows[("overall", "first_response_seconds.p90")].equal
    assert not rows[("billing", "conversations_created")].equal
    far = {(r.level, r.path): r for r in compare_day(history, levels(5, 1011.0, {}))}
    assert not far[("overall", "first_response_seconds.p90")].equal
    assert far[("billing", "conversations_created")].live is None


def test_the_spans_end_with_the_day_of_the_as_of_and_the_live_window_a_minute_before() -> None:
    span = report_span("2024-03-05T10:17:00.000Z", "day")
    assert (span.start, span.end) == ("2024-02-21", "2024-03-06")
    # the live 24h window at 10:16: the quarter hour holding it and the 95 before
    assert (span.day_from, span.day_to) == ("2024-03-04T10:30:00.000Z",
                                            "2024-03-05T10:16:00.000Z")
    weeks = report_span("2024-03-05T10:17:00.000Z", "week")  # a Tuesday
    assert (weeks.start, weeks.end) == ("2024-01-15", "2024-03-06")


def test_cells_and_choices() -> None:
    assert [number(v) for v in (None, 3.0, 1234.5, 0.41234)] == ["–", "3", "1,234", "0.412"]
    assert "first_response_seconds.p90" in CHARTABLE and "conversations_created" in CHARTABLE
    assert {"csat.positive_ratio", "nps.score", "sla.first_response.achieved_ratio"} <= set(
        CHARTABLE)
    assert "weighted_score" not in CHARTABLE and "status" not in CHARTABLE

"""Merging the workers' reports: each key from the worker that holds it."""

from service.engine.report import merge_reports


def _report(overall: dict[str, int] | None, teams: dict[str, dict[str, int]]) -> dict:
    levels = {"teams": teams, "agents": {}}
    if overall is not None:
        levels["overall"] = overall
    return {"as_of": "2024-03-04T12:00:00Z", "windows": {"1h": dict(levels)},
            "live": dict(levels)}


def test_overall_comes_from_the_one_report_that_holds_it_in_any_order() -> None:
    holder = _report({"open": 3}, {"vip": {"open": 1}})
    other = _report(None, {"sales": {"open": 2}})
    for reports in ([holder, other], [other, holder]):
        merged = merge_reports(reports)
        assert merged["live"]["overall"] == {"open": 3}
        assert merged["windows"]["1h"]["overall"] == {"open": 3}
        assert merged["live"]["teams"] == {"sales": {"open": 2}, "vip": {"open": 1}}


def test_a_merged_report_merges_again() -> None:
    """A worker merges its partitions' reports and the client merges the workers': a worker
    without overall answers ``"overall": null``, which must not hide the holder's."""
    holder = merge_reports([_report({"open": 3}, {})])
    other = merge_reports([_report(None, {"sales": {"open": 2}})])
    assert other["live"]["overall"] is None
    assert merge_reports([holder, other])["live"]["overall"] == {"open": 3}
    assert merge_reports([other, holder])["windows"]["1h"]["overall"] == {"open": 3}


def test_no_holder_leaves_overall_empty() -> None:
    merged = merge_reports([_report(None, {"vip": {"open": 1}})])
    assert merged["live"]["overall"] is None

"""The fact ledger: facts by id under changes, and agents' segments under timeline changes."""

from service.engine.facts import F_CREATED, F_FIRST_RESPONSE, Marker, Response
from service.engine.presence import Segment, SegmentChange
from service.history.ledger import Ledger, LedgerFact


def _response(fid: str, ms: int) -> Response:
    return Response(fid, F_FIRST_RESPONSE, 1_000_000, "billing", "ana", ms, ms, 1)


def test_a_change_replaces_the_fact_and_a_retraction_removes_it() -> None:
    ledger = Ledger()
    created = Marker("c1:cr", F_CREATED, 900_000, "billing", None)
    ledger.apply("c1", [(None, created), (None, _response("c1:fr", 60_000))])
    ledger.apply("c1", [(_response("c1:fr", 60_000), _response("c1:fr", 30_000))])
    ledger.apply("c1", [(created, None)])
    facts, _ = ledger.drain()
    assert facts == {"c1:cr": None, "c1:fr": LedgerFact("c1", _response("c1:fr", 30_000))}
    assert ledger.drain() == ({}, {})


def test_the_same_changes_again_leave_the_same_facts() -> None:
    ledger = Ledger()
    changes = [(None, _response("c1:fr", 60_000))]
    ledger.apply("c1", changes)
    before = dict(ledger.facts)
    ledger.apply("c1", changes)
    assert ledger.facts == before


def _segment(start: int, end: int | None, busy: bool = False, team: str = "billing") -> Segment:
    return Segment(start, end, team, busy)


def test_a_change_replaces_the_segments_it_names() -> None:
    ledger = Ledger()
    ledger.apply_segments("ana", SegmentChange((), (_segment(0, 100), _segment(200, None))))
    ledger.apply_segments("ana", SegmentChange(
        (_segment(0, 100),), (_segment(0, 40), _segment(40, 100, busy=True))))
    assert ledger.segments["ana"] == [_segment(0, 40), _segment(40, 100, busy=True),
                                      _segment(200, None)]
    ledger.apply_segments("ana", SegmentChange((_segment(200, None),), (_segment(200, 260),)))
    assert ledger.segments["ana"][-1] == _segment(200, 260)


def test_segments_between_those_a_change_names_stay() -> None:
    ledger = Ledger()
    ledger.apply_segments("ana", SegmentChange(
        (), (_segment(0, 10), _segment(20, 30), _segment(40, 50))))
    ledger.apply_segments("ana", SegmentChange(
        (_segment(0, 10), _segment(40, 50)), (_segment(0, 12), _segment(40, 45, busy=True))))
    assert ledger.segments["ana"] == [_segment(0, 12), _segment(20, 30),
                                      _segment(40, 45, busy=True)]


def test_a_segment_retention_cut_keeps_its_part_before_the_cut() -> None:
    """A timeline that dropped what began before its horizon (at 60) reports a later change of
    the cut segment from 60 on: the ledger keeps [0, 60) it had seen, and takes the rest."""
    ledger = Ledger()
    ledger.apply_segments("ana", SegmentChange((), (_segment(0, 100),)))
    ledger.apply_segments("ana", SegmentChange((_segment(60, 100),), (_segment(60, 150),)))
    assert ledger.segments["ana"] == [_segment(0, 60), _segment(60, 150)]


def test_removing_every_segment_forgets_the_agent() -> None:
    ledger = Ledger()
    ledger.apply_segments("ana", SegmentChange((), (_segment(0, 100),)))
    ledger.apply_segments("ana", SegmentChange((_segment(0, 100),), ()))
    assert ledger.segments == {}

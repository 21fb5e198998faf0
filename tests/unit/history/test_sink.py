"""The history topic's records and the sink's writes (SPEC §8): the codec refuses what it cannot
read with the reason; a batch applied twice equals it applied once; a snapshot replaces a
conversation's facts; a large batch cut into several records applies as one; the segments of
an agent change as the ledger's do."""

from pathlib import Path

import pytest

from service.engine.facts import F_CREATED, F_FIRST_RESPONSE, Marker, Response
from service.engine.presence import Segment, SegmentChange
from service.history.changes import (
    RECORD_ITEMS,
    AgentHistory,
    BadHistoryRecord,
    ConversationHistory,
    HistoryBuilder,
    decode_history,
    encode_history,
    resync_change,
)
from service.history.database import HistoryError, HistoryWriter, open_history
from service.history.ledger import Attributes, Ledger
from service.history.sink import Delivered, HistorySink

TOPIC = "support.history"
DAY = 400 * 86_400_000
T0 = 1_709_546_400_000  # 2024-03-04T10:00:00Z


def created(cid: str, at: int = T0) -> Marker:
    return Marker(f"{cid}:c", F_CREATED, at, "billing", None)


def response(cid: str, ms: int, at: int = T0 + 300_000) -> Response:
    return Response(f"{cid}:fr", F_FIRST_RESPONSE, at, "billing", "a1", ms, ms, 1)


def sink() -> HistorySink:
    return HistorySink(open_history(Path(":memory:")), TOPIC, DAY)


def apply(target: HistorySink, *records: ConversationHistory | AgentHistory) -> None:
    target.apply([Delivered(0, n, decode_history(encode_history(r)))
                  for n, r in enumerate(records)], {0: len(records)})


def facts(target: HistorySink) -> list[tuple[str, str | None, int]]:
    return sorted(target.connection.execute(
        "SELECT fact_id, conversation_id, at_ms FROM facts").fetchall())


def segments(target: HistorySink, agent: str) -> list[tuple[int, int | None, bool]]:
    return [tuple(row) for row in target.connection.execute(
        "SELECT start_ms, end_ms, busy FROM segments WHERE agent = ? ORDER BY start_ms",
        [agent]).fetchall()]


@pytest.mark.parametrize(("raw", "said"), [
    (None, "tombstone"),
    (b"{", "not JSON"),
    (b'{"kind": "c"}', "JSON array"),
    (b'["c", 2, "conv-1", null, [], [], null, false, null]', "version 2"),
    (b'["x", 1, "conv-1", null]', "kind 'x'"),
    (b'["c", 1, "conv-1", null, [["f", 99, 1]], [], null, false, null]', "wrong part"),
    (b'["a", 1, "a1", null, [[[], [[1, null, null, "yes"]]]], []]', "a segment is"),
])
def test_records_that_do_not_decode_say_why(raw: bytes | None, said: str) -> None:
    with pytest.raises(BadHistoryRecord, match=said):
        decode_history(raw)


def test_a_batch_applied_twice_equals_it_applied_once() -> None:
    records = [
        ConversationHistory("conv-1", {created("conv-1").fact_id: created("conv-1")},
                            attributes=Attributes("email", "high", "cust-9", "zendesk"),
                            watermark_ms=T0),
        ConversationHistory("conv-1", {response("conv-1", 300_000).fact_id:
                                       response("conv-1", 300_000)}, watermark_ms=T0 + 60_000),
        AgentHistory("a1", [SegmentChange((), (Segment(T0, None, "billing", False),))],
                     {(T0, "billing")}, T0),
    ]
    once, twice = sink(), sink()
    apply(once, *records)
    apply(twice, *records)
    apply(twice, *records)
    for target in (once, twice):
        assert facts(target) == [("conv-1:c", "conv-1", T0),
                                 ("conv-1:fr", "conv-1", T0 + 300_000)]
        assert segments(target, "a1") == [(T0, None, False)]
        assert target.connection.execute("SELECT * FROM conversations").fetchall() == [
            ("conv-1", "email", "high", "cust-9", "zendesk")]
        assert target.connection.execute("SELECT count(*) FROM team_marks").fetchone() == (1,)
        assert target.positions() == {0: 3}
        # the latest watermark, T0 + 1 min, rounded up to the next whole minute (SPEC §4)
        assert target.connection.execute(
            "SELECT value FROM meta WHERE key = 'as_of_ms'").fetchone() == (str(T0 + 120_000),)


def test_a_revised_fact_replaces_its_earlier_version_whatever_its_stop() -> None:
    target = sink()
    first = response("conv-1", 300_000)
    later = response("conv-1", 900_000, at=T0 + 900_000)
    apply(target, ConversationHistory("conv-1", {first.fact_id: first}))
    apply(target, ConversationHistory("conv-1", {later.fact_id: later},
                                      {(first.fact_id, first.at)}))
    assert facts(target) == [("conv-1:fr", "conv-1", T0 + 900_000)]
    apply(target, ConversationHistory("conv-1", {}, {(later.fact_id, later.at)}))
    assert facts(target) == []


def test_a_snapshot_replaces_the_conversations_facts_after_its_base() -> None:
    target = sink()
    old = Marker("conv-1:old", F_CREATED, T0 - 60_000, "billing", None)
    apply(target, ConversationHistory("conv-1", {old.fact_id: old,
                                                 created("conv-1").fact_id: created("conv-1"),
                                                 response("conv-1", 5).fact_id:
                                                 response("conv-1", 5)}),
          ConversationHistory("conv-2", {created("conv-2").fact_id: created("conv-2")}))
    apply(target, ConversationHistory("conv-1", {created("conv-1").fact_id: created("conv-1")},
                                      snapshot=True, since_ms=T0 - 1))
    assert facts(target) == [("conv-1:c", "conv-1", T0), ("conv-1:old", "conv-1", T0 - 60_000),
                             ("conv-2:c", "conv-2", T0)]


def test_a_conversation_cut_into_records_applies_as_one() -> None:
    builder = HistoryBuilder()
    many = {f"conv-1:n{i}": Marker(f"conv-1:n{i}", F_CREATED, T0 + i, None, None)
            for i in range(RECORD_ITEMS + 5)}
    builder.snapshot("conv-1", many, None)
    records = builder.records(T0)
    assert len(records) == 2
    target = sink()
    apply(target, ConversationHistory("conv-1", {"conv-1:gone": created("conv-1")}))
    target.apply([Delivered(0, n, decode_history(value)) for n, (_, value) in
                  enumerate(records)], {0: 2})
    assert [fid for fid, _, _ in facts(target)] == sorted(many)


def test_segments_change_as_the_ledgers_do_and_a_resync_replaces_from_its_horizon() -> None:
    changes = [
        SegmentChange((), (Segment(T0, None, "billing", False),)),
        SegmentChange((Segment(T0, None, "billing", False),),
                      (Segment(T0, T0 + 600_000, "billing", False),
                       Segment(T0 + 600_000, None, "billing", True))),
        SegmentChange((Segment(T0 + 600_000, None, "billing", True),),
                      (Segment(T0 + 600_000, T0 + 900_000, "billing", True),)),
    ]
    target, ledger = sink(), Ledger()
    for change in changes:
        ledger.apply_segments("a1", change)
        apply(target, AgentHistory("a1", [change]))
    expected = [(s.start, s.end, s.busy) for s in ledger.segments["a1"]]
    assert segments(target, "a1") == expected == [
        (T0, T0 + 600_000, False), (T0 + 600_000, T0 + 900_000, True)]
    apply(target, AgentHistory("a1", [resync_change(
        T0 + 300_000, (Segment(T0 + 300_000, T0 + 1_200_000, "billing", False),))]))
    assert segments(target, "a1") == [(T0, T0 + 300_000, False),
                                      (T0 + 300_000, T0 + 1_200_000, False)]


def test_a_database_a_backfill_filled_is_refused() -> None:
    connection = open_history(Path(":memory:"))
    ledger = Ledger()
    ledger.apply("conv-1", [(None, created("conv-1"))])
    writer = HistoryWriter(connection)
    writer.finish(ledger, T0 + 60_000, DAY)
    with pytest.raises(HistoryError, match="filled by a backfill"):
        HistorySink(connection, TOPIC, DAY)
    assert connection.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = "
                              "'sink_offsets'").fetchone() == (0,), "the file was left as it was"

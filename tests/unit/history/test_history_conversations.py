"""``support-kpi history conversations``: one row per conversation, values worked out by hand
from SPEC §3 (first response = the first human response − created; next response = a human
response − the customer message it answers; resolution = the first resolution − created)."""

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from service.cli import main


def _event(n: int, kind: str, at: str, cid: str, **fields: object) -> dict[str, object]:
    return {"id": f"e{n}", "type": kind, "at": f"2024-03-04T{at}Z", "conversation_id": cid,
            **fields}


EVENTS = [
    _event(1, "conversation.created", "10:00:00", "c1", channel="chat", team="billing",
           customer_id="cust-1"),
    _event(2, "conversation.assigned", "10:01:00", "c1", agent_id="ana", method="pull"),
    _event(3, "message.created", "10:05:00", "c1", author="agent", agent_id="ana"),
    _event(4, "message.created", "10:10:00", "c1", author="customer"),
    _event(5, "message.created", "10:20:00", "c1", author="agent", agent_id="ana"),
    _event(6, "conversation.status_changed", "10:30:00", "c1", status="resolved", by="agent",
           agent_id="ana"),
    _event(7, "rating.submitted", "10:40:00", "c1", survey="csat", score=5, comment="great"),
    _event(8, "conversation.created", "10:10:00", "c2", channel="email", team="billing",
           customer_id="cust-2"),
    _event(9, "message.created", "10:30:00", "c2", author="agent", agent_id="bo"),
]


@pytest.fixture
def database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in reversed(EVENTS)) + "\n")
    path = tmp_path / "history.duckdb"
    assert main(["replay", str(events), "--history", str(path)]) == 0
    capsys.readouterr()
    return path


def _rows(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, str]]:
    assert main(["history", "conversations", *args]) == 0
    out, err = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(out)))
    assert f"{len(rows)} conversations" in err
    return rows


def test_one_row_per_conversation(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _rows(capsys, "--db", str(database), "--from", "2024-03-04", "--to", "2024-03-05")
    assert [r["conversation_id"] for r in rows] == ["c1", "c2"]
    c1 = rows[0]
    assert {key: c1[key] for key in (
        "team", "channel", "customer_id", "created_at", "first_response_at",
        "first_resolution_at", "first_response_seconds", "next_responses",
        "next_response_avg_seconds", "resolution_seconds", "replies", "reopens", "assignments",
        "assignees", "responders", "one_touch", "csat", "rating_comments")} == {
        "team": "billing", "channel": "chat", "customer_id": "cust-1",
        "created_at": "2024-03-04T10:00:00.000Z", "first_response_at": "2024-03-04T10:05:00.000Z",
        "first_resolution_at": "2024-03-04T10:30:00.000Z", "first_response_seconds": "300.0",
        "next_responses": "1", "next_response_avg_seconds": "600.0",
        "resolution_seconds": "1800.0", "replies": "2", "reopens": "0", "assignments": "1",
        "assignees": "ana", "responders": "ana",
        # two human responses: not one-touch
        "one_touch": "False", "csat": "5", "rating_comments": "great"}
    assert (rows[1]["responders"], rows[1]["first_response_seconds"]) == ("bo", "1200.0")


def test_filters_by_attribute_and_agent(database: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    period = ["--db", str(database), "--from", "2024-03-04", "--to", "2024-03-05"]
    assert [r["conversation_id"] for r in _rows(capsys, *period, "--channel", "email")] == ["c2"]
    assert [r["conversation_id"] for r in _rows(capsys, *period, "--agent", "ana")] == ["c1"]
    assert _rows(capsys, *period, "--customer", "cust-9") == []


def test_parquet_holds_the_same_rows(database: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    period = ["--db", str(database), "--from", "2024-03-04", "--to", "2024-03-05"]
    target = tmp_path / "out.parquet"
    assert main(["history", "conversations", *period, "--format", "parquet", "--output",
                 str(target)]) == 0
    table = pq.read_table(target)
    assert [(r["conversation_id"], r["first_response_seconds"]) for r in table.to_pylist()] == [
        ("c1", 300.0), ("c2", 1200.0)]
    # typed columns, also where every value is missing (no conversation names a source)
    types = {field.name: str(field.type) for field in table.schema}
    assert (types["created_at"], types["replies"], types["one_touch"], types["source"]) == (
        "timestamp[ms, tz=UTC]", "int64", "bool", "string")
    assert table.column("created_at")[0].as_py().isoformat() == "2024-03-04T10:00:00+00:00"


@pytest.mark.parametrize(("args", "message"), [
    (["--team", "support"], "no team 'support' in the history"),
    (["--format", "parquet"], "--format parquet is binary: give --output FILE"),
])
def test_a_request_it_cannot_answer_says_why(database: Path, args: list[str], message: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "conversations", "--db", str(database), "--from", "2024-03-04",
                 "--to", "2024-03-05", *args]) == 2
    assert message in capsys.readouterr().err


def test_erasing_a_customer_removes_their_conversations_once(
        database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "erase", "--customer", "cust-1", "--db", str(database)]) == 0
    # c1's facts: created, assigned, first and next response, resolution, full resolution and
    # the rating (its comment goes with it)
    assert capsys.readouterr().out.startswith("customer 'cust-1': 1 conversation and 7 facts")
    period = ["--db", str(database), "--from", "2024-03-04", "--to", "2024-03-05"]
    assert [r["conversation_id"] for r in _rows(capsys, *period)] == ["c2"]
    assert main(["history", "report", *period, "--format", "json"]) == 0
    overall = json.loads(capsys.readouterr().out)["periods"][0]["levels"]["overall"]
    assert (overall["conversations_created"], overall["csat"]["responses"]) == (1, 0)
    assert main(["history", "erase", "--customer", "cust-1", "--db", str(database)]) == 0
    assert "0 conversations and 0 facts" in capsys.readouterr().out

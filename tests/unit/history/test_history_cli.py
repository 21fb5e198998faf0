"""``support-kpi replay --history`` then ``support-kpi history report``: values worked out by
hand from SPEC §3 (first response time = the first human response − created)."""

import csv
import io
import json
from pathlib import Path

import pytest

from service.cli import main


def _event(n: int, kind: str, at: str, cid: str, **fields: str) -> dict[str, str]:
    return {"id": f"e{n}", "type": kind, "at": at, "conversation_id": cid, **fields}


EVENTS = [
    _event(1, "conversation.created", "2024-03-04T10:00:00Z", "c1", channel="chat",
           team="billing", customer_id="cust-1"),
    _event(2, "message.created", "2024-03-04T10:05:00Z", "c1", author="agent", agent_id="ana"),
    _event(3, "conversation.created", "2024-03-04T10:10:00Z", "c2", channel="email",
           team="billing", customer_id="cust-2"),
    _event(4, "message.created", "2024-03-04T10:30:00Z", "c2", author="agent", agent_id="bo"),
    _event(5, "conversation.created", "2024-03-05T09:00:00Z", "c3", channel="chat",
           team="billing", customer_id="cust-1"),
    _event(6, "message.created", "2024-03-05T09:01:40Z", "c3", author="agent", agent_id="ana"),
]


@pytest.fixture
def database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    events = tmp_path / "events.jsonl"
    # out of order and one duplicate: history is what the engine makes of them
    lines = [json.dumps(e) for e in [*EVENTS[3:], *EVENTS[:3], EVENTS[1]]]
    events.write_text("\n".join(lines) + "\n")
    path = tmp_path / "history.duckdb"
    assert main(["replay", str(events), "--history", str(path)]) == 0
    # each conversation's creation and first response (the duplicate adds nothing)
    assert "history: 6 facts written" in capsys.readouterr().err
    return path


def _report(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["history", "report", *args]) == 0
    return capsys.readouterr().out


def test_days_with_slices_and_the_day_before(database: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = _report(capsys, "--db", str(database), "--from", "2024-03-04", "--to", "2024-03-06",
                  "--by", "day", "--slice", "channel", "--compare", "--format", "json")
    report = json.loads(out)
    assert (report["from"], report["to"]) == ("2024-03-04T00:00:00.000Z",
                                              "2024-03-06T00:00:00.000Z")
    first, second = report["periods"]
    day = first["levels"]
    assert day["overall"]["conversations_created"] == 2
    # 300 s and 1,200 s: p50 and p90 interpolate between the two closest ranks
    assert day["overall"]["first_response_seconds"] == {"count": 2, "avg": 750.0,
                                                        "p50": 750.0, "p90": 1110.0}
    assert day["teams"]["billing"]["conversations_created"] == 2
    assert day["agents"]["ana"]["first_response_seconds"]["avg"] == 300.0
    assert day["agents"]["bo"]["first_response_seconds"]["avg"] == 1200.0
    assert day["agents"]["ana"]["team"] == "billing"
    assert day["slices"]["channel"]["chat"]["first_response_seconds"]["avg"] == 300.0
    assert day["slices"]["channel"]["email"]["conversations_created"] == 1
    assert second["from"] == "2024-03-05T00:00:00.000Z"
    assert second["levels"]["overall"]["first_response_seconds"]["avg"] == 100.0
    assert second["previous"]["overall"]["conversations_created"] == 2


def test_csv_rows_carry_the_previous_value_and_the_change(
        database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _report(capsys, "--db", str(database), "--from", "2024-03-05", "--to", "2024-03-06",
                  "--compare", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    (created,) = [r for r in rows if r["level"] == "overall"
                  and r["kpi"] == "conversations_created"]
    # one conversation on the 5th against two on the 4th
    assert (created["value"], created["previous"], created["change"]) == ("1", "2", "-0.5")


def test_a_table_for_people(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _report(capsys, "--db", str(database), "--from", "2024-03-04", "--to", "2024-03-05",
                  "--format", "table")
    header, *lines = out.splitlines()
    assert header.split() == ["from", "to", "level", "key", "kpi", "value", "previous",
                              "change"]
    assert any(line.split()[2:6] == ["teams", "billing", "conversations_created", "2"]
               for line in lines)


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2024-03-06", "--to", "2024-03-04"], "--from (2024-03-06) must be before --to"),
    (["--from", "2024-03-04", "--to", "2024-03-05", "--slice", "colour"],
     "--slice 'colour' is not a slice"),
    (["--from", "yesterday", "--to", "2024-03-05"], "--from: 'yesterday' is neither a date"),
    (["--from", "2024-03-04", "--to", "2024-03-05", "--timezone", "Mars/Base"],
     "--timezone 'Mars/Base' is not an IANA timezone"),
])
def test_a_bad_request_names_the_parameter(database: Path, capsys: pytest.CaptureFixture[str],
                                           args: list[str], message: str) -> None:
    assert main(["history", "report", "--db", str(database), *args]) == 2
    assert message in capsys.readouterr().err


def test_a_missing_database_says_how_to_fill_one(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "report", "--db", str(tmp_path / "none.duckdb"), "--from",
                 "2024-03-04", "--to", "2024-03-05"]) == 2
    assert "replay EVENTS --history PATH" in capsys.readouterr().err


def test_a_backfill_never_mixes_into_a_filled_database(
        database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "more.jsonl"
    events.write_text(json.dumps(EVENTS[0]) + "\n")
    assert main(["replay", str(events), "--history", str(database)]) == 2
    assert "already holds history" in capsys.readouterr().err


def test_an_interrupted_backfill_is_refused(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from service.engine.facts import F_CREATED, Marker
    from service.history.database import HistoryWriter, open_history
    from service.history.ledger import Ledger

    path = tmp_path / "half.duckdb"
    ledger = Ledger()
    ledger.apply("c1", [(None, Marker("c1:cr", F_CREATED, 0, "billing", None))])
    HistoryWriter(open_history(path)).flush(ledger)  # no finish: the replay stopped here
    assert main(["history", "report", "--db", str(path), "--from", "1970-01-01", "--to",
                 "1970-01-02"]) == 2
    assert "no complete history" in capsys.readouterr().err


def test_history_keeps_its_days_and_refuses_periods_before_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "kpis.yaml"
    config.write_text("history:\n  days: 1\n")
    events = [
        _event(1, "conversation.created", "2024-03-02T10:00:00Z", "c0", team="billing"),
        _event(2, "message.created", "2024-03-02T10:01:00Z", "c0", author="agent",
               agent_id="ana"),
        *EVENTS[4:],
    ]
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    path = tmp_path / "history.duckdb"
    assert main(["replay", str(source), "--config", str(config), "--history", str(path)]) == 0
    # as-of: the last event (2024-03-05T09:01:40Z) rounded up to the minute; one day before it
    # the retention begins, so c0 (2024-03-02) is gone and c3 stays
    assert "history: 2 facts written" in capsys.readouterr().err
    db = ["--db", str(path)]
    assert main(["history", "report", *db, "--from", "2024-03-02", "--to", "2024-03-06"]) == 2
    assert ("--from reaches before 2024-03-04T09:02:00.000Z, where the history's retention "
            "(history.days) begins") in capsys.readouterr().err
    assert main(["history", "report", *db, "--from", "2024-03-05", "--to", "2024-03-06",
                 "--by", "day", "--compare"]) == 2
    assert "--compare reaches before" in capsys.readouterr().err
    assert main(["history", "conversations", *db, "--from", "2024-03-04T09:02:00Z", "--to",
                 "2024-03-06"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["conversation_id"] for r in rows] == ["c3"]


def test_dates_are_midnights_of_the_configured_timezone(
        database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "kpis.yaml"
    config.write_text("defaults:\n  timezone: Europe/Berlin\n")
    out = _report(capsys, "--db", str(database), "--config", str(config), "--from",
                  "2024-03-04", "--to", "2024-03-05", "--format", "json")
    # Berlin is at +01:00 in March before the 31st
    assert (json.loads(out)["from"], json.loads(out)["to"]) == ("2024-03-03T23:00:00.000Z",
                                                                "2024-03-04T23:00:00.000Z")
    out = _report(capsys, "--db", str(database), "--config", str(config), "--timezone", "UTC",
                  "--from", "2024-03-04", "--to", "2024-03-05", "--format", "json")
    assert json.loads(out)["from"] == "2024-03-04T00:00:00.000Z"


def test_a_parquet_export_partitioned_by_day_answers_as_the_database(
        database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "export"
    assert main(["history", "export", "--db", str(database), "--output", str(export)]) == 0
    assert "6 facts" in capsys.readouterr().out
    # one directory per UTC day that holds facts (the fixture's are on the 4th and the 5th)
    assert sorted(p.name for p in (export / "facts").iterdir()) == ["day=2024-03-04",
                                                                    "day=2024-03-05"]
    query = ["--from", "2024-03-04", "--to", "2024-03-06", "--by", "day", "--slice",
             "channel", "--format", "json"]
    from_db = _report(capsys, "--db", str(database), *query)
    assert _report(capsys, "--parquet", str(export), *query) == from_db
    period = ["--from", "2024-03-04", "--to", "2024-03-06"]
    assert main(["history", "conversations", "--db", str(database), *period]) == 0
    rows = capsys.readouterr().out
    assert main(["history", "conversations", "--parquet", str(export), *period]) == 0
    assert capsys.readouterr().out == rows


def test_reading_an_export_that_is_not_there_says_how_to_write_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "report", "--parquet", str(tmp_path), "--from", "2024-03-04",
                 "--to", "2024-03-05"]) == 2
    assert "history export --output DIR" in capsys.readouterr().err


def test_an_export_again_replaces_the_earlier_one(
        database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Erased data must not survive in the day directories of an earlier export."""
    export = tmp_path / "export"
    assert main(["history", "export", "--db", str(database), "--output", str(export)]) == 0
    assert main(["history", "erase", "--customer", "cust-1", "--db", str(database)]) == 0
    assert main(["history", "export", "--db", str(database), "--output", str(export)]) == 0
    capsys.readouterr()
    period = ["--from", "2024-03-04", "--to", "2024-03-06", "--format", "csv"]
    assert main(["history", "conversations", "--parquet", str(export), *period]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["conversation_id"] for r in rows] == ["c2"]


@pytest.mark.parametrize(("args", "message"), [
    (["history", "export", "--output", "{tmp}/notes.txt"], "a file, not a directory"),
    (["history", "export", "--output", "{tmp}"], "holds files that are not an export"),
    (["history", "conversations", "--from", "2024-03-04", "--to", "2024-03-05", "--output",
      "{tmp}/missing/rows.csv"], "the directory"),
])
def test_where_output_cannot_go_is_one_line(database: Path, tmp_path: Path, args: list[str],
                                            message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main([*argv, "--db", str(database)]) == 2
    assert message in capsys.readouterr().err


def test_a_history_in_a_missing_directory_is_refused_before_the_replay(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(EVENTS[0]) + "\n")
    target = tmp_path / "missing" / "history.duckdb"
    assert main(["replay", str(events), "--history", str(target)]) == 2
    assert f"the directory {target.parent} does not exist" in capsys.readouterr().err

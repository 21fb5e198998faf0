"""Replay (SPEC §4, §6): the summary's arithmetic, the rejections it quotes, events dated after
the moment replay runs, as-of parsing, and reports at a far as-of."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from service.cli import main
from service.config import KpiConfig
from service.engine.engine import KpiEngine
from service.engine.records import format_time
from service.replay import replay_lines
from service.timefmt import parse_as_of

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def line(event_id: str, minutes: float, cid: str = "c1", **fields: Any) -> bytes:
    body = {"id": event_id, "type": "conversation.created", "conversation_id": cid,
            "at": _iso(T0 + timedelta(minutes=minutes)), **fields}
    return json.dumps(body).encode() + b"\n"


def test_duplicates_are_not_counted_as_applied() -> None:
    lines = [line(f"e{n}", n, f"c{n}") for n in range(6)] + [line("e0", 0, "c0")] * 5
    engine = KpiEngine(KpiConfig())
    stats = replay_lines(engine, lines)
    assert stats.summary(engine).startswith("11 lines, 6 events applied; 5 duplicates ignored")


def test_rejections_beyond_the_first_five_are_counted() -> None:
    lines = [b'{"id": "x", "type": "nope"}\n'] * 8 + [line("e1", 0)]
    engine = KpiEngine(KpiConfig())
    summary = replay_lines(engine, lines).summary(engine)
    assert "1 events applied" in summary
    assert "8 invalid skipped" in summary
    assert summary.count("\n  line ") == 5
    assert summary.endswith("\n  … and 3 more")


def test_exactly_five_rejections_need_no_more() -> None:
    engine = KpiEngine(KpiConfig())
    summary = replay_lines(engine, [b'{"id": "x", "type": "nope"}\n'] * 5).summary(engine)
    assert "more" not in summary


def test_events_after_the_latest_time_are_left_out_without_as_of() -> None:
    engine = KpiEngine(KpiConfig())
    latest = int((T0 + timedelta(minutes=30)).timestamp() * 1000)
    lines = [line("e1", 0), line("e2", 10, "c2"), line("e3", 31, "c3"),
             line("e4", 5_000_000, "c4")]
    stats = replay_lines(engine, lines, latest_ms=latest)
    assert (stats.events, stats.future) == (2, 2)
    assert "2 future" in stats.summary(engine)
    # SPEC §4: the latest event time (T0 + 10 min) rounded up to the next whole minute
    assert engine.report()["as_of"] == "2026-03-02T08:11:00.000Z"


def test_an_explicit_as_of_takes_every_event_before_it() -> None:
    engine = KpiEngine(KpiConfig())
    as_of = int((T0 + timedelta(minutes=20)).timestamp() * 1000)
    stats = replay_lines(engine, [line("e1", 0), line("e2", 40, "c2")], as_of,
                         latest_ms=as_of - 1)
    assert (stats.events, stats.after_as_of, stats.future) == (1, 1, 0)


def test_cli_replay_without_as_of_ignores_a_far_future_event(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "events.jsonl"
    far = {"id": "f", "type": "conversation.created", "conversation_id": "c9",
           "at": "9999-12-01T00:00:00Z"}
    path.write_bytes(line("e1", 0) + json.dumps(far).encode() + b"\n")
    assert main(["replay", str(path)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["as_of"] == "2026-03-02T08:01:00.000Z"
    assert "1 events applied" in err and "1 future" in err


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
                                  "1969-12-31T23:59:59Z"])
def test_unrepresentable_as_of_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"outside the supported range .* e\.g\. 9999-12-31"):
        parse_as_of(text)


def test_as_of_range_ends() -> None:
    assert parse_as_of("1970-01-01T00:00:00Z") == 0
    assert parse_as_of("9999-12-31T23:59:59.999Z") == 253_402_300_799_999
    assert parse_as_of("2024-03-04T19:00:00+01:00") == 1_709_575_200_000
    assert format_time(253_402_300_799_999) == "9999-12-31T23:59:59.999Z"


def test_report_at_a_far_as_of() -> None:
    config = KpiConfig.model_validate({"defaults": {"timezone": "America/New_York", "sla": {
        "first_response": {"target": 3600, "business_hours": True}}}})
    engine = KpiEngine(config)
    replay_lines(engine, [line("e1", 0), line("e2", 1, "c2")])
    report = engine.report(parse_as_of("9999-12-31T23:59:59.999Z"))
    assert report["as_of"] == "9999-12-31T23:59:59.999Z"
    assert report["live"]["overall"]["open"] == 2
    assert report["live"]["overall"]["sla_breaching"] == 2


def test_business_durations_near_the_end_of_9999_do_not_fail() -> None:
    config = KpiConfig.model_validate({"defaults": {"timezone": "Pacific/Kiritimati"}})
    engine = KpiEngine(config)
    created = {"id": "c", "type": "conversation.created", "conversation_id": "z",
               "at": "9999-12-01T00:00:00Z"}
    reply = {"id": "r", "type": "message.created", "conversation_id": "z", "author": "agent",
             "agent_id": "a1", "at": "9999-12-02T00:00:00Z"}
    stats = replay_lines(engine, [json.dumps(created).encode(), json.dumps(reply).encode()])
    assert stats.events == 2
    values = engine.report()["windows"]["24h"]["overall"]["first_response_seconds"]
    assert values["count"] == 1 and values["avg"] == 86_400

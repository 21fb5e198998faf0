"""The event contract: examples validate, JSON Schema files are current, bad events are named."""

import json
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from schemas import EVENT_MODELS, event_adapter
from schemas.export import SCHEMA_DIR, render_schemas
from service.ingest import MAX_LISTED_REJECTIONS, decode_message, describe_error

EXAMPLES = Path(__file__).parents[3] / "schemas" / "examples"
TYPES = [m.model_fields["type"].annotation.__args__[0] for m in EVENT_MODELS]  # type: ignore[union-attr]


def test_one_example_per_type() -> None:
    assert sorted(p.stem for p in EXAMPLES.glob("*.json")) == sorted(TYPES)


@pytest.mark.parametrize("event_type", TYPES)
def test_example_validates_and_keeps_extra_fields(event_type: str) -> None:
    raw = (EXAMPLES / f"{event_type}.json").read_bytes()
    event = event_adapter.validate_json(raw)
    assert event.type == event_type
    original = json.loads(raw)
    dumped = event.model_dump(mode="json", exclude_none=True)
    for key, value in original.items():
        if key != "at":
            assert dumped[key] == value, key
    assert event.at.utcoffset() is not None


def test_schema_files_are_current() -> None:
    rendered = render_schemas()
    on_disk = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.json")}
    assert on_disk == rendered, "schemas/json is stale: run `make schemas`"


def _error(payload: dict) -> str:
    with pytest.raises(ValidationError) as info:
        event_adapter.validate_python(payload)
    return describe_error(info.value)


BASE = {"id": "e1", "at": "2024-03-04T10:00:00Z", "conversation_id": "c1"}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({**BASE, "type": "conversation.created", "at": "2024-03-04T10:00:00"},
         "at: Input should have timezone info"),
        ({**BASE, "type": "conversation.created", "channel": "fax"}, "channel: Input should be"),
        ({**BASE, "type": "conversation.created", "priority": "p1"}, "priority: Input should be"),
        ({**BASE, "type": "no.such.type"}, "type: unknown event type 'no.such.type'"),
        ({"id": "e1", "at": "2024-03-04T10:00:00Z"}, "type: field required"),
        ({**BASE, "type": "conversation.assigned"}, "agent_id: Field required"),
        ({**BASE, "type": "message.created", "author": "agent"},
         "agent_id is required when author is agent"),
        ({**BASE, "type": "rating.submitted", "survey": "csat", "score": 9},
         "score 9 is outside 1..5 for survey csat"),
        ({**BASE, "type": "rating.submitted", "survey": "nps", "score": -1},
         "score -1 is outside 0..10 for survey nps"),
        ({**BASE, "type": "rating.submitted", "survey": "ces", "score": 8},
         "score 8 is outside 1..7"),
        ({**BASE, "type": "review.submitted", "agent_id": "a", "score": 101},
         "score: Input should be less than or equal to 100"),
        ({**BASE, "type": "agent.status_changed", "agent_id": "a", "status": "lunch"},
         "status: Input should be"),
        ({**BASE, "type": "conversation.created", "id": ""}, "id: String should have at least"),
        ({**BASE, "type": "conversation.created", "conversation_id": None},
         "conversation_id: Input should be a valid string"),
        ({**BASE, "type": "conversation.unassigned", "agent_name": "Leela"},
         "agent_name is given without an agent_id"),
        ({**BASE, "type": "conversation.created", "team_name": "Billing"},
         "team_name is given without a team"),
        ({**BASE, "type": "agent.status_changed", "agent_id": "a", "status": "away",
          "agent_name": "Leela\nTuranga"}, "agent_name: a name may not hold "
         "control characters"),
        ({**BASE, "type": "conversation.created", "team": "t", "team_name": "x" * 201},
         "team_name: String should have at most 200 characters"),
    ],
)
def test_invalid_event_names_field_and_reason(payload: dict, expected: str) -> None:
    assert expected in _error(payload)


def test_decode_message_batch_rejects_bad_elements_alone() -> None:
    good = {**BASE, "type": "conversation.created"}
    batch = [good, {**good, "id": "e2", "channel": "fax"}, 42, {**good, "id": "e3"}]
    decoded = decode_message(orjson.dumps(batch))
    assert [e.id for e in decoded.events] == ["e1", "e3"]
    assert [r.reason for r in decoded.rejections] == ["invalid_event", "not_an_event"]
    assert "channel" in decoded.rejections[0].error
    assert orjson.loads(decoded.rejections[0].raw)["id"] == "e2"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(b"not json", "invalid_json"), (b'{"id": ', "invalid_json"), (b'"text"', "not_an_event"),
     (b"[1, 2", "invalid_json")],
)
def test_decode_message_rejects_garbage(raw: bytes, reason: str) -> None:
    decoded = decode_message(raw)
    assert decoded.events == []
    assert [r.reason for r in decoded.rejections] == [reason]
    assert decoded.rejections[0].raw == raw


def test_decode_message_rejects_oversized() -> None:
    raw = orjson.dumps({**BASE, "type": "conversation.created", "pad": "x" * 2000})
    decoded = decode_message(raw, max_bytes=1000)
    assert [r.reason for r in decoded.rejections] == ["oversized"]
    assert "exceeds the limit of 1000 bytes" in decoded.rejections[0].error


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"at": 1709546400}, "at: must be an RFC 3339 timestamp string"),
        ({"at": "1709546400"}, "at: must be an RFC 3339 timestamp string"),
        ({"at": "2024-03-04T10:00Z"}, "at: must be an RFC 3339 timestamp string"),
        ({"at": "9999-12-31T23:59:59-14:00"}, "at: must lie between 1970-01-01 and 9999-12-30"),
        ({"at": "1969-12-31T23:59:59Z"}, "at: must lie between"),
        ({"type": "rating.submitted", "survey": "csat", "score": True},
         "score: Input should be a valid integer"),
        ({"type": "rating.submitted", "survey": "csat", "score": "5"},
         "score: Input should be a valid integer"),
        ({"type": "rating.submitted", "survey": "csat", "score": 4.0},
         "score: Input should be a valid integer"),
        ({"type": "message.created", "author": "customer", "internal": "yes"},
         "internal: Input should be a valid boolean"),
        ({"type": "message.created", "author": "bot", "automated": 1},
         "automated: Input should be a valid boolean"),
        ({"type": "review.submitted", "agent_id": "a", "score": True},
         "score: Input should be a valid number"),
        ({"type": "review.submitted", "agent_id": "a", "score": "90"},
         "score: Input should be a valid number"),
    ],
)
def test_types_are_strict_where_the_spec_is(changes: dict, expected: str) -> None:
    """SPEC §2: RFC 3339 strings, integers and booleans; the same from a JSON message and from
    an element of a batch envelope."""
    payload = {**BASE, "type": "conversation.created", **changes}
    assert _error(payload).startswith(expected)
    decoded = decode_message(orjson.dumps(payload))
    assert decoded.rejections[0].error.startswith(expected)
    decoded = decode_message(orjson.dumps([payload]))
    assert decoded.rejections[0].error.startswith(expected)


def test_lax_forms_the_spec_allows_still_pass() -> None:
    event = event_adapter.validate_python(
        {**BASE, "type": "review.submitted", "agent_id": "a", "score": 90,
         "at": "2024-03-04t10:00:00.5+02:00"})
    assert event.score == 90 and event.at.utcoffset().total_seconds() == 7200


def test_a_tombstone_is_rejected() -> None:
    decoded = decode_message(None)
    assert decoded.events == [] and decoded.rejections[0].reason == "not_an_event"
    assert "tombstone" in decoded.rejections[0].error


def test_an_element_nested_too_deep_is_rejected_alone_with_its_bytes() -> None:
    deep = b'{"type":"bogus","x":' + b"[" * 300 + b"]" * 300 + b"}"
    good = orjson.dumps({**BASE, "type": "conversation.created"})
    decoded = decode_message(b"[" + deep + b"," + good + b"]")
    [rejection] = decoded.rejections
    assert (rejection.reason, rejection.element, rejection.raw) == ("invalid_json", 0, deep)
    assert "nested deeper than 200 levels" in rejection.error
    assert [e.id for e in decoded.events] == [BASE["id"]]


def test_a_message_nested_past_the_interpreters_limit_is_rejected_whole() -> None:
    raw = b"[" * 100_000 + b"]" * 100_000
    [rejection] = decode_message(raw).rejections
    assert (rejection.reason, rejection.element) == ("invalid_json", None)
    assert "nested deeper than 200 levels" in rejection.error


def test_a_huge_unknown_type_gives_a_short_error() -> None:
    raw = orjson.dumps({**BASE, "type": "t" * 600_000})
    rejection = decode_message(raw, max_bytes=10_000_000).rejections[0]
    assert rejection.error.startswith("type: unknown event type 'tttt")
    assert len(rejection.error) < 200


def test_the_size_limit_is_per_event_not_per_envelope() -> None:
    good = [{**BASE, "id": f"e{i}", "type": "conversation.created"} for i in range(100)]
    big = {**BASE, "id": "big", "type": "conversation.created", "pad": "x" * 3000}
    raw = orjson.dumps([*good[:50], big, *good[50:]])
    assert len(raw) > 3000
    decoded = decode_message(raw, max_bytes=2000)
    assert len(decoded.events) == 100
    assert [(r.reason, r.element) for r in decoded.rejections] == [("oversized", 50)]
    assert orjson.loads(decoded.rejections[0].raw)["id"] == "big"


def test_events_after_the_latest_accepted_time_are_future() -> None:
    late_ok = {**BASE, "id": "ok", "type": "conversation.created", "at": "2024-03-04T10:00:00Z"}
    ahead = {**late_ok, "id": "ahead", "at": "2024-03-04T10:00:00.001Z"}
    latest_ms = 1_709_546_400_000
    decoded = decode_message(orjson.dumps([late_ok, ahead]), latest_ms=latest_ms)
    assert [e.id for e in decoded.events] == ["ok"]
    assert [(r.reason, r.element) for r in decoded.rejections] == [("future", 1)]
    single = decode_message(orjson.dumps(ahead), latest_ms=latest_ms)
    assert single.rejections[0].reason == "future"
    assert "clock" in single.rejections[0].error


# -- strict JSON (RFC 8259): what lenient parsers let through -----------------------------------

RATING = {**BASE, "type": "rating.submitted", "survey": "csat", "score": 5}


@pytest.mark.parametrize("word", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(word: str) -> None:
    """An unknown field holding NaN was accepted and the event counted; NaN is not JSON."""
    raw = orjson.dumps(RATING)[:-1] + b',"extra":' + word.encode() + b"}"
    decoded = decode_message(raw)
    assert decoded.events == []
    [rejection] = decoded.rejections
    assert rejection.reason == "invalid_json"
    assert "is not a JSON number" in rejection.error and "line 1 column" in rejection.error


def test_a_duplicate_name_is_rejected_not_last_one_wins() -> None:
    """``score`` 5 then 1: readers disagree which is meant; the event goes to the dead
    letters naming the duplicate."""
    raw = orjson.dumps(RATING)[:-1] + b',"score":1}'
    [rejection] = decode_message(raw).rejections
    assert rejection.reason == "invalid_json"
    assert 'duplicate name "score"' in rejection.error


def test_in_an_envelope_a_duplicate_or_nan_rejects_its_element_alone() -> None:
    good = orjson.dumps({**RATING, "id": "good"})
    twice = orjson.dumps({**RATING, "id": "twice"})[:-1] + b',"survey":"nps"}'
    nan = orjson.dumps({**RATING, "id": "nan"})[:-1] + b',"x":NaN}'
    decoded = decode_message(b"[" + b",".join([twice, good, nan]) + b"]")
    assert [e.id for e in decoded.events] == ["good"]
    assert [(r.reason, r.element, r.raw) for r in decoded.rejections] == [
        ("invalid_json", 0, twice), ("invalid_json", 2, nan)]
    assert 'duplicate name "survey"' in decoded.rejections[0].error


@pytest.mark.parametrize("envelope", [False, True])
def test_bytes_that_are_not_utf8_are_named_as_such(envelope: bool) -> None:
    raw = orjson.dumps({**RATING, "id": "x"}).replace(b'"x"', b'"\xff"')
    [rejection] = decode_message(b"[" + raw + b"]" if envelope else raw).rejections
    assert rejection.reason == "invalid_json"
    assert rejection.error.startswith("not UTF-8: byte 0xff at offset")
    assert "surrogate" not in rejection.error


def test_an_envelope_of_many_bad_elements_keeps_a_bounded_number_of_rejections() -> None:
    """120,000 tiny bad elements: the first 100 have dead letters of their own, the rest are
    counted by reason in one more, which carries the envelope; the count is every element."""
    raw = b"[" + b",".join([b"1"] * 60_000 + [b'{"type":"x"}'] * 60_000) + b"]"
    decoded = decode_message(raw)
    assert decoded.events == []
    listed = [r for r in decoded.rejections if r.count == 1]
    summaries = [r for r in decoded.rejections if r.count > 1]
    assert len(listed) == MAX_LISTED_REJECTIONS
    assert [(r.reason, r.count, r.raw) for r in summaries] == [
        ("invalid_event", 60_000, raw), ("not_an_event", 60_000 - MAX_LISTED_REJECTIONS, raw)]
    assert sum(r.count for r in decoded.rejections) == 120_000
    assert "60000 more elements" in summaries[0].error

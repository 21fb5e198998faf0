"""The event contract: examples validate, JSON Schema files are current, bad events are named."""

import json
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from schemas import EVENT_MODELS, event_adapter
from schemas.export import SCHEMA_DIR, render_schemas
from service.ingest import decode_message, describe_error

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

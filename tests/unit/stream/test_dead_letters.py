"""Dead letters always fit (issue 10): bounded headers, truncated values that say so."""

from service.ingest import Rejection
from service.stream.dead_letters import (
    MAX_ERROR_CHARS,
    MAX_KEY_BYTES,
    MAX_VALUE_BYTES,
    Origin,
    dead_letter,
)

ORIGIN = Origin("support.events", 3, 1234, b"c1")


def test_headers_name_the_reason_and_the_original() -> None:
    letter = dead_letter(Rejection("invalid_event", "at: bad", b"{}", element=7), ORIGIN)
    assert dict(letter.headers) == {
        "reason": b"invalid_event", "error": b"at: bad", "topic": b"support.events",
        "partition": b"3", "offset": b"1234", "size": b"2", "element": b"7"}
    assert (letter.key, letter.value) == (b"c1", b"{}")


def test_a_large_value_is_truncated_and_says_so() -> None:
    raw = b"x" * (5 * MAX_VALUE_BYTES)
    letter = dead_letter(Rejection("oversized", "too big", raw), ORIGIN)
    headers = dict(letter.headers)
    assert letter.value == raw[:MAX_VALUE_BYTES]
    assert headers["truncated"] == b"true" and headers["size"] == str(len(raw)).encode()


def test_headers_and_key_stay_small_whatever_the_input() -> None:
    huge_key = Origin("support.events", 0, 1, b"k" * 100_000)
    letter = dead_letter(Rejection("invalid_event", "é" * 600_000, b"{}"), huge_key)
    assert sum(len(v) for _, v in letter.headers) < 4 * MAX_ERROR_CHARS + 200
    assert letter.key == b"k" * MAX_KEY_BYTES
    assert dict(letter.headers)["key_truncated"] == b"true"

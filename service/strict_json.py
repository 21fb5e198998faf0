"""JSON exactly as RFC 8259 defines it, for everything that comes from outside.

Parsers are lenient by default: Python's and pydantic's accept ``NaN`` and ``Infinity``, which
are not JSON, and every common one keeps the last of two equal names in an object (``"score":
5, "score": 1`` becomes 1), so two readers of one message can see different events. Here a
message is parsed by jiter (pydantic's own parser) with both refused, and every refusal says
what is wrong and where: a duplicate name, a number that is not JSON, bytes that are not UTF-8.
"""

import json
from typing import Any

import jiter

__all__ = ["MAX_DEPTH", "StrictJsonError", "elements", "loads"]

MAX_DEPTH = 200
"""jiter's nesting limit: deeper arrays and objects are refused."""


class StrictJsonError(ValueError):
    """The text is not strict JSON; the message names the problem and its place."""


def loads(raw: bytes) -> Any:
    """The JSON value of ``raw``. Raises StrictJsonError for anything RFC 8259 does not allow
    (and for duplicate names in an object, which it leaves open)."""
    try:
        return jiter.from_json(raw, allow_inf_nan=False, catch_duplicate_keys=True,
                               cache_mode="keys")
    except ValueError as error:
        raise StrictJsonError(_describe(raw, str(error))) from None


def elements(raw: bytes) -> list[tuple[Any, bytes]]:
    """The elements of a JSON array, each as (its value or the StrictJsonError that refuses
    it, its bytes): a duplicate name or a NaN in one element refuses that element alone.
    Raises StrictJsonError when ``raw`` is not an array of JSON values at all (not UTF-8, a
    syntax error)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise StrictJsonError(_not_utf8(raw, error)) from None
    decoder = json.JSONDecoder()
    position = _skip(text, 0)
    if text[position:position + 1] != "[":
        raise StrictJsonError("not a JSON array")
    position = _skip(text, position + 1)
    out: list[tuple[Any, bytes]] = []
    if text[position:position + 1] == "]":
        return out
    while True:
        try:
            _, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise StrictJsonError(f"not valid JSON: {error}") from None
        except RecursionError:
            raise StrictJsonError(f"an element nested deeper than {MAX_DEPTH} levels at offset "
                                  f"{position}") from None
        piece = text[position:end].encode()
        try:
            out.append((loads(piece), piece))
        except StrictJsonError as error:
            out.append((error, piece))
        position = _skip(text, end)
        separator = text[position:position + 1]
        if separator == "]":
            if _skip(text, position + 1) != len(text):
                raise StrictJsonError("not valid JSON: text after the array")
            return out
        if separator != ",":
            raise StrictJsonError(f"not valid JSON: ',' or ']' expected at offset {position}")
        position = _skip(text, position + 1)


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _not_utf8(raw: bytes, error: UnicodeDecodeError) -> str:
    return (f"not UTF-8: byte 0x{raw[error.start]:02x} at offset {error.start} cannot start or "
            "continue a UTF-8 character (messages are UTF-8 JSON, RFC 8259 §8.1)")


def _describe(raw: bytes, message: str) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return _not_utf8(raw, error)
    if message.startswith("recursion limit exceeded"):
        return f"nested deeper than {MAX_DEPTH} levels (at {message.partition(' at ')[2]})"
    if message.startswith("Detected duplicate key"):
        name, _, place = message.removeprefix("Detected duplicate key ").partition(" at ")
        return (f"duplicate name {name} in one object at {place}: names in a JSON object "
                "must be unique, or readers disagree on its value (RFC 8259 §4)")
    place = message.rpartition(" at line ")[2]
    token = _token_at(raw, place)
    for word in ("NaN", "Infinity", "-Infinity"):
        if token.startswith(word):
            return (f"{word} at line {place} is not a JSON number (RFC 8259 §6 has no NaN or "
                    "Infinity)")
    return f"not valid JSON: {message}"


def _token_at(raw: bytes, place: str) -> str:
    """The text at ``line L column C`` (1-based) of ``raw``."""
    try:
        line_text, _, column_text = place.partition(" column ")
        line, column = int(line_text), int(column_text)
    except ValueError:
        return ""
    lines = raw.decode("utf-8").split("\n")
    if not 1 <= line <= len(lines):
        return ""
    return lines[line - 1][max(column - 1, 0):][:10]

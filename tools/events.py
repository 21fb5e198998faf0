"""The docs' tables of the event contract, rendered from the committed JSON Schemas
(``schemas/json``, written by ``python -m schemas.export``): the fields every event has, then
each type's own fields, whether they are required and their default."""

import json
from pathlib import Path
from typing import Any

from schemas.events import EVENT_MODELS, SCORE_RANGES
from schemas.export import SCHEMA_DIR

__all__ = ["COMMON_FIELDS", "render_event_tables"]

COMMON_FIELDS = ("id", "type", "at", "team", "source", "team_name", "agent_name")
"""Fields of every event type, listed once in the first table."""


def _type_name(model: Any) -> str:
    return str(model.model_fields["type"].annotation.__args__[0])


def _schema(type_name: str, directory: Path) -> dict[str, Any]:
    return dict(json.loads((directory / f"{type_name}.schema.json").read_text()))


def _describe(prop: dict[str, Any]) -> str:
    """A property's type in words: its values, bounds, nullability and default."""
    variants = prop.get("anyOf", [prop])
    kinds = []
    for variant in variants:
        if variant.get("type") == "null":
            continue
        if "const" in variant:
            kinds.append(f"`{variant['const']}`")
        elif "enum" in variant:
            kinds.append(" \\| ".join(f"`{value}`" for value in variant["enum"]))
        elif variant.get("format") == "date-time":
            kinds.append("RFC 3339 timestamp with offset")
        else:
            kind = str(variant.get("type", "any"))
            if "minimum" in variant and "maximum" in variant:
                kind += f" {variant['minimum']}–{variant['maximum']}"
            kinds.append(kind)
    text = " or ".join(kinds)
    if any(variant.get("type") == "null" for variant in variants):
        text += " or null"
    if prop.get("default") not in (None, "") and "const" not in prop:
        default = json.dumps(prop["default"]).strip('"')
        text += f"; default `{default}`"
    return text


def _fields(schema: dict[str, Any], names: list[str]) -> str:
    required = set(schema.get("required", []))
    parts = []
    for name in names:
        mark = "" if name in required else " (optional)"
        parts.append(f"`{name}`{mark}: {_describe(schema['properties'][name])}")
    return "<br>".join(parts) or "–"


def render_event_tables(directory: Path = SCHEMA_DIR) -> str:
    """The common fields, then one row per event type with its own fields and schema file."""
    first = _schema(_type_name(EVENT_MODELS[0]), directory)
    required = set(first["required"])
    rows = ["| field | required | type | meaning |", "|---|---|---|---|"]
    for name in COMMON_FIELDS:
        prop = first["properties"][name]
        meaning = prop.get("description", "the event type, one of those below" if name == "type"
                           else "")
        kind = "string" if name == "type" else _describe(prop)
        rows.append(f"| `{name}` | {'yes' if name in required else 'no'} | {kind} | {meaning} |")
    rows += ["", "| type | its own fields | schema |", "|---|---|---|"]
    for model in EVENT_MODELS:
        name = _type_name(model)
        schema = _schema(name, directory)
        own = [field for field in schema["properties"] if field not in COMMON_FIELDS]
        link = f"[{name}.schema.json](../schemas/json/{name}.schema.json)"
        rows.append(f"| `{name}` | {_fields(schema, own)} | {link} |")
    ranges = ", ".join(f"{survey} {low}–{high}" for survey, (low, high) in SCORE_RANGES.items())
    rows += ["", f"A rating's `score` must lie in its survey's range: {ranges}."]
    return "\n".join(rows)

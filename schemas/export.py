"""Write the JSON Schema files of the event contract: ``python -m schemas.export``.

``schemas/json/event.schema.json`` is the union (discriminated on ``type``); one file per type
sits beside it. A test fails when these files are stale.
"""

import json
import sys
from pathlib import Path
from typing import Any

from schemas.events import EVENT_MODELS, event_adapter

__all__ = ["SCHEMA_DIR", "render_schemas", "write_schemas"]

SCHEMA_DIR = Path(__file__).parent / "json"


def _type_name(model: Any) -> str:
    return str(model.model_fields["type"].annotation.__args__[0])


def render_schemas() -> dict[str, str]:
    """File name → JSON text, for every schema file."""
    files = {"event.schema.json": event_adapter.json_schema()}
    for model in EVENT_MODELS:
        files[f"{_type_name(model)}.schema.json"] = model.model_json_schema()
    return {name: json.dumps(schema, indent=2, sort_keys=True) + "\n"
            for name, schema in files.items()}


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_schemas():
        print(path, file=sys.stderr)

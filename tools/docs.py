"""The generated sections of the docs: ``python -m tools.docs`` (``make generate``) rewrites
each between its markers from the code that is its source, and a contract test fails when one
is stale. ``GENERATED`` says which file holds which section."""

import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from tools.events import render_event_tables
from tools.markers import stale_sections, update_file
from tools.runbooks import render_alert_index
from tools.tables import (
    render_agent_kpis,
    render_config_defaults,
    render_kpi_table,
    render_metric_table,
    render_settings_table,
)

__all__ = ["DOCS", "GENERATED", "ROOT", "render", "stale", "update_docs"]

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

GENERATED: Mapping[str, Mapping[str, Callable[[], str]]] = {
    "events.md": {"events": render_event_tables},
    "kpis.md": {"kpis": render_kpi_table},
    "configuration.md": {"config-defaults": render_config_defaults,
                         "settings": render_settings_table},
    "outputs.md": {"agent-kpis": render_agent_kpis, "metrics": render_metric_table},
    "runbooks.md": {"alerts": render_alert_index},
}
"""File of docs/ → section name → the function that renders its body."""


def render(file_name: str) -> dict[str, str]:
    """The generated sections of one file of docs/, rendered now."""
    return {name: body() for name, body in GENERATED[file_name].items()}


def stale(docs: Path = DOCS) -> dict[str, list[str]]:
    """File name → the generated sections that differ from the code (empty when current)."""
    found = {}
    for file_name in GENERATED:
        names = stale_sections((docs / file_name).read_text(), render(file_name))
        if names:
            found[file_name] = names
    return found


def update_docs(docs: Path = DOCS) -> list[str]:
    """Rewrite every generated section; the names of the files that changed."""
    return [file_name for file_name in GENERATED if update_file(docs / file_name,
                                                                 render(file_name))]


if __name__ == "__main__":
    changed = update_docs()
    print(f"docs/: {', '.join(changed) + ' updated' if changed else 'up to date'}",
          file=sys.stderr)

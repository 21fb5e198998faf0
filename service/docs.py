"""Generated parts of the README, rendered from the KPI registry: ``python -m service.docs``
rewrites them between their markers, and a test fails when the README is stale."""

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from service.engine.kpis import LIVE_KPIS, WINDOW_KPIS, KpiSpec

__all__ = ["README", "render_kpi_table", "render_sections", "update_readme"]

README = Path(__file__).resolve().parents[1] / "README.md"

_LEVELS = {"agents": "agent", "teams": "team", "overall": "overall"}


def _levels(spec: KpiSpec) -> str:
    return ", ".join(_LEVELS[level] for level in spec.levels)


def _key(spec: KpiSpec) -> str:
    if spec.kind == "distribution":
        return f"`{spec.key}` {{count, avg, p50, p90}}"
    if spec.kind == "group":
        groups: dict[str, list[str]] = {}
        for name in spec.fields:
            head, _, tail = name.partition(".")
            groups.setdefault(head if tail else "", []).append(tail or head)
        if "" in groups:
            return f"`{spec.key}` {{{', '.join(groups[''])}}}"
        inner = ", ".join(f"{head}: {{{', '.join(tails)}}}" for head, tails in groups.items())
        return f"`{spec.key}` {{{inner}}}"
    return f"`{spec.key}`"


def render_kpi_table() -> str:
    rows = ["| KPI | levels | what it is | formula |", "|---|---|---|---|"]
    for spec in WINDOW_KPIS:
        rows.append(f"| {_key(spec)} | {_levels(spec)} | {spec.help} | {spec.formula} |")
    rows += ["", "Live state at t (no window):", "",
             "| key | levels | what it is | formula |", "|---|---|---|---|"]
    for spec in LIVE_KPIS:
        rows.append(f"| `{spec.key}` | {_levels(spec)} | {spec.help} | {spec.formula} |")
    return "\n".join(rows)


def render_metric_table() -> str:
    from service.metrics.names import TARGET_METRICS, metric_specs
    from service.stream.health import HEALTH_METRICS

    rows = ["| metric | levels | labels | meaning |", "|---|---|---|---|"]
    grouped: dict[tuple[str, ...], list[Any]] = {}
    for spec in metric_specs():
        grouped.setdefault(spec.path, []).append(spec)
    for specs in grouped.values():
        levels = "/".join(s.level for s in specs)
        extra = [label for label in specs[0].labels if label not in ("agent", "team")]
        labels = ", ".join(extra) or "–"
        name = specs[0].name.replace(f"support_{specs[0].level}_", "support_<level>_", 1)
        rows.append(f"| `{name}` | {levels} | {labels} | {specs[0].help} |")
    for target in TARGET_METRICS:
        extra = [label for label in target.labels if label != "team"]
        rows.append(f"| `{target.name}` | team | {', '.join(extra)} | {target.help} |")
    rows += ["", "Worker health:", "", "| metric | type | labels | meaning |",
             "|---|---|---|---|"]
    for name, kind, text, label_names in HEALTH_METRICS:
        rows.append(f"| `{name}` | {kind} | {', '.join(label_names) or '–'} | {text} |")
    return "\n".join(rows)


def render_settings_table() -> str:
    from service.settings import Settings

    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        variable = field.validation_alias or f"SUPPORT_KPI_{name.upper()}"
        default = "–" if field.default in (None, "") else f"`{field.default}`"
        rows.append(f"| `{variable}` | {default} | {field.description} |")
    return "\n".join(rows)


def render_sections() -> dict[str, str]:
    return {"kpis": render_kpi_table(), "metrics": render_metric_table(),
            "settings": render_settings_table()}


def _replacement(body: str) -> Callable[[re.Match[str]], str]:
    return lambda match: match.group(1) + body + "\n" + match.group(2)


def update_readme(path: Path = README) -> bool:
    """Rewrite the generated sections; True when the file changed."""
    text = path.read_text()
    new = text
    for name, body in render_sections().items():
        pattern = re.compile(
            rf"(<!-- generated:{name} -->\n)(?:.*?\n)?(<!-- /generated:{name} -->)", re.S)
        if not pattern.search(new):
            raise ValueError(f"{path}: markers for section {name!r} are missing")
        new = pattern.sub(_replacement(body), new)
    if new != text:
        path.write_text(new)
    return new != text


if __name__ == "__main__":
    changed = update_readme()
    print(f"{README.name}: {'updated' if changed else 'up to date'}", file=sys.stderr)

"""The docs' tables that the code is the source of: the KPI registry (KPIs, live state,
metrics), the environment settings and the configuration's defaults. Each function returns
Markdown; ``tools.docs`` places it between the markers of its file."""

from typing import Any

import yaml

from service.engine.kpis import LIVE_KPIS, WINDOW_KPIS, KpiSpec

__all__ = ["render_agent_kpis", "render_config_defaults", "render_kpi_table",
           "render_metric_table", "render_settings_table"]

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
    """The windowed KPIs, then the live state, each with levels, meaning and formula."""
    rows = ["| KPI | levels | what it is | formula |", "|---|---|---|---|"]
    for spec in WINDOW_KPIS:
        rows.append(f"| {_key(spec)} | {_levels(spec)} | {spec.help} | {spec.formula} |")
    rows += ["", "Live state at t (no window):", "",
             "| key | levels | what it is | formula |", "|---|---|---|---|"]
    for spec in LIVE_KPIS:
        rows.append(f"| `{spec.key}` | {_levels(spec)} | {spec.help} | {spec.formula} |")
    return "\n".join(rows)


def render_metric_table() -> str:
    """Every exported gauge (KPIs, configured targets and display names), then the worker's
    health metrics."""
    from service.metrics.names import INFO_METRICS, TARGET_METRICS, metric_specs
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
    for info in INFO_METRICS:
        level = info.labels[0]
        extra = [label for label in info.labels if label != level]
        rows.append(f"| `{info.name}` | {level} | {', '.join(extra)} | {info.help} |")
    rows += ["", "Worker health:", "", "| metric | type | labels | meaning |",
             "|---|---|---|---|"]
    for name, kind, text, label_names in HEALTH_METRICS:
        rows.append(f"| `{name}` | {kind} | {', '.join(label_names) or '–'} | {text} |")
    return "\n".join(rows)


def render_settings_table() -> str:
    """Every environment variable of ``Settings`` with its default and meaning."""
    from service.settings import Settings

    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        variable = field.validation_alias or f"SUPPORT_KPI_{name.upper()}"
        default = "–" if field.default in (None, "") else f"`{field.default}`"
        rows.append(f"| `{variable}` | {default} | {field.description} |")
    return "\n".join(rows)


def render_config_defaults() -> str:
    """The configuration every team gets without a file, as the YAML that would say so."""
    from service.config import KpiConfig

    text = yaml.safe_dump(KpiConfig().model_dump(mode="json"), sort_keys=False,
                          default_flow_style=None, width=96)
    return f"```yaml\n{text}```"


def render_agent_kpis() -> str:
    """The per-agent KPIs exported by default, and those a configuration may add."""
    from service.config import AGENT_KPIS, DEFAULT_AGENT_KPIS

    default = ", ".join(f"`{key}`" for key in DEFAULT_AGENT_KPIS)
    others = ", ".join(f"`{key}`" for key in AGENT_KPIS if key not in DEFAULT_AGENT_KPIS)
    return f"* exported by default: {default}\n* exported when listed: {others}"

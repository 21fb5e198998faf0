"""The alerts' runbook links and the index of docs/runbooks.md, from the deployed alert rules.

Each alert's ``runbook_url`` is ``<base>/runbooks.md#<alert in lower case>``: the anchor GitHub
gives the alert's heading in docs/runbooks.md. The base is the Prometheus external label
``runbook_base`` when it is set, else ``docs`` (the docs directory of the repository)."""

from pathlib import Path
from typing import Any

import yaml

from tools.links import github_anchor

__all__ = ["ALERT_RULES", "DEFAULT_BASE", "alert_rules", "render_alert_index", "runbook_url"]

ALERT_RULES = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "alert_rules.yml"
DEFAULT_BASE = "docs"
"""The runbook base without the external label: the repository's docs directory."""


def runbook_url(alert: str) -> str:
    """The ``runbook_url`` annotation of ``alert``, a template Prometheus expands per alert."""
    return (f"{{{{ with $externalLabels.runbook_base }}}}{{{{ . }}}}{{{{ else }}}}"
            f"{DEFAULT_BASE}{{{{ end }}}}/runbooks.md#{github_anchor(alert)}")


def alert_rules(path: Path = ALERT_RULES) -> list[dict[str, Any]]:
    """The alerting rules of ``path``, in file order, each with the name of its group."""
    groups = yaml.safe_load(path.read_text())["groups"]
    return [{**rule, "group": group["name"]} for group in groups for rule in group["rules"]
            if "alert" in rule]


def render_alert_index(path: Path = ALERT_RULES) -> str:
    """One row per alert: its runbook section, severity, ``for`` and rule group."""
    rows = ["| alert | severity | for | group |", "|---|---|---|---|"]
    for rule in alert_rules(path):
        name = rule["alert"]
        rows.append(f"| [{name}](#{github_anchor(name)}) | {rule['labels']['severity']} | "
                    f"{rule['for']} | {rule['group']} |")
    return "\n".join(rows)

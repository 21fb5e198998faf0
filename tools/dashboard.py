"""The Grafana dashboard, generated from the metric registry so it cannot drift from the metrics.

``python -m tools.dashboard`` writes ``deploy/grafana/dashboards/support-kpi.json``; a test
fails when the committed file is stale. The JSON is built only through grafana-foundation-sdk's
typed builders (the SDK release for the Grafana the compose stack runs, 11.4), never as
hand-written dicts, and ``tools/dashboard_schema.py`` checks it against the SDK's model before
it is written. Panels: ``tools/dashboard_panels.py``; their PromQL:
``tools/dashboard_queries.py``.

Import into an existing Grafana: docs/deployment.md, "Grafana".
"""

import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    VariableHide,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from service.engine.panes import WINDOWS
from tools.dashboard_panels import (
    DATASOURCE_VARIABLE,
    Panels,
    agent_panels,
    bot_panels,
    datasource,
    health_panels,
    overview_panels,
)
from tools.dashboard_queries import kpi
from tools.dashboard_schema import check_dashboard

__all__ = ["DASHBOARD_PATH", "DASHBOARD_UID", "build_dashboard", "render", "write_dashboard"]

DASHBOARD_PATH = (Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "dashboards"
                  / "support-kpi.json")
DASHBOARD_UID = "support-kpi"


def rows() -> list[tuple[str, Panels]]:
    """The dashboard's rows, top to bottom: (title, panels)."""
    return [("Overview", overview_panels()),
            ("Bots and handoffs", bot_panels()),
            ("Agent drill-down", agent_panels()),
            ("Service health", health_panels())]


# --- variables --------------------------------------------------------------------------------

def datasource_variable() -> builders.DatasourceVariable:
    """``$datasource``: any Prometheus data source of the Grafana the dashboard is imported in
    (the provisioned one has uid ``prometheus``)."""
    return (builders.DatasourceVariable(DATASOURCE_VARIABLE).label("Data source")
            .hide(VariableHide.DONT_HIDE).type("prometheus").multi(False).include_all(False).regex("")
            .current(VariableOption(selected=False, text="Prometheus", value="prometheus")))


def label_variable(name: str, label: str, query: str) -> builders.QueryVariable:
    """A multi-value variable of a label's values (All by default, matching any value)."""
    return (builders.QueryVariable(name).label(label).hide(VariableHide.DONT_HIDE)
            .query(query).datasource(datasource()).options([])
            .multi(True).include_all(True).all_value(".*").regex("")
            .current(VariableOption(selected=True, text=["All"], value=["$__all"]))
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC))


def window_variable() -> builders.CustomVariable:
    """``$window``: the KPI windows the workers export (the first by default)."""
    windows = [window.name for window in WINDOWS]
    return (builders.CustomVariable("window").label("Window").hide(VariableHide.DONT_HIDE)
            .values(",".join(windows))
            .multi(False).include_all(False)
            .current(VariableOption(selected=True, text=windows[0], value=windows[0]))
            .options([VariableOption(selected=index == 0, text=window, value=window)
                      for index, window in enumerate(windows)]))


def variables() -> list[builders.DatasourceVariable | builders.QueryVariable
                        | builders.CustomVariable]:
    """datasource, team, agent (of the selected teams), window."""
    team_created = kpi("team", "conversations_created")
    agent_created = kpi("agent", "conversations_created")
    return [datasource_variable(),
            label_variable("team", "Team", f"label_values({team_created.name}, team)"),
            label_variable("agent", "Agent",
                           f'label_values({agent_created.name}{{team=~"$team"}}, agent)'),
            window_variable()]


# --- the dashboard ----------------------------------------------------------------------------

def annotations() -> builders.AnnotationQuery:
    """Grafana's built-in annotations and alerts."""
    return (builders.AnnotationQuery().name("Annotations & Alerts").type("dashboard")
            .datasource(DataSourceRef(type_val="grafana", uid="-- Grafana --"))
            .built_in(1).enable(True).hide(True).icon_color("rgba(0, 211, 255, 1)"))


def dashboard_builder() -> builders.Dashboard:
    """The SDK builder of the whole dashboard: expanded rows, each followed by its panels (the
    SDK places them left to right, wrapping at 24 columns), numbered 1, 2, … top to bottom."""
    board = (builders.Dashboard("Support KPIs").uid(DASHBOARD_UID)
             .description("Live customer-support KPIs per team and agent, and worker health. "
                          "Generated by `python -m tools.dashboard`; do not edit by hand.")
             .tags(["support", "kpi"]).editable().timezone("browser").week_start("")
             .fiscal_year_start_month(0).tooltip(DashboardCursorSync.CROSSHAIR)
             .time("now-6h", "now").refresh("30s").version(1).links([])
             .annotations([annotations()]).variables(list(variables())))
    number = 0
    for title, panels in rows():
        number += 1
        board.with_row(builders.Row(title).collapsed(False).id(number))
        for panel in panels:
            number += 1
            board.with_panel(panel.id(number))
    return board


def build_dashboard() -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (a plain dict: ``panels``, ``templating``, …),
    checked against the SDK's model."""
    model = json.loads(json.dumps(dashboard_builder().build(), cls=JSONEncoder))
    check_dashboard(model)
    return model


def render(dashboard: dict[str, Any] | None = None) -> str:
    """The dashboard as committed: sorted keys, indent 2, trailing newline."""
    return json.dumps(dashboard if dashboard is not None else build_dashboard(), indent=2,
                      sort_keys=True, ensure_ascii=False) + "\n"


def write_dashboard(path: Path = DASHBOARD_PATH) -> bool:
    """Write the dashboard JSON; True when the file changed."""
    text = render()
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True


if __name__ == "__main__":
    changed = write_dashboard()
    print(f"{DASHBOARD_PATH.name}: {'updated' if changed else 'up to date'}", file=sys.stderr)

"""The committed dashboard JSON fits Grafana's dashboard schema as grafana-foundation-sdk (the
release for Grafana 11.4, the compose stack's) types it, and the check rejects JSON that does
not (tools/dashboard_schema.py says what it checks)."""

import copy
import json
from typing import Any

import pytest
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import prometheus, stat, statetimeline, timeseries

from tools.dashboard import DASHBOARD_PATH
from tools.dashboard_schema import check_dashboard, parse, problems


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    return json.loads(DASHBOARD_PATH.read_text())  # type: ignore[no-any-return]


def _first(data: dict[str, Any], panel_type: str) -> dict[str, Any]:
    return next(panel for panel in data["panels"] if panel["type"] == panel_type)


def test_committed_json_fits_the_sdk_model(committed: dict[str, Any]) -> None:
    assert problems(committed) == []
    check_dashboard(committed)


def test_panels_decode_into_their_plugins_types(committed: dict[str, Any]) -> None:
    model = parse(committed)
    assert model.uid == "support-kpi" and model.title == "Support KPIs"
    options_types = {"timeseries": timeseries.Options, "stat": stat.Options,
                     "state-timeline": statetimeline.Options}
    counts: dict[str, int] = {}
    for panel in model.panels or []:
        if isinstance(panel, models.RowPanel):
            counts["row"] = counts.get("row", 0) + 1
            assert not panel.collapsed and panel.panels == []
            continue
        counts[panel.type_val] = counts.get(panel.type_val, 0) + 1
        assert isinstance(panel.options, options_types[panel.type_val]), panel.title
        assert panel.datasource is not None and panel.datasource.uid == "${datasource}"
        for target in panel.targets or []:
            assert isinstance(target, prometheus.Dataquery), panel.title
            assert target.datasource is not None and target.datasource.type_val == "prometheus"
    # 4 rows; 6 live counts and Ready; Presence; 12 overview, 3 bot, 6 agent and 5 health graphs.
    assert counts == {"row": 4, "stat": 7, "state-timeline": 1, "timeseries": 26}
    kinds = {variable.name: variable.type_val for variable in model.templating.list_val or []}
    assert kinds == {"datasource": "datasource", "team": "query", "agent": "query",
                     "window": "custom"}


def _mutated(committed: dict[str, Any], change: str) -> dict[str, Any]:
    data = copy.deepcopy(committed)
    graph = _first(data, "timeseries")
    if change == "unknown panel key":
        graph["colour"] = "red"
    elif change == "unknown option":
        graph["options"]["legend"]["position"] = "bottom"
    elif change == "bad cursor sync":
        data["graphTooltip"] = 7
    elif change == "bad text mode":
        _first(data, "stat")["options"]["textMode"] = "shout"
    elif change == "width as text":
        graph["gridPos"]["w"] = "8"
    elif change == "no refId":
        del graph["targets"][0]["refId"]
    elif change == "unknown panel type":
        graph["type"] = "sparkline-deluxe"
    elif change == "variable hide out of range":
        data["templating"]["list"][0]["hide"] = 3
    return data


@pytest.mark.parametrize(("change", "expected"), [
    ("unknown panel key", ".colour: not in Grafana's schema"),
    ("unknown option", ".options.legend.position: not in Grafana's schema"),
    ("bad cursor sync", "dashboard.graph_tooltip: 7 is not one of [0, 1, 2]"),
    ("bad text mode", ".options.text_mode: 'shout' is not one of"),
    ("width as text", ".grid_pos.w: '8' is not of type int"),
    ("no refId", ".targets[0].refId: missing"),
    ("unknown panel type", "panel type 'sparkline-deluxe' is not one the SDK knows"),
    ("variable hide out of range", ".templating.list_val[0].hide: 3 is not one of [0, 1, 2]"),
])
def test_the_check_rejects_what_the_schema_does_not_allow(
        committed: dict[str, Any], change: str, expected: str) -> None:
    found = problems(_mutated(committed, change))
    assert any(expected in problem for problem in found), found
    with pytest.raises(ValueError, match="does not fit Grafana's schema"):
        check_dashboard(_mutated(committed, change))

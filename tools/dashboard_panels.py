"""The dashboard's panels, as grafana-foundation-sdk builders: what each of the four rows shows.

Each section function returns the panels of one row, in order, as SDK panel builders
(``timeseries.Panel``, ``stat.Panel``, ``statetimeline.Panel``) sized on Grafana's 24-column
grid; ``tools/dashboard.py`` places them. Every query is a Prometheus dataquery on the
dashboard's ``${datasource}`` variable, its PromQL from ``tools/dashboard_queries.py``; a
panel's description is the help text of the metrics it reads.
"""

from typing import TypeVar

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus, stat, statetimeline, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    FieldColorModeId,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
)
from grafana_foundation_sdk.models.prometheus import QueryEditorMode

from service.metrics.collector import PRESENCE_STATES
from tools.dashboard_queries import (
    Target,
    agent_kpi,
    by_owner,
    health,
    health_rate,
    histogram_quantile,
    kpi,
    team_kpi,
)

DATASOURCE_VARIABLE = "datasource"

# Any of the SDK's panel builders this dashboard uses; the helpers return the type they got.
PanelBuilder = TypeVar("PanelBuilder", timeseries.Panel, stat.Panel, statetimeline.Panel)
Panels = list[timeseries.Panel | stat.Panel | statetimeline.Panel]


def datasource() -> DataSourceRef:
    """The Prometheus data source the importer picks for ``${datasource}``."""
    return DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VARIABLE}}}")


def query(target: Target, ref_id: str) -> prometheus.Dataquery:
    """A range query in code mode on ``${datasource}``."""
    return (prometheus.Dataquery().expr(target.expr).legend_format(target.legend).range()
            .editor_mode(QueryEditorMode.CODE).ref_id(ref_id).datasource(datasource()))


def with_queries(panel: PanelBuilder, title: str, targets: list[Target], width: int,
                 height: int, unit: str) -> PanelBuilder:
    """``panel`` titled, sized ``width`` × ``height`` grid units, reading ``targets`` (refIds A,
    B, …) and described by their metrics' help texts (each once, in order)."""
    helps = list(dict.fromkeys(target.help for target in targets))
    return (panel.title(title).description("\n".join(helps)).datasource(datasource())
            .targets([query(target, chr(ord("A") + index))
                      for index, target in enumerate(targets)])
            .span(width).height(height).unit(unit))


def legend() -> common_builders.VizLegendOptions:
    return (common_builders.VizLegendOptions().display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM).show_legend(True).calcs([]))


def graph(title: str, targets: list[Target], width: int = 8, unit: str = "none",
          minimum: float | None = None, maximum: float | None = None) -> timeseries.Panel:
    """A time series panel (8 high), legend below, a tooltip listing every series."""
    panel = with_queries(timeseries.Panel(), title, targets, width, 8, unit)
    panel.legend(legend()).tooltip(common_builders.VizTooltipOptions()
                                   .mode(common.TooltipDisplayMode.MULTI)
                                   .sort(common.SortOrder.DESCENDING))
    if minimum is not None:
        panel.min(minimum)
    if maximum is not None:
        panel.max(maximum)
    return panel


def big_value(title: str, targets: list[Target], width: int, height: int,
              unit: str = "none") -> stat.Panel:
    """A stat panel: each series' last value and name, over a sparkline."""
    return (with_queries(stat.Panel(), title, targets, width, height, unit)
            .color_mode(common.BigValueColorMode.VALUE).graph_mode(common.BigValueGraphMode.AREA)
            .justify_mode(common.BigValueJustifyMode.AUTO)
            .orientation(common.VizOrientation.AUTO)
            .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
            .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"])
                            .fields("").values(False)))


def live_stat(title: str, key: str, unit: str = "none") -> stat.Panel:
    """A live count per team and overall (4 wide, 5 high)."""
    return big_value(title, team_kpi(key), width=4, height=5, unit=unit)


def percentiles(title: str, level: str, key: str, width: int = 8) -> timeseries.Panel:
    """A duration KPI's p50 and p90, per team and overall or per agent."""
    targets = []
    for stat_name in ("p50", "p90"):
        if level == "team":
            targets += team_kpi(key, suffix=stat_name, stat=stat_name)
        else:
            targets += agent_kpi(key, suffix=stat_name, stat=stat_name)
    return graph(title, targets, width=width, unit="s")


def ratio(title: str, targets: list[Target], width: int = 8) -> timeseries.Panel:
    """A 0–1 ratio shown as a percentage."""
    return graph(title, targets, width=width, unit="percentunit", minimum=0, maximum=1)


# --- rows -------------------------------------------------------------------------------------

def overview_panels() -> Panels:
    """Live counts, response and resolution times, SLA, satisfaction and workload."""
    sla = []
    for kind in ("first_response", "next_response", "resolution"):
        sla += team_kpi("sla", kind, "achieved_ratio", suffix=kind.replace("_", " "))
    return [
        live_stat("Open", "open"),
        live_stat("Unassigned", "unassigned"),
        live_stat("Awaiting first response", "awaiting_first_response"),
        live_stat("Oldest awaiting first response", "oldest_awaiting_first_response_seconds",
                  unit="s"),
        live_stat("SLA at risk", "sla_at_risk"),
        live_stat("SLA breaching", "sla_breaching"),
        percentiles("First response time ($window)", "team", "first_response_seconds", width=6),
        percentiles("Next response time ($window)", "team", "next_response_seconds", width=6),
        percentiles("Resolution time ($window)", "team", "resolution_seconds", width=6),
        percentiles("Full resolution time ($window)", "team", "full_resolution_seconds", width=6),
        ratio("SLA achieved ratio ($window)", sla, width=24),
        ratio("CSAT positive ratio ($window)", team_kpi("csat", "positive_ratio")),
        graph("NPS score ($window)", team_kpi("nps", "score"), minimum=-100, maximum=100),
        graph("CES average ($window)", team_kpi("ces", "avg")),
        ratio("First contact resolution ($window)", team_kpi("fcr_ratio")),
        ratio("Abandonment ratio ($window)", team_kpi("abandonment_ratio")),
        ratio("Occupancy ($window)", team_kpi("occupancy_ratio")),
        graph("Pulled per logged-in hour ($window)", team_kpi("pulled_per_hour"), width=24),
    ]


def bot_panels() -> Panels:
    """Bots and handoffs (SPEC §3): how much the bot resolves on its own, how much it hands
    over, and how long the customers it handed over wait for a human."""
    return [
        ratio("Bot resolution ratio ($window)", team_kpi("bot_resolution_ratio")),
        graph("Handed off and bot resolved ($window)",
              team_kpi("handed_off", suffix="handed off")
              + team_kpi("bot_resolved", suffix="bot resolved")),
        percentiles("First response after handoff ($window)", "team",
                    "first_response_after_handoff_seconds"),
    ]


def status_timeline() -> statetimeline.Panel:
    """The agent's presence state set as one series per agent: the value is the index of the
    state that is 1, mapped back to its name."""
    spec = kpi("agent", "status")
    expr = " + ".join(f"{by_owner(spec, status=state)} * {index}"
                      for index, state in enumerate(PRESENCE_STATES))
    mappings = [ValueMap(options={str(index): ValueMappingResult(text=state, index=index)})
                for index, state in enumerate(PRESENCE_STATES)]
    return (with_queries(statetimeline.Panel(), "Presence", [Target(expr, "{{name}}", spec.help)],
                         width=24, height=8, unit="none")
            .merge_values(True).show_value(common.VisibilityMode.AUTO)
            .align_value(common.TimelineValueAlignment.LEFT).row_height(0.9).legend(legend())
            .mappings(list(mappings))
            .color_scheme(dashboard_builders.FieldColor().mode(FieldColorModeId.PALETTE_CLASSIC)))


def agent_panels() -> Panels:
    """One agent or a few (the ``$agent`` variable): scores, satisfaction, speed, presence."""
    return [
        graph("Weighted score ($window)", agent_kpi("weighted_score"), minimum=0, maximum=100),
        ratio("CSAT positive ratio ($window)", agent_kpi("csat", "positive_ratio")),
        graph("CSAT and QA averages ($window)",
              agent_kpi("csat", "avg", suffix="CSAT") + agent_kpi("qa", "avg", suffix="QA")),
        graph("CSAT responses and QA reviews ($window)",
              agent_kpi("csat", "responses", suffix="CSAT responses")
              + agent_kpi("qa", "reviews", suffix="QA reviews")),
        graph("First response p90 ($window)", agent_kpi("first_response_seconds", stat="p90"),
              unit="s"),
        ratio("Occupancy ($window)", agent_kpi("occupancy_ratio")),
        status_timeline(),
    ]


def ready_stat() -> stat.Panel:
    """Each worker's readiness, red "not ready" (0) or green "ready" (1)."""
    ready = health("support_ready")
    mapping = ValueMap(options={
        "0": ValueMappingResult(text="not ready", color="red", index=0),
        "1": ValueMappingResult(text="ready", color="green", index=1)})
    return (big_value("Ready", [Target(f"max by (instance) ({ready.name})", "{{instance}}",
                                       ready.help)], width=8, height=8)
            .mappings([mapping])
            .color_scheme(dashboard_builders.FieldColor().mode(FieldColorModeId.THRESHOLDS))
            .thresholds(dashboard_builders.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE)
                        .steps([Threshold(value=None, color="red"),
                                Threshold(value=1, color="green")])))


def health_panels() -> Panels:
    """The workers: throughput, lag, dead letters, latency, owned keys, readiness."""
    events = health("support_events_total")
    rejected = health("support_events_rejected_total")
    lag = health("support_consumer_lag")
    latency = health("support_processing_latency_seconds")
    owned = health("support_owned_keys")
    return [
        graph("Events/s", [Target(health_rate(events, ["type"]), "{{type}}", events.help)],
              unit="ops"),
        graph("Consumer lag",
              [Target(f"sum by (topic) (max by (topic, partition) ({lag.name}))", "{{topic}}",
                      lag.help)]),
        graph("Dead letters/s",
              [Target(health_rate(rejected, ["reason"]), "{{reason}}", rejected.help)],
              unit="ops"),
        graph("Processing latency p99",
              [Target(histogram_quantile(latency, 0.99), "p99", latency.help)], unit="s"),
        graph("Owned keys",
              [Target(f"sum by (instance, level) ({owned.name})", "{{instance}} {{level}}",
                      owned.help)]),
        ready_stat(),
    ]

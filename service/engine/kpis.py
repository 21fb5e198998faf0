"""The KPI registry: one entry per report key, in SPEC §6 order.

It drives the report's keys and values, the Prometheus metric names (``service.metrics``), the
metric table in the README and the dashboard; a KPI is added here and nowhere else.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from service.engine.aggregates import DIST_INDEX, SLOT, Totals

__all__ = [
    "ALL_LEVELS",
    "LIVE_KPIS",
    "SLA_KINDS",
    "WEIGHTABLE_PATHS",
    "WINDOW_KPIS",
    "KpiSpec",
    "LevelValues",
    "weighted_score",
    "window_values",
]

Level = Literal["agents", "teams", "overall"]
ALL_LEVELS: tuple[Level, ...] = ("agents", "teams", "overall")
SLA_KINDS = ("first_response", "next_response", "resolution")
Kind = Literal["count", "ratio", "sum", "distribution", "group", "score", "gauge", "state"]


@dataclass(frozen=True)
class KpiSpec:
    key: str
    kind: Kind
    help: str
    formula: str
    unit: str = ""
    levels: tuple[Level, ...] = ALL_LEVELS
    fields: tuple[str, ...] = ()
    """Sub-keys of a group; dotted for nested groups (``first_response.achieved``)."""
    compute: Callable[[Totals], Any] | None = field(default=None, compare=False)
    presence: bool = False
    """Computed from logged-in or busy time: changes with the as-of while an agent is logged in,
    so a report computes it anew where the panes' values can be taken from the last one."""


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if not denominator else numerator / denominator


def _count(slot: str) -> Callable[[Totals], int]:
    index = SLOT[slot]
    return lambda t: t.counters[index]


def _distribution(name: str) -> Callable[[Totals], dict[str, Any]]:
    """count and avg are exact (the sketch keeps each bucket's count and sum of ms); p50 and p90
    come from the sketch: within 1% and within the values' range (SPEC §3)."""
    sketch_index = DIST_INDEX[name]

    def compute(t: Totals) -> dict[str, Any]:
        sketch = t.sketches[sketch_index]
        count = sketch.count
        if not count:
            return {"count": 0, "avg": None, "p50": None, "p90": None}
        p50, p90 = sketch.quantiles((0.5, 0.9))
        assert p50 is not None and p90 is not None
        return {"count": count, "avg": sketch.sum_ms / count / 1000,
                "p50": p50 / 1000, "p90": p90 / 1000}

    return compute


def _csat(prefix: str) -> Callable[[Totals], dict[str, Any]]:
    n, pos, total = SLOT[f"{prefix}_responses"], SLOT[f"{prefix}_positive"], SLOT[f"{prefix}_sum"]

    def compute(t: Totals) -> dict[str, Any]:
        c = t.counters
        return {"responses": c[n], "positive": c[pos], "positive_ratio": _ratio(c[pos], c[n]),
                "avg": _ratio(c[total], c[n])}

    return compute


def _nps(t: Totals) -> dict[str, Any]:
    c = t.counters
    n, promoters, detractors = (c[SLOT["nps_responses"]], c[SLOT["nps_promoters"]],
                                c[SLOT["nps_detractors"]])
    return {"responses": n, "promoters": promoters, "detractors": detractors,
            "score": _ratio(100 * (promoters - detractors), n)}


def _ces(t: Totals) -> dict[str, Any]:
    c = t.counters
    return {"responses": c[SLOT["ces_responses"]],
            "avg": _ratio(c[SLOT["ces_sum"]], c[SLOT["ces_responses"]])}


def _qa(t: Totals) -> dict[str, Any]:
    c = t.counters
    reviews = c[SLOT["qa_reviews"]]
    return {"reviews": reviews, "avg": _ratio(c[SLOT["qa_sum_milli"]] / 1000, reviews)}


def _sla(t: Totals) -> dict[str, Any]:
    c = t.counters
    out = {}
    for kind in SLA_KINDS:
        achieved, breached = c[SLOT[f"sla_{kind}_achieved"]], c[SLOT[f"sla_{kind}_breached"]]
        out[kind] = {"achieved": achieved, "breached": breached,
                     "achieved_ratio": _ratio(achieved, achieved + breached)}
    return out


def _per_hour(t: Totals) -> float | None:
    return _ratio(t.counters[SLOT["pulled"]], t.logged_in_ms / 3_600_000)


_DURATION_HELP = {
    "first_response_seconds": ("Time from conversation.created to the first human response",
                               "first human response.at − created.at"),
    "next_response_seconds": ("Time from a customer message awaiting a reply to the next human "
                              "response", "human response.at − first unanswered customer "
                              "message.at"),
    "resolution_seconds": ("Time from conversation.created to the first resolution",
                           "first resolution.at − created.at"),
    "time_to_close_seconds": ("Time from conversation.created to the change to closed",
                              "closed.at − created.at"),
    "full_resolution_seconds": ("Time from conversation.created to the latest resolution (a "
                                "resolution after a reopen replaces the earlier value)",
                                "latest resolution.at − created.at"),
    "first_response_after_handoff_seconds": (
        "Time from the first handoff by a bot (or the reopen of a bot-resolved conversation) "
        "to the next human response", "next human response.at − first handoff.at"),
    "wait_seconds": ("Seconds in status open (not pending or snoozed) before the first "
                     "resolution",
                     "Σ open stretches from created to first resolution"),
}


def _with_business(name: str) -> list[KpiSpec]:
    """A duration KPI and its ``_business_seconds`` variant."""
    text, formula = _DURATION_HELP[name]
    business = name.replace("_seconds", "_business_seconds")
    return [
        KpiSpec(name, "distribution", text, formula, "seconds", compute=_distribution(name)),
        KpiSpec(business, "distribution", f"{text}, counting business hours only",
                f"business seconds of ({formula})", "seconds", compute=_distribution(business)),
    ]


def _duration_specs() -> list[KpiSpec]:
    specs = []
    for name in ("first_response_seconds", "next_response_seconds", "resolution_seconds"):
        specs += _with_business(name)
    text, formula = _DURATION_HELP["time_to_close_seconds"]
    specs.append(KpiSpec("time_to_close_seconds", "distribution", text, formula, "seconds",
                         compute=_distribution("time_to_close_seconds")))
    specs += _with_business("wait_seconds")
    specs += _with_business("full_resolution_seconds")
    specs += _with_business("first_response_after_handoff_seconds")
    return specs


_CSAT_FIELDS = ("responses", "positive", "positive_ratio", "avg")

WINDOW_KPIS: tuple[KpiSpec, ...] = (
    KpiSpec("conversations_created", "count", "Conversations created",
            "count of conversation.created", compute=_count("created")),
    KpiSpec("conversations_resolved", "count", "First resolutions (not abandonments)",
            "count of first changes to resolved/closed", compute=_count("resolved")),
    KpiSpec("conversations_closed", "count", "Changes to closed (not abandonments)",
            "count of changes to closed", compute=_count("closed")),
    KpiSpec("reopened", "count", "Changes from resolved back to open",
            "count of resolved → open", compute=_count("reopened")),
    KpiSpec("abandoned", "count", "Conversations that ended before any human response",
            "count of abandonments", compute=_count("abandoned")),
    KpiSpec("abandonment_ratio", "ratio", "Share of created conversations abandoned",
            "abandoned / conversations_created",
            compute=lambda t: _ratio(t[SLOT["abandoned"]], t[SLOT["created"]])),
    KpiSpec("assigned", "count", "Assignments (a new assignee)", "count of conversation.assigned",
            compute=_count("assigned")),
    KpiSpec("pulled", "count", "Assignments the agent took from the queue (method=pull)",
            "count of conversation.assigned with method=pull", compute=_count("pulled")),
    KpiSpec("pulled_per_hour", "ratio", "Conversations pulled per logged-in hour",
            "pulled / (logged_in_seconds / 3600)", compute=_per_hour, presence=True),
    *_duration_specs(),
    KpiSpec("handed_off", "count", "Conversations a bot handed over to the human queue (the "
            "reopen of a bot resolution counts as one)", "count of first handoffs",
            levels=("teams", "overall"), compute=_count("handed_off")),
    KpiSpec("bot_resolved", "count", "First resolutions by a bot alone: before any human "
            "response and handoff, with a bot message, and not reopened",
            "count of bot-only first resolutions", levels=("teams", "overall"),
            compute=_count("bot_resolved")),
    KpiSpec("bot_resolution_ratio", "ratio", "Share of first resolutions made by a bot alone",
            "bot_resolved / conversations_resolved", levels=("teams", "overall"),
            compute=lambda t: _ratio(t[SLOT["bot_resolved"]], t[SLOT["resolved"]])),
    KpiSpec("fcr_ratio", "ratio",
            "First contact resolution: share of first resolutions with one human response "
            "and one agent, never reopened", "one-touch resolutions / resolutions with a "
            "human response (a reopen makes it not one-touch)",
            compute=lambda t: _ratio(t[SLOT["fcr_one_touch"]],
                                     t[SLOT["fcr_one_touch"]] + t[SLOT["fcr_more_touches"]])),
    KpiSpec("logged_in_seconds", "sum", "Seconds with presence available, busy or after_work",
            "Σ logged-in time clipped to the window", "seconds",
            compute=lambda t: t.logged_in_ms / 1000, presence=True),
    KpiSpec("busy_seconds", "sum",
            "Logged-in seconds busy: status busy/after_work, or available while assignee of a "
            "conversation awaiting a response", "Σ busy time clipped to the window", "seconds",
            compute=lambda t: t.busy_ms / 1000, presence=True),
    KpiSpec("occupancy_ratio", "ratio", "Busy share of logged-in time",
            "busy_seconds / logged_in_seconds",
            compute=lambda t: _ratio(t.busy_ms, t.logged_in_ms), presence=True),
    KpiSpec("csat", "group", "CSAT over ratings about the agent or unspecified",
            "positive = score ≥ 4; positive_ratio = positive / responses; avg = Σ score / "
            "responses", fields=_CSAT_FIELDS, compute=_csat("csat")),
    KpiSpec("csat_all", "group", "CSAT over every rating (product feedback included)",
            "as csat, over all ratings", levels=("teams", "overall"), fields=_CSAT_FIELDS,
            compute=_csat("csat_all")),
    KpiSpec("nps", "group", "Net promoter score", "100 × (promoters − detractors) / responses",
            fields=("responses", "promoters", "detractors", "score"), compute=_nps),
    KpiSpec("ces", "group", "Customer effort score", "Σ score / responses",
            fields=("responses", "avg"), compute=_ces),
    KpiSpec("qa", "group", "QA / teammate review scores of the reviewed agent",
            "Σ score / reviews", fields=("reviews", "avg"), compute=_qa),
    KpiSpec("sla", "group",
            "SLA results, judged at the stop against the team's target (less its pause_while "
            "time)",
            "achieved = value ≤ target; achieved_ratio = achieved / (achieved + breached)",
            fields=tuple(f"{kind}.{stat}" for kind in SLA_KINDS
                         for stat in ("achieved", "breached", "achieved_ratio")),
            compute=_sla),
    KpiSpec("weighted_score", "score", "Weighted score of the agent's configured KPIs",
            "100 × Σ wᵢ·aᵢ / Σ wᵢ, aᵢ = min(1, value/target) or min(1, target/value)",
            levels=("agents",)),
)

LIVE_KPIS: tuple[KpiSpec, ...] = (
    KpiSpec("open", "gauge", "Conversations in status open", "count"),
    KpiSpec("unassigned", "gauge", "Open or waiting conversations without an assignee", "count"),
    KpiSpec("waiting_on_customer", "gauge", "Conversations pending or snoozed", "count"),
    KpiSpec("awaiting_first_response", "gauge",
            "Customer-initiated conversations, not resolved or closed, without a human response",
            "count"),
    KpiSpec("oldest_awaiting_first_response_seconds", "gauge",
            "Age of the oldest conversation awaiting a first response", "max(t − created.at)",
            "seconds"),
    KpiSpec("sla_breaching", "gauge",
            "Conversations whose running first- or next-response clock is past its target "
            "(pauses and business hours applied)",
            "count"),
    KpiSpec("sla_at_risk", "gauge",
            "Running response clocks past at_risk_ratio × target, not yet breaching", "count"),
    KpiSpec("assigned_open", "gauge", "Open conversations assigned to the agent", "count",
            levels=("agents",)),
    KpiSpec("status", "state", "The agent's presence", "latest agent.status_changed before t",
            levels=("agents",)),
)

WEIGHTABLE_PATHS: frozenset[str] = frozenset(
    [s.key for s in WINDOW_KPIS if s.kind in ("ratio", "distribution", "count", "sum")]
    + [f"{s.key}.{f}" for s in WINDOW_KPIS if s.kind == "group" for f in s.fields]
)


def _path_value(values: Mapping[str, Any], path: str) -> float | None:
    value: Any = values
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    if isinstance(value, Mapping):
        value = value.get("avg")
    return value if isinstance(value, int | float) else None


def weighted_score(values: Mapping[str, Any], weights: Mapping[str, Any]) -> float | None:
    """SPEC §3: 100 × Σ wᵢ·aᵢ / Σ wᵢ over the configured KPIs that have data in the window."""
    total_weight = achieved = 0.0
    for path, w in weights.items():
        value = _path_value(values, path)
        if value is None:
            continue
        if w.better == "higher":
            attainment = min(1.0, value / w.target)
        else:
            attainment = 1.0 if value == 0 else min(1.0, w.target / value)
        total_weight += w.weight
        achieved += w.weight * attainment
    return None if not total_weight else 100 * achieved / total_weight


def window_values(totals: Totals, level: str, weights: Mapping[str, Any],
                  panes_unchanged: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One owner's windowed KPI values (SPEC §6 keys of ``level``: overall, teams or agents)
    from its window totals; the weighted score from the values before it.

    ``panes_unchanged``: values computed earlier from the same panes; only the
    :attr:`KpiSpec.presence` values and the score are computed again (``totals`` then needs its
    counters and presence times, not its sketches)."""
    values: dict[str, Any] = {}
    for spec in WINDOW_KPIS:
        if level not in spec.levels:
            continue
        if spec.compute is None:
            values[spec.key] = weighted_score(values, weights)
        elif panes_unchanged is None or spec.presence:
            values[spec.key] = spec.compute(totals)
        else:
            values[spec.key] = panes_unchanged[spec.key]
    return values


@dataclass(slots=True)
class LevelValues:
    """One window's KPI values by level: overall (None when not held), per team, per agent."""

    overall: dict[str, Any] | None = None
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)

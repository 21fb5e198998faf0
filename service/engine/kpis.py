"""The KPI registry: one entry per report key, in SPEC §6 order.

It drives the report's keys and values, the Prometheus metric names (``service.metrics``), the
tables of docs/kpis.md and docs/outputs.md and the dashboard; a KPI is added here and nowhere else.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from service.engine.facts import (
    F_ABANDONED,
    F_AFTER_HANDOFF,
    F_ASSIGNED,
    F_BOT_RESOLVED,
    F_CLOSED,
    F_CREATED,
    F_FIRST_RESPONSE,
    F_FULL_RESOLVED,
    F_HANDED_OFF,
    F_NEXT_RESPONSE,
    F_RATING,
    F_REOPENED,
    F_RESOLVED,
    F_REVIEW,
)
from service.engine.feeds import Count, Distribution, Feed, PaneLayout


class ValueDistribution(Protocol):
    """A distribution's values, as a KPI reads them: a window's quantile sketch
    (:class:`~service.engine.sketch.QuantileSketch`) or history's exact values."""

    @property
    def count(self) -> int: ...

    @property
    def sum_ms(self) -> int: ...

    def quantiles(self, qs: Iterable[float]) -> list[float | None]: ...


class WindowTotals(Protocol):
    """What a KPI's value is computed from: a window's panes merged
    (:class:`service.engine.aggregates.Totals`) or a history period's facts: counters by feed
    slot, one distribution per distribution feed, presence milliseconds."""

    counters: list[int]
    logged_in_ms: int
    busy_ms: int

    @property
    def sketches(self) -> Sequence[ValueDistribution]: ...


__all__ = [
    "ALL_LEVELS",
    "LIVE_KPIS",
    "PANES",
    "QUANTILES",
    "SLA_KINDS",
    "WEIGHTABLE_PATHS",
    "WINDOW_KPIS",
    "KpiSpec",
    "LevelValues",
    "ValueDistribution",
    "weighted_score",
    "window_values",
]

Level = Literal["agents", "teams", "overall"]
ALL_LEVELS: tuple[Level, ...] = ("agents", "teams", "overall")
SLA_KINDS = ("first_response", "next_response", "resolution")
Kind = Literal["count", "ratio", "sum", "distribution", "group", "score", "gauge", "state"]


@dataclass(frozen=True)
class KpiSpec:
    """One report key: both halves of a windowed KPI — the pane ``feeds`` facts add to, and
    ``compute``, its value from the window's totals of them — and what the docs, the metrics
    and the dashboard say of it."""

    key: str
    kind: Kind
    help: str
    formula: str
    unit: str = ""
    levels: tuple[Level, ...] = ALL_LEVELS
    fields: tuple[str, ...] = ()
    """Sub-keys of a group; dotted for nested groups (``first_response.achieved``)."""
    compute: Callable[[WindowTotals], Any] | None = field(default=None, compare=False)
    feeds: tuple[Feed, ...] = field(default=(), compare=False)
    """The pane counters and distributions ``compute`` reads."""
    presence: bool = False
    """Computed from logged-in or busy time: changes with the as-of while an agent is logged in,
    so a report computes it anew where the panes' values can be taken from the last one."""


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if not denominator else numerator / denominator


# -- pane feeds: what a fact adds (SPEC §3 defines which facts count) ---------------------------

def _achieved(fact: Any) -> int:
    return int(fact.sla_achieved)


def _breached(fact: Any) -> int:
    return 1 - int(fact.sla_achieved)


def _counts(name: str, kind: int) -> Count:
    return Count(name, (kind,))


CREATED = _counts("created", F_CREATED)
RESOLVED = _counts("resolved", F_RESOLVED)
CLOSED = _counts("closed", F_CLOSED)
REOPENED = _counts("reopened", F_REOPENED)
ABANDONED = _counts("abandoned", F_ABANDONED)
ASSIGNED = _counts("assigned", F_ASSIGNED)
PULLED = Count("pulled", (F_ASSIGNED,), lambda f: f.pulled)
HANDED_OFF = _counts("handed_off", F_HANDED_OFF)
BOT_RESOLVED = _counts("bot_resolved", F_BOT_RESOLVED)
FCR_ONE_TOUCH = Count("fcr_one_touch", (F_RESOLVED,), lambda f: int(bool(f.fcr)))
FCR_MORE_TOUCHES = Count("fcr_more_touches", (F_RESOLVED,),
                         lambda f: int(f.fcr is not None and not f.fcr))
_SLA_FACT = {"first_response": F_FIRST_RESPONSE, "next_response": F_NEXT_RESPONSE,
             "resolution": F_RESOLVED}
SLA_RESULTS = {kind: (Count(f"sla_{kind}_achieved", (fact,), _achieved),
                      Count(f"sla_{kind}_breached", (fact,), _breached))
               for kind, fact in _SLA_FACT.items()}
"""SLA kind → (achieved, breached) counters."""


def _csat_counts(prefix: str, about_agent: bool) -> tuple[Count, Count, Count]:
    """(responses, positive, sum of scores) of CSAT ratings, about the agent (or unspecified)
    only, or all of them (SPEC §3: positive = score ≥ 4)."""
    def rated(fact: Any) -> bool:
        return fact.survey == "csat" and (
            not about_agent or fact.about in ("agent", "unspecified"))

    return (Count(f"{prefix}_responses", (F_RATING,), lambda f: int(rated(f))),
            Count(f"{prefix}_positive", (F_RATING,), lambda f: int(rated(f) and f.score >= 4)),
            Count(f"{prefix}_sum", (F_RATING,), lambda f: f.score if rated(f) else 0))


CSAT = _csat_counts("csat", about_agent=True)
CSAT_ALL = _csat_counts("csat_all", about_agent=False)
NPS = (Count("nps_responses", (F_RATING,), lambda f: int(f.survey == "nps")),
       Count("nps_promoters", (F_RATING,), lambda f: int(f.survey == "nps" and f.score >= 9)),
       Count("nps_detractors", (F_RATING,), lambda f: int(f.survey == "nps" and f.score <= 6)))
CES = (Count("ces_responses", (F_RATING,), lambda f: int(f.survey == "ces")),
       Count("ces_sum", (F_RATING,), lambda f: f.score if f.survey == "ces" else 0))
QA = (_counts("qa_reviews", F_REVIEW),
      Count("qa_sum_milli", (F_REVIEW,), lambda f: f.score_milli))


def _count(feed: Count) -> Callable[[WindowTotals], int]:
    return lambda t: t.counters[feed.slot]


QUANTILES = (0.5, 0.9)
"""The quantiles a distribution KPI reports (``p50``, ``p90``)."""


def _distribution(feed: Distribution) -> Callable[[WindowTotals], dict[str, Any]]:
    """count and avg are exact (the sketch keeps each bucket's count and sum of ms); p50 and p90
    come from the sketch: within 1% and within the values' range (SPEC §3)."""
    def compute(t: WindowTotals) -> dict[str, Any]:
        sketch = t.sketches[feed.index]
        count = sketch.count
        if not count:
            return {"count": 0, "avg": None, "p50": None, "p90": None}
        p50, p90 = sketch.quantiles(QUANTILES)
        assert p50 is not None and p90 is not None
        return {"count": count, "avg": sketch.sum_ms / count / 1000,
                "p50": p50 / 1000, "p90": p90 / 1000}

    return compute


def _csat(counts: tuple[Count, Count, Count]) -> Callable[[WindowTotals], dict[str, Any]]:
    n, pos, total = counts

    def compute(t: WindowTotals) -> dict[str, Any]:
        c = t.counters
        return {"responses": c[n.slot], "positive": c[pos.slot],
                "positive_ratio": _ratio(c[pos.slot], c[n.slot]),
                "avg": _ratio(c[total.slot], c[n.slot])}

    return compute


def _nps(t: WindowTotals) -> dict[str, Any]:
    c = t.counters
    n, promoters, detractors = (c[feed.slot] for feed in NPS)
    return {"responses": n, "promoters": promoters, "detractors": detractors,
            "score": _ratio(100 * (promoters - detractors), n)}


def _ces(t: WindowTotals) -> dict[str, Any]:
    n, total = (t.counters[feed.slot] for feed in CES)
    return {"responses": n, "avg": _ratio(total, n)}


def _qa(t: WindowTotals) -> dict[str, Any]:
    reviews, total = (t.counters[feed.slot] for feed in QA)
    return {"reviews": reviews, "avg": _ratio(total / 1000, reviews)}


def _sla(t: WindowTotals) -> dict[str, Any]:
    c = t.counters
    out = {}
    for kind in SLA_KINDS:
        achieved_feed, breached_feed = SLA_RESULTS[kind]
        achieved, breached = c[achieved_feed.slot], c[breached_feed.slot]
        out[kind] = {"achieved": achieved, "breached": breached,
                     "achieved_ratio": _ratio(achieved, achieved + breached)}
    return out


def _per_hour(t: WindowTotals) -> float | None:
    return _ratio(t.counters[PULLED.slot], t.logged_in_ms / 3_600_000)


def _counter_ratio(numerator: Count, *denominator: Count) -> Callable[[WindowTotals], Any]:
    return lambda t: _ratio(t.counters[numerator.slot],
                            sum(t.counters[feed.slot] for feed in denominator))


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


def _duration(name: str, kind: int, value: Callable[[Any], int | None],
              help_text: str | None = None, formula: str | None = None) -> KpiSpec:
    text, plain_formula = _DURATION_HELP.get(name, ("", ""))
    feed = Distribution(name, (kind,), value)
    return KpiSpec(name, "distribution", help_text or text, formula or plain_formula, "seconds",
                   compute=_distribution(feed), feeds=(feed,))


def _with_business(name: str, kind: int, plain: Callable[[Any], int | None],
                   business: Callable[[Any], int | None]) -> list[KpiSpec]:
    """A duration KPI and its ``_business_seconds`` variant."""
    text, formula = _DURATION_HELP[name]
    return [_duration(name, kind, plain),
            _duration(name.replace("_seconds", "_business_seconds"), kind, business,
                      f"{text}, counting business hours only", f"business seconds of ({formula})")]


def _duration_specs() -> list[KpiSpec]:
    def ms(fact: Any) -> int | None:
        return fact.ms

    def business_ms(fact: Any) -> int:
        return fact.business_ms

    return [
        *_with_business("first_response_seconds", F_FIRST_RESPONSE, ms, business_ms),
        *_with_business("next_response_seconds", F_NEXT_RESPONSE, ms, business_ms),
        *_with_business("resolution_seconds", F_RESOLVED, ms, business_ms),
        _duration("time_to_close_seconds", F_CLOSED, ms),
        *_with_business("wait_seconds", F_RESOLVED, lambda f: f.wait_ms,
                        lambda f: f.wait_business_ms),
        *_with_business("full_resolution_seconds", F_FULL_RESOLVED, ms, business_ms),
        *_with_business("first_response_after_handoff_seconds", F_AFTER_HANDOFF, ms,
                        business_ms),
    ]


def _counted(key: str, help_text: str, formula: str, feed: Count,
             levels: tuple[Level, ...] = ALL_LEVELS) -> KpiSpec:
    return KpiSpec(key, "count", help_text, formula, levels=levels, compute=_count(feed),
                   feeds=(feed,))


_CSAT_FIELDS = ("responses", "positive", "positive_ratio", "avg")

WINDOW_KPIS: tuple[KpiSpec, ...] = (
    _counted("conversations_created", "Conversations created", "count of conversation.created",
             CREATED),
    _counted("conversations_resolved", "First resolutions (not abandonments)",
             "count of first changes to resolved/closed", RESOLVED),
    _counted("conversations_closed", "Changes to closed (not abandonments)",
             "count of changes to closed", CLOSED),
    _counted("reopened", "Changes from resolved back to open", "count of resolved → open",
             REOPENED),
    _counted("abandoned", "Conversations that ended before any human response",
             "count of abandonments", ABANDONED),
    KpiSpec("abandonment_ratio", "ratio", "Share of created conversations abandoned",
            "abandoned / conversations_created", compute=_counter_ratio(ABANDONED, CREATED),
            feeds=(ABANDONED, CREATED)),
    _counted("assigned", "Assignments (a new assignee)", "count of conversation.assigned",
             ASSIGNED),
    _counted("pulled", "Assignments the agent took from the queue (method=pull)",
             "count of conversation.assigned with method=pull", PULLED),
    KpiSpec("pulled_per_hour", "ratio", "Conversations pulled per logged-in hour",
            "pulled / (logged_in_seconds / 3600)", compute=_per_hour, feeds=(PULLED,),
            presence=True),
    *_duration_specs(),
    _counted("handed_off", "Conversations a bot handed over to the human queue (the reopen of "
             "a bot resolution counts as one)", "count of first handoffs", HANDED_OFF,
             levels=("teams", "overall")),
    _counted("bot_resolved", "First resolutions by a bot alone: before any human response and "
             "handoff, with a bot message, and not reopened",
             "count of bot-only first resolutions", BOT_RESOLVED, levels=("teams", "overall")),
    KpiSpec("bot_resolution_ratio", "ratio", "Share of first resolutions made by a bot alone",
            "bot_resolved / conversations_resolved", levels=("teams", "overall"),
            compute=_counter_ratio(BOT_RESOLVED, RESOLVED), feeds=(BOT_RESOLVED, RESOLVED)),
    KpiSpec("fcr_ratio", "ratio",
            "First contact resolution: share of first resolutions with one human response "
            "and one agent, never reopened", "one-touch resolutions / resolutions with a "
            "human response (a reopen makes it not one-touch)",
            compute=_counter_ratio(FCR_ONE_TOUCH, FCR_ONE_TOUCH, FCR_MORE_TOUCHES),
            feeds=(FCR_ONE_TOUCH, FCR_MORE_TOUCHES)),
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
            "responses", fields=_CSAT_FIELDS, compute=_csat(CSAT), feeds=CSAT),
    KpiSpec("csat_all", "group", "CSAT over every rating (product feedback included)",
            "as csat, over all ratings", levels=("teams", "overall"), fields=_CSAT_FIELDS,
            compute=_csat(CSAT_ALL), feeds=CSAT_ALL),
    KpiSpec("nps", "group", "Net promoter score", "100 × (promoters − detractors) / responses",
            fields=("responses", "promoters", "detractors", "score"), compute=_nps, feeds=NPS),
    KpiSpec("ces", "group", "Customer effort score", "Σ score / responses",
            fields=("responses", "avg"), compute=_ces, feeds=CES),
    KpiSpec("qa", "group", "QA / teammate review scores of the reviewed agent",
            "Σ score / reviews", fields=("reviews", "avg"), compute=_qa, feeds=QA),
    KpiSpec("sla", "group",
            "SLA results, judged at the stop against the team's target (less its pause_while "
            "time)",
            "achieved = value ≤ target; achieved_ratio = achieved / (achieved + breached)",
            fields=tuple(f"{kind}.{stat}" for kind in SLA_KINDS
                         for stat in ("achieved", "breached", "achieved_ratio")),
            compute=_sla, feeds=tuple(feed for pair in SLA_RESULTS.values() for feed in pair)),
    KpiSpec("weighted_score", "score", "Weighted score of the agent's configured KPIs",
            "100 × Σ wᵢ·aᵢ / Σ wᵢ, aᵢ = min(1, value/target) or min(1, target/value)",
            levels=("agents",)),
)

PANES = PaneLayout(feed for spec in WINDOW_KPIS for feed in spec.feeds)
"""The pane layout of every windowed KPI's feeds: the registry allocates their slots."""

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
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, dict):
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


def window_values(totals: WindowTotals, level: str, weights: Mapping[str, Any],
                  before: Mapping[str, Any] | None = None,
                  changed: AbstractSet[int] = frozenset()) -> dict[str, Any]:
    """One owner's windowed KPI values (SPEC §6 keys of ``level``: overall, teams or agents)
    from its window totals; the weighted score from the values before it.

    ``before``: values computed earlier from the same owner's window; only the
    :attr:`KpiSpec.presence` values, the score, and the values one of whose feeds is in
    ``changed`` (places, :meth:`~service.engine.feeds.PaneLayout.place`) are computed again."""
    if before is not None and not changed:
        values = dict(before)
        for spec in _PRESENCE_SPECS[level]:
            values[spec.key] = (weighted_score(values, weights) if spec.compute is None
                                else spec.compute(totals))
        return values
    values = {}
    for spec, places in _LEVEL_SPECS[level]:
        if spec.compute is None:
            values[spec.key] = weighted_score(values, weights)
        elif before is None or spec.presence or not changed.isdisjoint(places):
            values[spec.key] = spec.compute(totals)
        else:
            values[spec.key] = before[spec.key]
    return values


_LEVEL_SPECS: dict[str, tuple[tuple[KpiSpec, frozenset[int]], ...]] = {
    level: tuple((spec, frozenset(PANES.place(feed) for feed in spec.feeds))
                 for spec in WINDOW_KPIS if level in spec.levels)
    for level in ALL_LEVELS}
"""Level → its window KPIs in report order, each with the places of its feeds."""
_PRESENCE_SPECS: dict[str, tuple[KpiSpec, ...]] = {
    level: tuple(spec for spec, _ in specs if spec.presence or spec.compute is None)
    for level, specs in _LEVEL_SPECS.items()}
"""Level → the window KPIs computed again while its panes are unchanged (the score last: its
weights name no score)."""


@dataclass(slots=True)
class LevelValues:
    """One window's KPI values by level: overall (None when not held), per team, per agent."""

    overall: dict[str, Any] | None = None
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)

"""The facts behind one windowed value (SPEC §6 "Explain a number").

For one KPI of one owner (an agent, a team, overall) in one window at an as-of, every fact of
the window that adds to the KPI's pane feeds — a conversation's response, resolution, rating,
review, assignment, ... — with what it adds and the clock behind it (start, stop, business and
paused seconds, SLA result), and, for the KPIs of presence time, every logged-in stretch clipped
to the window. Each feed's count and sum over the listing give the reported value: the listing
uses the registry's own feeds (:mod:`service.engine.kpis`), and ``value`` is the KPI computed
from the listed contributions alone.

Pure: the caller passes what the owner holds (its conversations' facts, its presence segments).
"""

from collections.abc import Iterable
from typing import Any

from service.engine.aggregates import Totals
from service.engine.facts import (
    KIND_NAMES,
    Assigned,
    Busy,
    Closed,
    Duration,
    Fact,
    Rating,
    Resolved,
    Response,
    Review,
)
from service.engine.feeds import Count, Pane, sketch_key
from service.engine.kpis import WINDOW_KPIS, KpiSpec
from service.engine.panes import WINDOWS, WindowSpec, pane_start, panes_summed
from service.engine.presence import Segment, clipped
from service.engine.records import format_time
from service.engine.sketch import packed

__all__ = ["EXPLAIN_LEVELS", "ExplainError", "check_request", "explain",
           "explainable", "merge_explains", "window_named"]

EXPLAIN_LEVELS = ("agent", "team", "overall")



class ExplainError(ValueError):
    """A request that cannot be explained: ``field`` names the parameter, the message says why
    and what is accepted."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


def check_request(kpi: str, level: str, key: str | None, window_name: str
                  ) -> tuple[KpiSpec, WindowSpec]:
    """The KPI and the window of an explain request. Raises ExplainError naming the parameter
    that is wrong (kpi, level, key, window) and what it accepts."""
    spec = explainable(kpi)
    window = window_named(window_name)
    if level not in EXPLAIN_LEVELS:
        raise ExplainError("level", f"{level!r} is not a level; one of "
                           f"{', '.join(EXPLAIN_LEVELS)}")
    if level != "overall" and not key:
        raise ExplainError("key", f"the {level}'s name is required")
    if (level if level == "overall" else f"{level}s") not in spec.levels:
        raise ExplainError("level", f"{kpi} is reported for {', '.join(spec.levels)} only")
    return spec, window


def explainable(kpi: str) -> KpiSpec:
    """The windowed KPI named ``kpi`` (a report key). Raises ExplainError for another name and
    for ``weighted_score``, which is computed from other KPIs' values, not from facts."""
    for spec in WINDOW_KPIS:
        if spec.key == kpi:
            if spec.compute is None:
                raise ExplainError("kpi", f"{kpi} is computed from other KPIs' values, not "
                                   "from facts: explain those (the configured weights)")
            return spec
    names = ", ".join(s.key for s in WINDOW_KPIS if s.compute is not None)
    raise ExplainError("kpi", f"{kpi!r} is not a windowed KPI; one of {names}")


def window_named(name: str) -> WindowSpec:
    """Raises ExplainError for a name that is not a window."""
    for window in WINDOWS:
        if window.name == name:
            return window
    raise ExplainError("window", f"{name!r} is not a window; one of "
                       f"{', '.join(w.name for w in WINDOWS)}")


def explain(kpi: str, level: str, key: str | None, window_name: str, as_of_ms: int,
            shares: Iterable[tuple[str, Iterable[Fact]]],
            segments: Iterable[tuple[str, Segment]]) -> dict[str, Any]:
    """The facts behind ``kpi`` of one owner in a window at ``as_of_ms`` (epoch ms).

    ``shares``: (conversation id, the facts the owner holds of it); ``segments``: (agent, a
    logged-in segment) of the owner (an agent's own; a team's or overall's from its agents).

    Returns ``{kpi, level, key, window, as_of, from, value, totals, facts, presence}``: ``facts``
    oldest first, each with ``adds`` (feed name → amount, or seconds for a distribution);
    ``totals`` per feed (``count`` and ``sum``, seconds for a distribution) and, for presence
    KPIs, ``logged_in_seconds`` and ``busy_seconds``; ``presence`` the clipped stretches
    (only for KPIs of presence time); ``value`` as in the report.

    Raises ExplainError naming the parameter (kpi, level, key, window)."""
    spec, window = check_request(kpi, level, key, window_name)
    start, end = window.span(as_of_ms)
    rows = _facts(spec, window, as_of_ms, shares)
    presence: list[dict[str, Any]] = []
    if spec.presence:
        for agent, segment, low, high in _clipped(segments, start, end):
            if level == "team" and segment.team != key:
                continue
            presence.append({"agent": agent, "team": segment.team, "start": format_time(low),
                             "stop": format_time(high), "busy": segment.busy,
                             "logged_in_seconds": (high - low) / 1000,
                             "busy_seconds": (high - low) / 1000 if segment.busy else 0.0})
    return _listing(spec, {"kpi": kpi, "level": level,
                           "key": key if level != "overall" else None, "window": window.name,
                           "as_of": format_time(as_of_ms), "from": format_time(start)},
                    rows, presence)


def merge_explains(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One explanation from the workers' parts (:func:`explain` of each one's conversations and
    segments): their facts (each once: during a rebalance two workers may list a conversation)
    and presence stretches together, the totals and the value counted again from them."""
    if not parts:
        raise ValueError("no parts to merge")
    first = parts[0]
    spec = explainable(first["kpi"])
    rows = {row["fact_id"]: row for part in parts for row in part["facts"]}
    presence = [stretch for part in parts for stretch in part["presence"]]
    presence.sort(key=lambda s: (s["start"], s["agent"]))
    head = {k: first[k] for k in ("kpi", "level", "key", "window", "as_of", "from")}
    return _listing(spec, head, sorted(rows.values(), key=lambda r: (r["at"], r["fact_id"])),
                    presence)


def _listing(spec: KpiSpec, head: dict[str, Any], rows: list[dict[str, Any]],
             presence: list[dict[str, Any]]) -> dict[str, Any]:
    """The explanation of ``rows`` (and ``presence``): each feed's count and sum, and the value
    computed from them alone, as the report computes it."""
    pane: Pane = {}
    for row in rows:
        for feed in spec.feeds:
            amount = row["adds"].get(feed.name)
            if amount is None:
                continue
            if isinstance(feed, Count):
                pane[feed.slot] = pane.get(feed.slot, 0) + amount
            else:
                value_ms = round(amount * 1000)
                slot = sketch_key(feed.index, value_ms)
                pane[slot] = pane.get(slot, 0) + packed(value_ms)
    totals = Totals(pane)
    for stretch in presence:
        totals.logged_in_ms += round(stretch["logged_in_seconds"] * 1000)
        totals.busy_ms += round(stretch["busy_seconds"] * 1000)
    feed_totals: dict[str, Any] = {}
    for feed in spec.feeds:
        added = [row["adds"][feed.name] for row in rows if feed.name in row["adds"]]
        if isinstance(feed, Count):
            feed_totals[feed.name] = {"count": len(added), "sum": sum(added)}
        else:
            feed_totals[feed.name] = {"count": len(added),
                                      "sum": sum(round(s * 1000) for s in added) / 1000}
    if spec.presence:
        feed_totals["logged_in_seconds"] = totals.logged_in_ms / 1000
        feed_totals["busy_seconds"] = totals.busy_ms / 1000
    assert spec.compute is not None
    return {**head, "value": spec.compute(totals), "totals": feed_totals, "facts": rows,
            "presence": presence}


def _facts(spec: KpiSpec, window: WindowSpec, as_of_ms: int,
           shares: Iterable[tuple[str, Iterable[Fact]]]) -> list[dict[str, Any]]:
    """The facts in the window's panes that add to ``spec``'s feeds, oldest first."""
    kinds = {kind for feed in spec.feeds for kind in feed.kinds}
    first, last = panes_summed(window, as_of_ms)
    rows: list[tuple[int, str, dict[str, Any]]] = []
    for conversation_id, facts in shares:
        for fact in facts:
            if fact.kind not in kinds or isinstance(fact, Busy):
                continue
            if not first <= fact.at < last:
                continue
            adds: dict[str, Any] = {}
            for feed in spec.feeds:
                if fact.kind not in feed.kinds:
                    continue
                if isinstance(feed, Count):
                    amount = feed.amount(fact)
                    if amount:
                        adds[feed.name] = amount
                else:
                    value = feed.value(fact)
                    if value is not None:
                        adds[feed.name] = value / 1000
            if not adds:
                continue
            row = {"conversation_id": conversation_id, "fact": KIND_NAMES[fact.kind],
                   "fact_id": fact.fact_id, "at": format_time(fact.at),
                   "pane": format_time(pane_start(fact.at, window.pane_ms)),
                   "agent": fact.agent, "team": fact.team, **_details(fact), "adds": adds}
            rows.append((fact.at, fact.fact_id, row))
    rows.sort(key=lambda r: (r[0], r[1]))
    return [row for _, _, row in rows]


def _details(fact: Fact) -> dict[str, Any]:
    """The clock and the values behind a fact, in seconds."""
    if isinstance(fact, Response | Resolved):
        out: dict[str, Any] = {"start": format_time(fact.at - fact.ms), "stop":
                               format_time(fact.at), "seconds": fact.ms / 1000,
                               "business_seconds": fact.business_ms / 1000,
                               "paused_seconds": fact.paused_ms / 1000,
                               "sla_achieved": bool(fact.sla_achieved)}
        if isinstance(fact, Resolved):
            out.update(wait_seconds=fact.wait_ms / 1000,
                       wait_business_seconds=fact.wait_business_ms / 1000,
                       fcr=None if fact.fcr is None else bool(fact.fcr))
        return out
    if isinstance(fact, Duration):
        return {"start": format_time(fact.at - fact.ms), "stop": format_time(fact.at),
                "seconds": fact.ms / 1000, "business_seconds": fact.business_ms / 1000}
    if isinstance(fact, Closed):
        return {} if fact.ms is None else {"start": format_time(fact.at - fact.ms),
                                           "stop": format_time(fact.at),
                                           "seconds": fact.ms / 1000}
    if isinstance(fact, Rating):
        return {"survey": fact.survey, "score": fact.score, "about": fact.about}
    if isinstance(fact, Review):
        return {"score": fact.score_milli / 1000, "reviewer_id": fact.reviewer}
    if isinstance(fact, Assigned):
        return {"pulled": bool(fact.pulled)}
    return {}


def _clipped(segments: Iterable[tuple[str, Segment]], start: int, end: int
             ) -> list[tuple[str, Segment, int, int]]:
    """(agent, segment, low, high) of each segment's part inside [start, end), by time."""
    out = []
    for agent, segment in segments:
        for part, low, high in clipped((segment,), start, end):
            out.append((agent, part, low, high))
    out.sort(key=lambda item: (item[2], item[0]))
    return out

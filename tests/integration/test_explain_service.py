"""Explain a number, through Kafka and two workers (issue 14): for every windowed KPI, at every
level and in both windows, the workers' merged listing (each lists the facts of its own
conversations, the one that holds the owner its presence) adds up — by SPEC §3's formulas,
computed here from the listed contributions — to the value the merged report shows.

A simulated day (the 24 h window full), and a conversation cache of 50 so that most resolved
conversations have left memory and are read back from the conversations table.
"""

import json
from pathlib import Path
from typing import Any

import orjson
from fixtures.workers import Namespace, WorkerProcess, wait_until

from service.engine.kpis import WINDOW_KPIS
from service.engine.report import merge_reports
from service.stream.client import fetch_explain
from service.synthetic import TrafficShape, generate_events

AS_OF = "2024-03-05T09:00:00Z"


def day_of_events(tmp: Path) -> Path:
    """About 23 hours of the simulated desk (one conversation a minute) before AS_OF."""
    path = tmp / "day.jsonl"
    shape = TrafficShape(conversations=1400, agents=16, conversations_per_minute=1)
    with path.open("wb") as out:
        for event in generate_events(shape, seed=5):
            if event["at"] < AS_OF.removesuffix("Z"):
                out.write(orjson.dumps(event) + b"\n")
    return path


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if not denominator else numerator / denominator


def _sum(listing: dict[str, Any], feed: str) -> int:
    return sum(f["adds"].get(feed, 0) for f in listing["facts"])


def _csat(listing: dict[str, Any], prefix: str) -> dict[str, Any]:
    responses, positive = _sum(listing, f"{prefix}_responses"), _sum(listing,
                                                                     f"{prefix}_positive")
    return {"responses": responses, "positive": positive,
            "positive_ratio": _ratio(positive, responses),
            "avg": _ratio(_sum(listing, f"{prefix}_sum"), responses)}


def _presence(listing: dict[str, Any], field: str) -> float:
    return sum(_ms(p[field]) for p in listing["presence"]) / 1000


def _sla(listing: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for kind in ("first_response", "next_response", "resolution"):
        achieved = _sum(listing, f"sla_{kind}_achieved")
        breached = _sum(listing, f"sla_{kind}_breached")
        out[kind] = {"achieved": achieved, "breached": breached,
                     "achieved_ratio": _ratio(achieved, achieved + breached)}
    return out


def _nps(listing: dict[str, Any]) -> dict[str, Any]:
    n, promoters = _sum(listing, "nps_responses"), _sum(listing, "nps_promoters")
    detractors = _sum(listing, "nps_detractors")
    return {"responses": n, "promoters": promoters, "detractors": detractors,
            "score": _ratio(100 * (promoters - detractors), n)}


SPEC_FORMULAS: dict[str, Any] = {
    # SPEC §3, each from the listed contributions
    "conversations_created": lambda x: _sum(x, "created"),
    "conversations_resolved": lambda x: _sum(x, "resolved"),
    "conversations_closed": lambda x: _sum(x, "closed"),
    "reopened": lambda x: _sum(x, "reopened"),
    "abandoned": lambda x: _sum(x, "abandoned"),
    "abandonment_ratio": lambda x: _ratio(_sum(x, "abandoned"), _sum(x, "created")),
    "assigned": lambda x: _sum(x, "assigned"),
    "pulled": lambda x: _sum(x, "pulled"),
    "pulled_per_hour": lambda x: _ratio(_sum(x, "pulled"),
                                        _presence(x, "logged_in_seconds") / 3600),
    "handed_off": lambda x: _sum(x, "handed_off"),
    "bot_resolved": lambda x: _sum(x, "bot_resolved"),
    "bot_resolution_ratio": lambda x: _ratio(_sum(x, "bot_resolved"), _sum(x, "resolved")),
    "fcr_ratio": lambda x: _ratio(_sum(x, "fcr_one_touch"),
                                  _sum(x, "fcr_one_touch") + _sum(x, "fcr_more_touches")),
    "logged_in_seconds": lambda x: _presence(x, "logged_in_seconds"),
    "busy_seconds": lambda x: _presence(x, "busy_seconds"),
    "occupancy_ratio": lambda x: _ratio(_presence(x, "busy_seconds"),
                                        _presence(x, "logged_in_seconds")),
    "csat": lambda x: _csat(x, "csat"),
    "csat_all": lambda x: _csat(x, "csat_all"),
    "nps": _nps,
    "ces": lambda x: {"responses": _sum(x, "ces_responses"),
                      "avg": _ratio(_sum(x, "ces_sum"), _sum(x, "ces_responses"))},
    "qa": lambda x: {"reviews": _sum(x, "qa_reviews"),
                     "avg": _ratio(_sum(x, "qa_sum_milli") / 1000, _sum(x, "qa_reviews"))},
    "sla": _sla,
}


def check_distribution(listing: dict[str, Any], reported: dict[str, Any]) -> None:
    """count and avg from the listed values exactly; p50 and p90 within their range."""
    values = [_ms(f["adds"][listing["kpi"]]) for f in listing["facts"]]
    assert reported["count"] == len(values)
    if values:
        assert reported["avg"] == sum(values) / len(values) / 1000
        assert min(values) / 1000 <= reported["p50"] <= reported["p90"] <= max(values) / 1000


def _close(a: Any, b: Any) -> bool:
    """Equal, floats within 1e-9 relative (a sum of seconds added in another order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1)
    return bool(a == b)


def test_every_windowed_kpi_is_explained_by_the_workers_merged_listing(
        namespace: Namespace, start_worker: Any, tmp_path: Path) -> None:
    path = day_of_events(tmp_path)
    expected = json.loads(namespace.cli("replay", str(path), "--as-of", AS_OF, "--no-pretty"))
    first = start_worker("w1", SUPPORT_KPI_CONVERSATION_CACHE="50").wait_ready()
    second = start_worker("w2", SUPPORT_KPI_CONVERSATION_CACHE="50").wait_ready()
    workers: list[WorkerProcess] = [first, second]
    namespace.cli("produce", str(path), "--batch", "50")
    report: list[dict[str, Any]] = []

    def equal() -> bool:
        report[:] = [merge_reports([w.kpis(AS_OF) for w in workers])]
        return report[0] == expected

    wait_until(equal, 180, "two workers' merged report to equal replay")
    urls = [w.url for w in workers]
    day = expected["windows"]["24h"]
    assert day["overall"]["conversations_created"] > 1000
    owned = [set(w.kpis(AS_OF)["windows"]["24h"]["agents"]) for w in workers]
    agents = [max(own, key=lambda a: day["agents"][a]["conversations_resolved"])
              for own in owned]
    keys = [("overall", None), *(("team", t) for t in sorted(day["teams"])),
            *(("agent", a) for a in agents)]
    explained = {spec.key for spec in WINDOW_KPIS if spec.compute is not None}
    assert explained == set(SPEC_FORMULAS) | {s.key for s in WINDOW_KPIS
                                              if s.kind == "distribution"}
    checked = 0
    for window in ("1h", "24h"):
        values = expected["windows"][window]
        for level, key in keys:
            reported = (values["overall"] if level == "overall"
                        else values[f"{level}s"].get(key))
            if reported is None:
                continue
            for spec in WINDOW_KPIS:
                if spec.key not in explained or spec.key not in reported:
                    continue
                listing, missing = fetch_explain(urls, {
                    "kpi": spec.key, "level": level, "key": key, "window": window,
                    "as_of": AS_OF}, None)
                assert missing == []
                what = f"{spec.key} of {level} {key} in {window}"
                assert listing["value"] == reported[spec.key], what
                if spec.kind == "distribution":
                    check_distribution(listing, reported[spec.key])
                else:
                    assert _close(SPEC_FORMULAS[spec.key](listing), reported[spec.key]), what
                checked += 1
    assert checked > 300
    printed = namespace.cli("explain", "first_response_seconds", "--agent", agents[1],
                            "--window", "24h", "--as-of", AS_OF, "--workers", ",".join(urls),
                            "--json")
    listing = json.loads(printed)
    assert listing["value"] == day["agents"][agents[1]]["first_response_seconds"]
    assert all(f["agent"] == agents[1] and f["start"] < f["stop"] for f in listing["facts"])
    text = namespace.cli("explain", "sla", "--team", sorted(day["teams"])[0], "--window", "24h",
                         "--as-of", AS_OF, "--workers", ",".join(urls)).decode()
    assert "SLA achieved" in text or "SLA breached" in text

"""SPEC §3 in the report: a distribution's quantiles lie within the observed values' range, and
equal values give that value (case quantile-identical-values)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas import event_adapter
from service.config import KpiConfig
from service.engine.engine import KpiEngine

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
AS_OF_MS = int((T0 + timedelta(hours=10)).timestamp() * 1000)


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _first_responses(seconds: list[int]) -> KpiEngine:
    engine = KpiEngine(KpiConfig())
    for n, value in enumerate(seconds):
        created = T0 + timedelta(minutes=n)
        for event in (
            {"id": f"c{n}", "type": "conversation.created", "at": _iso(created),
             "conversation_id": f"q{n}", "team": "support"},
            {"id": f"r{n}", "type": "message.created",
             "at": _iso(created + timedelta(seconds=value)), "conversation_id": f"q{n}",
             "author": "agent", "agent_id": "a1"},
        ):
            engine.process(event_adapter.validate_python(event))
    return engine


def _first_response(engine: KpiEngine, level: str = "overall") -> Any:
    window = engine.report(AS_OF_MS)["windows"]["24h"]
    values = window["overall"] if level == "overall" else window["agents"]["a1"]
    return values["first_response_seconds"]


def test_ten_identical_first_responses() -> None:
    engine = _first_responses([7200] * 10)
    expected = {"count": 10, "avg": 7200, "p50": 7200, "p90": 7200}
    assert _first_response(engine) == expected
    assert _first_response(engine, "agent") == expected


def test_two_first_responses() -> None:
    # sorted [600, 1800]: avg 1200, p50 at rank 0.5 = 1200, p90 at rank 0.9 = 600 + 0.9 * 1200
    values = _first_responses([1800, 600]).report(AS_OF_MS)["windows"]["24h"]["overall"][
        "first_response_seconds"]
    assert values["count"] == 2 and values["avg"] == 1200 and values["p50"] == 1200
    assert abs(values["p90"] - 1680) < 1e-9


def test_quantiles_stay_within_the_values() -> None:
    # sorted [3599, 3600, 3601]: every quantile within [3599, 3601]; p50 exact 3600 within 1%
    values = _first_responses([3600, 3601, 3599]).report(AS_OF_MS)["windows"]["24h"][
        "overall"]["first_response_seconds"]
    assert 3599 <= values["p50"] <= 3601 and 3599 <= values["p90"] <= 3601
    assert abs(values["p50"] - 3600) <= 36
    assert values["avg"] == 3600

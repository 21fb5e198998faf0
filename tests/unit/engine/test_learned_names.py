"""Names for people learned from the events (``agent_name``, ``team_name``): the latest by
event time wins, ties go to the greater name, so any order of arrival and any duplicate give
the same name; a configured name wins over a learned one (issue 25, item 3)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from schemas import event_adapter
from service.config import KpiConfig
from service.engine.engine import KpiEngine
from service.engine.learned_names import LearnedNames, Sighting
from service.engine.owner_keys import agent_owner

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

sightings = st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["Leela", "Bender", "Fry"])),
                     min_size=1, max_size=12)


@given(sightings, st.randoms(use_true_random=False))
def test_any_order_and_any_duplicate_give_the_latest_name(seen: list[tuple[int, str]],
                                                          rnd: Any) -> None:
    latest_at = max(at for at, _ in seen)
    expected = max(name for at, name in seen if at == latest_at)
    arrivals = seen + rnd.sample(seen, len(seen) // 2)
    rnd.shuffle(arrivals)
    names = LearnedNames()
    for at, name in arrivals:
        names.learn(agent_owner("a1"), Sighting(at, name))
    assert names.of_keys("agent", ["a1", "a2"]) == {"a1": expected}


def event(n: int, minutes: int, **fields: Any) -> Any:
    return event_adapter.validate_python({
        "id": f"e{n}", "at": (T0 + timedelta(minutes=minutes)).isoformat(), **fields})


def stream() -> list[Any]:
    return [
        event(1, 0, type="conversation.created", conversation_id="c1", team="t-7",
              team_name="Billing EU"),
        event(2, 1, type="conversation.assigned", conversation_id="c1", agent_id="a-12",
              agent_name="Leela"),
        event(3, 5, type="message.created", conversation_id="c1", author="agent",
              agent_id="a-12", agent_name="Turanga Leela"),
        # older, arriving last: the name of minute 5 stays
        event(4, 2, type="agent.status_changed", agent_id="a-12", status="available",
              agent_name="Leela T."),
        event(5, 3, type="conversation.assigned", conversation_id="c2", agent_id="a-13"),
    ]


def test_the_report_and_the_queue_carry_the_learned_names() -> None:
    engine = KpiEngine(KpiConfig())
    for e in stream():
        engine.process(e)
    assert engine.report()["names"] == {"teams": {"t-7": "Billing EU"},
                                        "agents": {"a-12": "Turanga Leela"}}
    queue = engine.queue("open")
    assert queue["names"] == {"teams": {"t-7": "Billing EU"}, "agents": {"a-12": "Turanga Leela"}}


def test_a_configured_name_wins_over_a_learned_one() -> None:
    config = KpiConfig.model_validate({"teams": {"t-7": {"name": "Billing"}},
                                       "agents": {"a-13": {"name": "Bender"}}})
    engine = KpiEngine(config)
    for e in stream():
        engine.process(e)
    assert engine.report()["names"] == {"teams": {"t-7": "Billing"},
                                        "agents": {"a-12": "Turanga Leela", "a-13": "Bender"}}

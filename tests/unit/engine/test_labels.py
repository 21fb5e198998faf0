"""An agent's team marks read back from its pane rows (:meth:`AgentTeams.load`) are held as
noting each mark would hold them: the same latest mark, the same marks per minute, whatever
order the minutes load in (a worker loads its rows in key order, ascending by minute)."""

from hypothesis import given
from hypothesis import strategies as st

from service.engine.labels import AgentTeams
from service.engine.panes import MINUTE_MS

marks = st.dictionaries(st.tuples(st.integers(0, 5 * MINUTE_MS), st.sampled_from(["a", "b"])),
                        st.integers(-2, 3).filter(bool), max_size=12)


@given(marks, st.booleans())
def test_loading_a_minute_at_a_time_holds_what_noting_holds(held: dict, ascending: bool) -> None:
    noted, loaded = AgentTeams(), AgentTeams()
    by_minute: dict[int, dict] = {}
    for (at, team), count in held.items():
        noted.note("x", at, team, count)
        by_minute.setdefault(at - at % MINUTE_MS, {})[(at, team)] = count
    for minute in sorted(by_minute, reverse=not ascending):
        loaded.load("x", minute, by_minute[minute])
    assert loaded.latest("x") == noted.latest("x")
    for minute in by_minute:
        assert loaded.in_minute("x", minute) == noted.in_minute("x", minute)
    loaded.note("x", 10 * MINUTE_MS, "b")
    noted.note("x", 10 * MINUTE_MS, "b")
    assert loaded.latest("x") == noted.latest("x") == (10 * MINUTE_MS, "b")

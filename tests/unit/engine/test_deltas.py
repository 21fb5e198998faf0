"""What a conversation batch sends to the owners (service/engine/deltas.py): coalesced pane
entries that add up to the facts' own, retractions where a fact went, absolute live summaries
and attention intervals, for the owner that counts each."""

from service.engine.deltas import DeltaBuilder, Source
from service.engine.facts import (
    F_ASSIGNED,
    F_BUSY,
    F_FULL_RESOLVED,
    F_RATING,
    Assigned,
    Busy,
    Duration,
    Rating,
)
from service.engine.fold import LiveSummary
from service.engine.kpis import PANES
from service.engine.owner_keys import OVERALL, Owner, agent_owner, team_owner
from service.engine.panes import MINUTE_MS


def builder() -> DeltaBuilder:
    """Every owner on partition 0, nothing out of retention."""
    return DeltaBuilder(Source(3, 10, 20), lambda owner: 0, cutoff_ms=0)


def test_a_fact_that_moves_to_another_agent_is_retracted_where_it_was() -> None:
    """The full resolution is credited to the latest resolver: a7 first, a8 after a reopen at
    another minute. a7's pane gets the retraction, a8's the fact, team and overall both (the
    team's and overall's minutes differ, so nothing cancels)."""
    first = Duration("c1:fu", F_FULL_RESOLVED, 2_000, "billing", "a7", 1_000, 1_000)
    again = first._replace(at=9 * MINUTE_MS, agent="a8", ms=8_000, business_ms=8_000)
    deltas = builder()
    deltas.change((None, first))
    deltas.change((first, again))
    [message] = deltas.messages().values()
    assert (agent_owner("a7"), 0) not in message.panes, "added and retracted in one batch"
    assert message.panes[(agent_owner("a8"), 9 * MINUTE_MS)] == dict(PANES.entries(again))
    assert message.panes[(team_owner("billing"), 9 * MINUTE_MS)] == dict(PANES.entries(again))


def test_coalesced_entries_sum_the_facts_and_zero_amounts_go() -> None:
    a = Assigned("c1:as1", F_ASSIGNED, 1_000, "t1", "a1", 1)
    b = Assigned("c2:as1", F_ASSIGNED, 2_000, "t1", "a1", 0)
    deltas = builder()
    deltas.change((None, a))
    deltas.change((None, b))
    [message] = deltas.messages().values()
    expected: dict[int, int] = {}
    for fact in (a, b):
        for slot, amount in PANES.entries(fact):
            expected[slot] = expected.get(slot, 0) + amount
    assert message.panes[(OVERALL, 0)] == expected
    assert message.marks[(agent_owner("a1"), 0)] == {(1_000, "t1"): 1, (2_000, "t1"): 1}
    deltas.change((a, None))
    deltas.change((b, None))
    assert deltas.messages() == {}


def test_busy_time_that_moves_to_another_agent_leaves_the_first_one() -> None:
    """A late event gives the conversation's busy stretch to another assignee: the first
    agent's attention interval is dropped, the second's set."""
    before = Busy("c1:bz1", F_BUSY, 1_000, None, "a7", 1_000, None)
    after = before._replace(agent="a8")
    deltas = builder()
    deltas.change((before, after))
    [message] = deltas.messages().values()
    assert message.attention == {"a7": {"c1:bz1": None}, "a8": {"c1:bz1": (1_000, None)}}


def test_a_live_summary_goes_to_its_owners_and_leaves_the_old_ones() -> None:
    before = LiveSummary("t1", "a1", "open", "normal", 0, "first_response", 0, (), 0, "chat")
    after = before._replace(team="t2", assignee=None)
    deltas = builder()
    deltas.live("c1", before, after)
    [message] = deltas.messages().values()
    assert message.live == {team_owner("t1"): {"c1": None}, agent_owner("a1"): {"c1": None},
                            OVERALL: {"c1": after}, team_owner("t2"): {"c1": after}}
    quiet = builder()
    quiet.live("c1", after, after)
    assert quiet.messages() == {}


def test_ratings_go_to_the_feedback_of_the_agent_and_team_not_overall() -> None:
    rating = Rating("c1:rt1", F_RATING, 5_000, "t1", "a1", "csat", 5, "agent", "thanks")
    deltas = builder()
    deltas.change((None, rating))
    [message] = deltas.messages().values()
    assert message.feedback == {agent_owner("a1"): {"c1:rt1": rating},
                                team_owner("t1"): {"c1:rt1": rating}}


def test_each_owner_goes_to_its_partition() -> None:
    a = Assigned("c1:as1", F_ASSIGNED, 1_000, "t1", "a1", 1)

    def partition_of(owner: Owner) -> int:
        return {"overall": 0, "team": 1, "agent": 2}[owner.level]

    deltas = DeltaBuilder(Source(3, 10, 20), partition_of, 0)
    deltas.change((None, a))
    messages = deltas.messages()
    assert sorted(messages) == [0, 1, 2]
    assert all(m.source == Source(3, 10, 20) for m in messages.values())
    assert set(messages[2].panes) == {(agent_owner("a1"), 0)}


def test_entries_of_facts_out_of_retention_are_left_out_but_marks_stay() -> None:
    a = Assigned("c1:as1", F_ASSIGNED, 1_000, "t1", "a1", 1)
    deltas = DeltaBuilder(Source(0, 0, 0), lambda owner: 0, cutoff_ms=5_000)
    deltas.change((None, a))
    [message] = deltas.messages().values()
    assert message.panes == {}
    assert message.marks == {(agent_owner("a1"), 0): {(1_000, "t1"): 1}}

"""An agent's timeline keeps canonical segments up to date by recomputing only what a change can
touch: the result equals a rebuild from scratch in any order of changes, and an event's cost
follows what it changes (issue 23 item 2: 50,000 presence events of one agent)."""

import random
from bisect import bisect_left
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.engine.presence import LOGGED_IN, AgentTimeline, PresenceSums, Segment
from service.engine.records import K_PRESENCE, Record, fingerprint

STATUSES = ("available", "busy", "after_work", "away", "offline")
OPEN = 2**62


def presence(i: int, at: int, status: str, team: str | None) -> Record:
    return Record(at, i, fingerprint(f"p{i}"), K_PRESENCE, team, "a1", status, None, None)


def covered(segments: list[Segment], start: int, end: int) -> tuple[int, int]:
    """(logged-in ms, busy ms) inside [start, end), segment by segment (SPEC §3: each
    interval's part inside the window)."""
    logged = busy = 0
    for segment in segments:
        finish = OPEN if segment.end is None else segment.end
        part = max(0, min(finish, end) - max(segment.start, start))
        logged += part
        busy += part if segment.busy else 0
    return logged, busy


def reference(records: list[Record], attention: dict[str, tuple[int, int | None]],
              carried: str | None = None) -> list[Segment]:
    """Canonical segments from scratch: the state at every boundary, equal runs merged."""
    records = sorted(records, key=lambda r: (r.at, r.seq))
    points = sorted({r.at for r in records}
                    | {t for s, e in attention.values() for t in (s, e) if t is not None})
    segments: list[Segment] = []
    run: Any = None
    for k, point in enumerate(points):
        in_force = [r for r in records if r.at <= point]
        status = in_force[-1].a if in_force else "offline"
        team = carried
        for r in in_force:
            if r.team is not None:
                team = r.team
        covered = any(s <= point < (OPEN if e is None else e) for s, e in attention.values())
        state = (team, status in ("busy", "after_work") or covered) \
            if status in LOGGED_IN else None
        if run is not None and (run[1], run[2]) == state:
            continue
        if run is not None:
            segments.append(Segment(run[0], point, run[1], run[2]))
        run = None if state is None else (point, *state)
        del k
    if run is not None:
        segments.append(Segment(run[0], None, run[1], run[2]))
    return segments


changes = st.lists(st.one_of(
    st.tuples(st.just("presence"), st.integers(0, 40), st.sampled_from(STATUSES),
              st.sampled_from([None, None, "t1", "t2"])),
    st.tuples(st.just("attention"), st.integers(0, 5), st.integers(0, 40),
              st.one_of(st.none(), st.integers(1, 15))),
    st.tuples(st.just("drop"), st.integers(0, 5)),
), max_size=60)


@settings(max_examples=300, deadline=None)
@given(changes, st.randoms(use_true_random=False))
def test_incremental_segments_equal_a_rebuild_in_any_order(ops: list[Any],
                                                           rnd: random.Random) -> None:
    timeline = AgentTimeline()
    records: list[Record] = []
    attention: dict[str, tuple[int, int | None]] = {}
    shown: dict[Any, Segment] = {}
    for n, op in enumerate(ops):
        if op[0] == "presence":
            record = presence(n, op[1] * 60_000, op[2], op[3])
            records.append(record)
            change = timeline.add_presence(record)
        elif op[0] == "attention":
            fid, start = f"f{op[1]}", op[2] * 60_000
            end = None if op[3] is None else start + op[3] * 60_000
            attention[fid] = (start, end)
            change = timeline.set_attention(fid, start, end)
        else:
            attention.pop(f"f{op[1]}", None)
            change = timeline.drop_attention(f"f{op[1]}")
        assert change is not None
        for segment in change.removed:
            assert shown.pop(segment.start) == segment
        for segment in change.added:
            assert segment.start not in shown
            shown[segment.start] = segment
        assert timeline.segments() == reference(records, attention)
        for low, high in ((0, 10**9), (n * 60_000, (n + 7) * 60_000), (5 * 60_000, 6 * 60_000)):
            assert timeline.sums.span(low, high) == covered(timeline.segments(), low, high)
    assert sorted(shown.values()) == timeline.segments(), (
        "the changes, applied in order, give the segments: what another owner holds")
    if records:
        shuffled = list(records)
        rnd.shuffle(shuffled)
        other = AgentTimeline()
        for record in shuffled:
            other.add_presence(record)
        for fid, (start, end) in attention.items():
            other.set_attention(fid, start, end)
        assert other.segments() == timeline.segments()
        loaded = AgentTimeline()
        loaded.load(shuffled, list(attention.items()))
        assert loaded.segments() == timeline.segments(), "read back at once, built once"
        assert (loaded.presence, loaded.teams) == (timeline.presence, timeline.teams)


def test_a_repeated_presence_event_changes_nothing() -> None:
    timeline = AgentTimeline()
    record = presence(1, 0, "available", "t1")
    assert timeline.add_presence(record) is not None
    assert timeline.add_presence(record) is None
    assert timeline.segments() == [Segment(0, None, "t1", False)]


def test_attention_under_an_earlier_open_one_rebuilds_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An agent already awaited without end since 10 is busy from 10 on: a second conversation
    coming and going after that changes no segment and recomputes none."""
    timeline = AgentTimeline()
    timeline.add_presence(presence(1, 0, "available", "t1"))
    timeline.set_attention("c1", 10, None)
    before = list(timeline.segments())
    assert before == [Segment(0, 10, "t1", False), Segment(10, None, "t1", True)]
    builds: list[tuple[int, int]] = []
    build = AgentTimeline._build
    monkeypatch.setattr(AgentTimeline, "_build",
                        lambda self, low, high: builds.append((low, high)) or build(self, low,
                                                                                     high))
    assert not any(timeline.set_attention("c2", 20, 30))
    assert not any(timeline.set_attention("c2", 15, None))
    assert not any(timeline.drop_attention("c2"))
    assert builds == [] and timeline.segments() == before
    assert any(timeline.drop_attention("c1"))
    assert builds == [(10, OPEN)]
    assert timeline.segments() == [Segment(0, None, "t1", False)]


def test_expiry_keeps_the_team_carried_and_a_late_team_before_the_horizon() -> None:
    """Expired events still carry their team; an event that arrives dated before the horizon
    can only change the carried team, and does so only if it names a later one."""
    timeline = AgentTimeline()
    timeline.add_presence(presence(1, 0, "available", "t1"))
    timeline.add_presence(presence(2, 600_000, "busy", None))
    timeline.add_presence(presence(3, 1_200_000, "available", None))
    timeline.expire(900_000)
    assert [r.seq for r in timeline.presence] == [2, 3]
    assert {s.team for s in timeline.segments()} == {"t1"}
    change = timeline.add_presence(presence(4, 300_000, "away", "t2"))
    assert change is not None and change.added
    assert {s.team for s in timeline.segments() if s.end is None or s.end > 600_000} == {"t2"}
    assert timeline.add_presence(presence(5, 100_000, "away", "t9")).added == ()


def test_a_timeline_loaded_after_expiry_has_the_segments_it_had() -> None:
    """What a store keeps of an expired timeline (its horizon, carried team, the events kept,
    an event dated before the horizon, the attention intervals) loads into the same state."""
    timeline = AgentTimeline()
    records = [presence(1, 0, "available", "t1"), presence(2, 600_000, "busy", None),
               presence(3, 1_200_000, "available", None), presence(4, 1_500_000, "away", "t2"),
               presence(5, 1_800_000, "available", None)]
    for record in records:
        timeline.add_presence(record)
    timeline.set_attention("c1", 1_300_000, 1_400_000)
    timeline.set_attention("c2", 1_700_000, None)
    timeline.expire(900_000)
    loaded = AgentTimeline()
    loaded.horizon, loaded.carried = timeline.horizon, timeline.carried
    late = presence(6, 100_000, "away", "t9")
    loaded.load([*reversed(timeline.presence), late], list(timeline.attention.items()))
    timeline.add_presence(late)
    assert loaded.segments() == timeline.segments()
    assert (loaded.presence, loaded.teams, loaded.carried) == (
        timeline.presence, timeline.teams, (100_000, "t9"))
    assert loaded.segments() == [  # away is not logged in; attention makes available busy
        Segment(600_000, 1_200_000, "t9", True), Segment(1_200_000, 1_300_000, "t9", False),
        Segment(1_300_000, 1_400_000, "t9", True), Segment(1_400_000, 1_500_000, "t9", False),
        Segment(1_800_000, None, "t2", True)]


class Counting:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.points = 0
        build = AgentTimeline._build

        def counted(timeline: AgentTimeline, low: int, high: int) -> list[Segment]:
            self.points += (bisect_left(timeline.presence, high, key=lambda r: r.at)
                            - bisect_left(timeline.presence, low, key=lambda r: r.at))
            return build(timeline, low, high)

        monkeypatch.setattr(AgentTimeline, "_build", counted)


@pytest.mark.parametrize("statuses", [STATUSES, ("available",), ("available", "busy")])
@pytest.mark.parametrize("shuffled", [False, True])
def test_fifty_thousand_presence_events_cost_what_they_change(
        monkeypatch: pytest.MonkeyPatch, shuffled: bool, statuses: tuple[str, ...]) -> None:
    """50,000 status changes of one agent: each recomputes the stretch up to the next event,
    so the presence events visited are a few per event, in time order or not, also when the
    status repeats all day and one segment holds every event (was a rebuild of the whole
    timeline, or a sort, per event; then a rebuild of the segment around the event)."""
    rng = random.Random(5)
    records = [presence(i, i * 1000, rng.choice(statuses), "t1" if i == 0 else None)
               for i in range(50_000)]
    if shuffled:
        rng.shuffle(records)
    counting = Counting(monkeypatch)
    timeline = AgentTimeline()
    for record in records:
        timeline.add_presence(record)
    assert counting.points <= 10 * len(records)
    if statuses == ("available",):
        assert timeline.segments() == [Segment(0, None, "t1", False)]


EPOCH = 1_765_000_000_000
spans = st.tuples(st.integers(-5, 2_000), st.integers(0, 400)).map(
    lambda t: (EPOCH + t[0] * 60_000, EPOCH + (t[0] + t[1]) * 60_000))
segments = st.builds(lambda start, length, busy: Segment(
    EPOCH + start * 60_000, None if length is None else EPOCH + (start + length) * 60_000,
    "t1", busy), st.integers(0, 1_500), st.one_of(st.none(), st.integers(0, 300)),
    st.booleans())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), segments), max_size=80), st.lists(spans, max_size=6))
def test_presence_sums_equal_the_clipped_segments_under_adds_and_removes(
        ops: list[tuple[bool, Segment]], queries: list[tuple[int, int]]) -> None:
    """Overlapping segments (a team's agents), added and removed in any order, read between
    changes: the sums equal each segment's part inside the span."""
    sums = PresenceSums()
    held: list[Segment] = []
    for n, (remove, segment) in enumerate(ops):
        if remove and held:
            gone = held.pop(n % len(held))
            sums.remove(gone)
        else:
            held.append(segment)
            sums.add(segment)
        for start, end in queries[: n % 3]:
            assert sums.span(start, end) == covered(held, start, end)
    for start, end in queries:
        assert sums.span(start, end) == covered(held, start, end)


def test_presence_sums_of_a_bulk_load_in_agent_order_then_changes() -> None:
    """A team owner's segments read back agent after agent (each agent's in time order, so
    most land far behind the end and wait for one sort), then changed anywhere and read."""
    rng = random.Random(11)
    held = [Segment(EPOCH + (agent * 7 + n * 40) * 60_000,
                    EPOCH + (agent * 7 + n * 40 + rng.randint(1, 35)) * 60_000, "t1",
                    rng.random() < 0.5)
            for agent in range(30) for n in range(12)]
    sums = PresenceSums()
    for segment in held:
        sums.add(segment)
    for step in range(200):
        if step % 3 == 0:
            gone = held.pop(rng.randrange(len(held)))
            sums.remove(gone)
        else:
            start = rng.randint(0, 700)
            segment = Segment(EPOCH + start * 60_000, None if step % 7 == 0
                              else EPOCH + (start + rng.randint(1, 60)) * 60_000, "t1",
                              rng.random() < 0.5)
            held.append(segment)
            sums.add(segment)
        if step % 10 == 0:
            low = EPOCH + rng.randint(-10, 700) * 60_000
            high = low + rng.randint(0, 900) * 60_000
            assert sums.span(low, high) == covered(held, low, high), step
    assert sums.span(EPOCH, EPOCH + 10**9) == covered(held, EPOCH, EPOCH + 10**9)

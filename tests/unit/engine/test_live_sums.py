"""An owner's live counts kept between reports (``LiveSums``) equal the counts summed again
from its summaries at every as-of, whatever changed in between (SPEC §4)."""

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from service.config import KpiConfig
from service.engine.engine import CachedPolicy
from service.engine.fold import LiveSummary
from service.engine.live import LiveCounts, LiveSums, live_at, live_row
from service.engine.sla import Wait

MINUTE = 60_000
CONFIG = KpiConfig.model_validate(yaml.safe_load("""
defaults:
  sla:
    first_response: {target: 600}
    next_response: {target: 1200, pause_while: [pending]}
"""))
POLICY = CachedPolicy(CONFIG)
RATIO = 0.8


def from_scratch(held: dict[str, LiveSummary], as_of: int) -> LiveCounts | None:
    total, live = LiveCounts(), False
    for summary in held.values():
        if not live_at(summary, as_of):
            continue
        live = True
        row, _ = live_row(summary, as_of, POLICY, RATIO)
        since = summary.awaiting_since
        total.add(row, None if since is None else as_of - since)
    return total if live else None


summaries = st.builds(
    lambda status, assignee, since, clock, start, created, wait: LiveSummary(
        "t1", assignee, status, "normal", None if since is None else created + since * MINUTE,
        clock, None if clock is None else created + start * MINUTE,
        () if wait is None or clock is None else (Wait(created + wait * MINUTE, None, "pending"),),
        created, "chat"),
    st.sampled_from(["open", "pending"]), st.sampled_from([None, "a1", "a2"]),
    st.one_of(st.none(), st.integers(0, 5)),
    st.sampled_from([None, "first_response", "next_response"]), st.integers(0, 10),
    st.integers(0, 60).map(lambda m: m * MINUTE), st.one_of(st.none(), st.integers(0, 20)))

operations = st.lists(st.one_of(
    st.tuples(st.just("set"), st.integers(0, 6), summaries),
    st.tuples(st.just("remove"), st.integers(0, 6)),
    st.tuples(st.just("report"), st.integers(-10, 30)),
), max_size=60)


@settings(max_examples=400, deadline=None)
@given(operations)
def test_kept_counts_equal_counts_summed_again(ops: list[Any]) -> None:
    sums = LiveSums(POLICY)
    held: dict[str, LiveSummary] = {}
    as_of = 0
    for op in ops:
        if op[0] == "set":
            held[f"c{op[1]}"] = op[2]
            sums.changed("owner", f"c{op[1]}")
        elif op[0] == "remove":
            if held.pop(f"c{op[1]}", None) is not None:
                sums.changed("owner", f"c{op[1]}")
        else:
            as_of = max(0, as_of + op[1] * MINUTE // 2)
            assert sums.counts("owner", held, as_of, RATIO) == from_scratch(held, as_of)


def test_a_report_changes_only_what_changed() -> None:
    """After the first report, a report a second later with one summary changed computes one
    row (the others hold: no clock crosses a threshold within that second)."""
    held = {f"c{n}": LiveSummary("t1", None, "open", "normal", 0, "first_response", 0, (), 0,
                                 "chat") for n in range(1000)}
    sums = LiveSums(POLICY)
    computed: list[str] = []
    put = LiveSums._put

    def counted(self: LiveSums, state: Any, cid: str, summary: LiveSummary,
                before: Any = None) -> None:
        computed.append(cid)
        put(self, state, cid, summary, before)

    LiveSums._put = counted  # type: ignore[method-assign]
    try:
        first = sums.counts("owner", held, 60_000, RATIO)
        assert len(computed) == 1000 and first is not None and first.open == 1000
        computed.clear()
        held["c7"] = held["c7"]._replace(status="pending")
        sums.changed("owner", "c7")
        second = sums.counts("owner", held, 61_000, RATIO)
        assert computed == ["c7"]
        assert second == from_scratch(held, 61_000)
    finally:
        LiveSums._put = put  # type: ignore[method-assign]

"""The owner-keyed aggregation book: what the KPIs of SPEC §3 are computed from, per owner
(overall, each team, each agent), and the report of SPEC §6 built from it.

It holds each owner's 1-minute panes (:mod:`service.engine.aggregates`), the agents' team labels
(:mod:`service.engine.labels`), the ratings and reviews its feedback pages list, the live
summaries of the conversations it counts live, each agent's presence timeline, and the
occupancy segments of the agents a team or overall counts.

Two drivers feed it the same way. Replay's engine holds every owner and applies each fact change
once (:meth:`OwnerBook.apply_change`); a worker's owner stage holds the owners of its partitions
and applies the deltas the conversation stage sent (:meth:`add_entries`, :meth:`add_marks`,
:meth:`set_feedback`, :meth:`set_live`, :meth:`set_attention`, :meth:`add_presence`,
:meth:`apply_segments`). A timeline change says which occupancy segments went and came; replay
applies them to the team and overall owners here, a worker sends them to the partitions that
hold those owners. Either way the same panes, segments and report code give the numbers.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from service.engine.aggregates import Aggregates, RunningSum, Totals
from service.engine.facts import Busy, Fact, FactChange, Rating, Review
from service.engine.feeds import SKETCH_BASE
from service.engine.fold import LiveSummary
from service.engine.kpis import LevelValues, window_values
from service.engine.labels import AgentTeams
from service.engine.learned_names import LearnedNames
from service.engine.live import LiveSums, LiveTotals
from service.engine.owner_keys import OVERALL, Owner, agent_owner, fact_owners, team_owner
from service.engine.panes import WINDOWS, WindowSpec
from service.engine.presence import AgentTimeline, PresenceSums, Segment, SegmentChange
from service.engine.records import Record
from service.engine.report import build_report
from service.engine.sla import TeamPolicy
from service.engine.watermark import Watermark

__all__ = ["OwnerBook", "segment_routes"]


class _Computed(NamedTuple):
    """An owner's KPI values in a window and what they were computed from: the running sum's
    version (-1 without panes) and the presence times."""

    version: int
    logged_in_ms: int
    busy_ms: int
    values: dict[str, Any]


def segment_routes(change: SegmentChange) -> dict[Owner, SegmentChange]:
    """Which team and overall owners count the segments an agent's timeline change removed and
    added: overall all of them, a team those of its own (SPEC §3)."""
    routes: dict[Owner, tuple[list[Segment], list[Segment]]] = {}
    for index, segments in enumerate(change):
        for segment in segments:
            owners = [OVERALL] if segment.team is None else [OVERALL, team_owner(segment.team)]
            for owner in owners:
                routes.setdefault(owner, ([], []))[index].append(segment)
    return {owner: SegmentChange(tuple(removed), tuple(added))
            for owner, (removed, added) in routes.items()}


class OwnerBook:
    """Every owner's aggregates held here; see the module docstring."""

    def __init__(self, policy: TeamPolicy, retention_ms: int,
                 watermark: Watermark | None = None) -> None:
        """``watermark``: the event time that drives retention; replay's engine shares its own,
        a worker's owner stage feeds one from its sources' watermarks."""
        self.policy = policy
        self.retention_ms = retention_ms
        self.aggregates = Aggregates(retention_ms)
        self.timelines: dict[str, AgentTimeline] = {}
        self.agent_teams = AgentTeams()
        """Each agent's ``team`` label, from its facts and presence events by event time."""
        self.live: dict[Owner, dict[str, LiveSummary]] = {}
        """Owner → conversation id → the live summary of a conversation it counts live."""
        self.segments: dict[Owner, dict[str, dict[int, Segment]]] = {}
        """Team or overall owner → agent → segment start → the occupancy segments it counts."""
        self._presence: dict[Owner, PresenceSums] = {}
        """Team or overall owner → the logged-in and busy time of the segments it counts."""
        self.feedback: dict[Owner, dict[str, Rating | Review]] = {}
        """Agent or team owner → its ratings and reviews within the retention, by fact id."""
        self.watermark = Watermark(retention_ms) if watermark is None else watermark
        self.live_sums = LiveSums(policy)
        self.names = LearnedNames()
        """The names for people the events gave its teams and agents."""
        self._computed: dict[tuple[str, Owner], _Computed] = {}
        """(window, owner) → what the last report computed for it."""
        self.segment_listener: Callable[[str, SegmentChange], None] | None = None
        """Told (agent, change) of every change a presence event or busy time makes to an
        agent's timeline (replay's history ledger); not of the cuts retention makes."""

    @property
    def cutoff_ms(self) -> int:
        return self.watermark.cutoff_ms

    def timeline(self, agent: str) -> AgentTimeline:
        timeline = self.timelines.get(agent)
        if timeline is None:
            timeline = self.timelines[agent] = AgentTimeline()
        return timeline

    # -- replay: every owner here -------------------------------------------------------------

    def apply_change(self, change: FactChange) -> bool:
        """Apply one fact change at every owner of its facts; False when it only touches panes
        out of retention (behind the watermark's cutoff)."""
        old, new = change
        applied = False
        if old is not None:
            applied |= self.apply_fact(old, -1)
        if new is not None:
            applied |= self.apply_fact(new, 1)
        return applied

    def apply_fact(self, fact: Fact, sign: int) -> bool:
        """Add (1) or retract (-1) one fact at every owner it counts for; False when its panes
        are out of retention. Busy time goes to the agent's timeline (and its segments to the
        team and overall owners)."""
        if isinstance(fact, Busy):
            if sign > 0:
                change = self.timeline(fact.agent).set_attention(fact.fact_id, fact.start_ms,
                                                                 fact.end_ms)
            else:
                change = self.timeline(fact.agent).drop_attention(fact.fact_id)
            self._forward(fact.agent, change)
            if self.segment_listener is not None:
                self.segment_listener(fact.agent, change)
            return True
        cutoff = self.cutoff_ms
        if isinstance(fact, Rating | Review):
            for owner in fact_owners(fact):
                if owner.level != "overall":
                    self.set_feedback(owner, fact.fact_id, fact if sign > 0 else None, cutoff)
        if fact.agent is not None:
            self.agent_teams.note(fact.agent, fact.at, fact.team, sign)
        return self.aggregates.apply(fact, sign, cutoff)

    def add_presence(self, agent: str, record: Record) -> SegmentChange | None:
        """A presence event into the agent's timeline; None for a repeated id. (The caller
        gives its time to the watermark: replay's engine sees every event once.) The segments
        it changed: replay applies them to the team and overall owners here."""
        return self.timeline(agent).add_presence(record)

    def _forward(self, agent: str, change: SegmentChange) -> None:
        for owner, routed in segment_routes(change).items():
            self.apply_segments(owner, agent, routed)

    def forward_presence(self, agent: str, record: Record) -> bool:
        """Replay: :meth:`add_presence` with the segments applied here; False for a
        repeated id."""
        change = self.add_presence(agent, record)
        if change is None:
            return False
        self._forward(agent, change)
        if self.segment_listener is not None:
            self.segment_listener(agent, change)
        return True

    # -- a worker's owner stage: the deltas --------------------------------------------------

    def add_entries(self, owner: Owner, minute: int, entries: Iterable[tuple[int, int]]
                    ) -> None:
        """Pane entries (coalesced amounts, negative for retractions) for one owner's pane."""
        self.aggregates.add(owner.level, owner.key, minute, entries)

    def add_marks(self, agent: str, marks: Mapping[tuple[int, str], int]) -> None:
        """Team-label marks of facts credited to ``agent``: (time, team) → ±count."""
        note = self.agent_teams.note
        for (at, team), count in marks.items():
            note(agent, at, team, count)

    def set_feedback(self, owner: Owner, fact_id: str, fact: Rating | Review | None,
                     cutoff_ms: int | None = None) -> None:
        """A rating or review the owner's feedback page lists (None: no longer)."""
        cutoff = self.cutoff_ms if cutoff_ms is None else cutoff_ms
        if fact is not None:
            if fact.at >= cutoff:
                self.feedback.setdefault(owner, {})[fact_id] = fact
            return
        held = self.feedback.get(owner)
        if held is not None:
            held.pop(fact_id, None)
            if not held:
                del self.feedback[owner]

    def set_live(self, owner: Owner, conversation_id: str, summary: LiveSummary | None) -> None:
        """The live summary of a conversation the owner counts live (None: no longer)."""
        self.live_sums.changed(owner, conversation_id)
        if summary is not None:
            self.live.setdefault(owner, {})[conversation_id] = summary
            return
        held = self.live.get(owner)
        if held is not None:
            held.pop(conversation_id, None)
            if not held:
                del self.live[owner]

    def set_attention(self, agent: str, fact_id: str, interval: tuple[int, int | None] | None
                      ) -> SegmentChange:
        """An attention interval of the agent's (None: gone); the segments it changed."""
        timeline = self.timeline(agent)
        if interval is None:
            return timeline.drop_attention(fact_id)
        return timeline.set_attention(fact_id, interval[0], interval[1])

    def load_segments(self, owner: Owner, agent: str, segments: Iterable[Segment]) -> None:
        """The occupancy segments of ``agent`` that ``owner`` counts, read back from a store
        into a book that holds none of them yet: what :meth:`apply_segments` adding them gives,
        with one sort instead of an insert each."""
        segments = list(segments)
        if not segments:
            return
        held = self.segments.setdefault(owner, {}).setdefault(agent, {})
        for segment in segments:
            held[segment.start] = segment
        sums = self._presence.get(owner)
        if sums is None:
            sums = self._presence[owner] = PresenceSums()
        sums.extend(segments)

    def apply_segments(self, owner: Owner, agent: str, change: SegmentChange) -> None:
        """The occupancy segments of ``agent`` that ``owner`` (a team or overall) counts:
        removed ones by their start, then added ones."""
        by_agent = self.segments.setdefault(owner, {})
        held = by_agent.setdefault(agent, {})
        sums = self._presence.get(owner)
        if sums is None:
            sums = self._presence[owner] = PresenceSums()
        for segment in change.removed:
            gone = held.pop(segment.start, None)
            if gone is not None:
                sums.remove(gone)
        for segment in change.added:
            replaced = held.get(segment.start)
            if replaced is not None:
                sums.remove(replaced)
            held[segment.start] = segment
            sums.add(segment)
        if not held:
            del by_agent[agent]
            if not by_agent:
                del self.segments[owner]
                del self._presence[owner]

    # -- reads ---------------------------------------------------------------------------------

    def _presence_ms(self, owner: Owner, start_ms: int, end_ms: int) -> tuple[int, int]:
        """(logged-in ms, busy ms) the owner counts in [start_ms, end_ms): its own, a team's
        agents' in the team, overall's agents' in any team."""
        if owner.level == "agent":
            timeline = self.timelines.get(owner.key)
            return (0, 0) if timeline is None else timeline.sums.span(start_ms, end_ms)
        sums = self._presence.get(owner)
        return (0, 0) if sums is None else sums.span(start_ms, end_ms)

    def owner_segments(self, owner: Owner) -> Iterator[tuple[str, Segment]]:
        """(agent, segment) of the logged-in time ``owner`` counts: an agent's own timeline, a
        team's or overall's segments of its agents."""
        if owner.level == "agent":
            timeline = self.timelines.get(owner.key)
            for segment in timeline.segments() if timeline is not None else ():
                yield owner.key, segment
            return
        for agent, segments in self.segments.get(owner, {}).items():
            for segment in segments.values():
                yield agent, segment

    def team_labels(self) -> dict[str, str]:
        """Each agent's team label (:mod:`service.engine.labels`): the team of its latest
        credited fact or presence event naming a team."""
        labels: dict[str, str] = {}
        for agent in {*self.agent_teams.agents(), *self.timelines}:
            timeline = self.timelines.get(agent)
            marks = [m for m in (self.agent_teams.latest(agent),
                                 None if timeline is None else timeline.team_mark())
                     if m is not None]
            if marks:
                labels[agent] = max(marks)[1]
        return labels

    def owners(self) -> set[Owner]:
        """The owners with data here: panes, live summaries, segments or a timeline."""
        agg = self.aggregates
        found = {o for o, held in self.live.items() if held}
        found |= {o for o, held in self.segments.items() if held}
        found |= {agent_owner(a) for a, t in self.timelines.items() if not t.empty}
        found |= {team_owner(t) for t, panes in agg.teams.items() if panes.minutes}
        found |= {agent_owner(a) for a, panes in agg.agents.items() if panes.minutes}
        if agg.overall.minutes:
            found.add(OVERALL)
        return found

    def has(self, owner: Owner) -> bool:
        """Whether ``owner`` has data here: what :meth:`owners` lists, for one owner."""
        if self.live.get(owner) or self.segments.get(owner):
            return True
        agg = self.aggregates
        if owner.level == "agent":
            timeline = self.timelines.get(owner.key)
            panes = agg.agents.get(owner.key)
            return (timeline is not None and not timeline.empty) or bool(panes and panes.minutes)
        if owner.level == "team":
            panes = agg.teams.get(owner.key)
            return bool(panes and panes.minutes)
        return bool(agg.overall.minutes)

    def expire(self, cutoff_ms: int | None = None, forward: bool = True
               ) -> dict[str, SegmentChange]:
        """Drop what ended before ``cutoff_ms`` (default: the retention behind the watermark).
        The agents' timelines cut the segments that began before their horizon
        (:meth:`~service.engine.presence.AgentTimeline.expire`): with ``forward`` (replay) the
        team and overall owners here take those changes, else they are returned by agent for
        the caller to send."""
        cutoff = self.cutoff_ms if cutoff_ms is None else cutoff_ms
        self.aggregates.expire(cutoff)
        self.agent_teams.expire(cutoff)
        changes: dict[str, SegmentChange] = {}
        for agent in list(self.timelines):
            timeline = self.timelines[agent]
            change = timeline.expire(cutoff)
            if change.removed or change.added:
                if forward:
                    self._forward(agent, change)
                else:
                    changes[agent] = change
            if timeline.empty:
                del self.timelines[agent]
        for owner in list(self.feedback):
            kept = {fid: f for fid, f in self.feedback[owner].items() if f.at >= cutoff}
            if kept:
                self.feedback[owner] = kept
            else:
                del self.feedback[owner]
        for owner, by_agent in list(self.segments.items()):
            sums = self._presence[owner]
            for agent, held in list(by_agent.items()):
                for start in [s for s, seg in held.items()
                              if seg.end is not None and seg.end < cutoff]:
                    sums.remove(held.pop(start))
                if not held:
                    del by_agent[agent]
            if not by_agent:
                del self.segments[owner]
                del self._presence[owner]
        return changes

    def drop(self, owners: Iterable[Owner]) -> None:
        """Forget owners whose partition moved to another worker."""
        self.names.drop(owners)
        for owner in owners:
            self.live.pop(owner, None)
            self.live_sums.forget(owner)
            self.segments.pop(owner, None)
            self._presence.pop(owner, None)
            self.feedback.pop(owner, None)
            if owner.level == "agent":
                self.aggregates.agents.pop(owner.key, None)
                self.timelines.pop(owner.key, None)
                self.agent_teams.drop(owner.key)
            elif owner.level == "team":
                self.aggregates.teams.pop(owner.key, None)
            else:
                self.aggregates.overall.clear()

    def report(self, as_of_ms: int, owned: Iterable[Owner], at_risk_ratio: float,
               weights: Mapping[str, Any], live: LiveTotals | None = None) -> dict[str, Any]:
        """SPEC §6's report for the ``owned`` keys only (``overall`` only on its owner). The
        live state comes from the summaries held here unless ``live`` gives it (replay).

        Window values are kept for the next report (``weights`` must not change between
        reports of one book) and shared with it: read the report, do not modify it."""
        owned = set(owned)
        computed: dict[tuple[str, Owner], _Computed] = {}
        windows = {w.name: self._window_values(w, as_of_ms, owned, weights, computed)
                   for w in WINDOWS}
        self._computed = computed
        if live is None:
            live = self.live_sums.totals(((owner, self.live.get(owner, {})) for owner in owned),
                                         as_of_ms, at_risk_ratio)
        status = {o.key: self.timelines[o.key].status_at(as_of_ms) for o in owned
                  if o.level == "agent" and o.key in self.timelines
                  and self.timelines[o.key].presence}
        report = build_report(as_of_ms, windows, live, status, self.team_labels())
        if OVERALL not in owned:
            del report["live"]["overall"]
        return report

    def values_of(self, owner: Owner, window_name: str, as_of_ms: int,
                  weights: Mapping[str, Any]) -> dict[str, Any] | None:
        """One owner's KPI values in one window at ``as_of_ms``, as a report gives them (None
        when it has none there), without building the whole report."""
        (window,) = [w for w in WINDOWS if w.name == window_name]
        values = self._window_values(window, as_of_ms, {owner}, weights, {})
        if owner.level == "overall":
            return values.overall
        return (values.teams if owner.level == "team" else values.agents).get(owner.key)

    def _window_values(self, window: WindowSpec, as_of_ms: int, owned: set[Owner],
                       weights: Mapping[str, Any],
                       computed: dict[tuple[str, Owner], _Computed]) -> LevelValues:
        """Each owned key's KPI values in ``window``. An owner's values are taken again from
        the last report when its running sum (by version) and presence times are unchanged;
        when only the presence times changed, only the values computed from them are computed
        again. ``computed`` collects what this report used."""
        out = LevelValues()
        start, end = window.span(as_of_ms)
        for owner in owned:
            level, key = owner
            panes = self.aggregates.level_panes(level, key, create=False)
            running = panes.window_sum(window, as_of_ms) if panes is not None else None
            logged_in, busy = self._presence_ms(owner, start, end)
            if level != "overall" and not logged_in and (
                    running is None or not any(k < SKETCH_BASE for k in running.pane)):
                continue
            version = -1 if running is None else running.version
            last = self._computed.get((window.name, owner))
            report_level = owner.report_level
            if last is None:
                values = _values(running, logged_in, busy, report_level, weights)
            elif last.version != version or (last.logged_in_ms, last.busy_ms) != (logged_in,
                                                                                   busy):
                values = _values(running, logged_in, busy, report_level, weights, last)
            else:
                values = last.values
            computed[(window.name, owner)] = _Computed(version, logged_in, busy, values)
            if level == "overall":
                out.overall = values
            else:
                (out.teams if level == "team" else out.agents)[key] = values
        return out


def _values(running: RunningSum | None, logged_in_ms: int, busy_ms: int, level: str,
            weights: Mapping[str, Any], last: _Computed | None = None) -> dict[str, Any]:
    """The values from the running sum; with ``last``, only those whose feeds changed since
    it was computed (and the presence values) are computed again, and only their sketches
    are read from the pane."""
    if running is None:
        totals = Totals()
        changed: set[int] | None = None
    else:
        counters, changed_at = running.counters()
        if last is None:
            changed, wanted = None, None
        elif running.version == last.version:
            changed, wanted = set(), set()
        else:
            since = last.version
            changed = {place for place, at in enumerate(changed_at) if at > since}
            wanted = {place - len(counters) for place in changed if place >= len(counters)}
        totals = Totals(running.pane, counters, wanted)
    totals.logged_in_ms, totals.busy_ms = logged_in_ms, busy_ms
    if last is None or changed is None:
        return window_values(totals, level, weights)
    return window_values(totals, level, weights, last.values, changed)

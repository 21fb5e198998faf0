"""The owner-keyed aggregation book (replay and stage 2 of the streaming service), and what
stage 1 sends it.

Every aggregate has one owner key: ``o`` (overall), ``t:<team>`` or ``a:<agent>``. Stage 1
(keyed by conversation) sends, for every conversation a batch touched, an **update** to each
partition that holds one of its owners: the facts the batch changed and the ids some owner no
longer holds (a delta), or all of its facts (a full update, after a duplicate), and its live
summary. Every owner named there takes a **sync**, its share of the update, and ends holding
exactly the conversation's facts that belong to it: a sync applied twice changes nothing (by
fact id), so delivery is at-least-once with idempotent state. Agent owners also get presence
events (de-duplicated by id) and send their occupancy segments on to the team and overall
owners as replace-syncs.

:class:`OwnerBook` is the one aggregation book: a worker's holds the owners of its partitions,
replay's holds them all. The workers' reports, merged, equal replay's (a property test checks
exactly that, syncs duplicated and redelivered).
"""

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from service.engine.aggregates import Aggregates, Totals
from service.engine.facts import F_BUSY, Busy, Fact, FactChange, Rating, Review
from service.engine.feeds import SKETCH_BASE, Pane
from service.engine.fold import LiveSummary
from service.engine.kpis import LevelValues, window_values
from service.engine.labels import AgentTeams
from service.engine.live import LiveRows, LiveTotals, add_live
from service.engine.panes import WINDOWS, WindowSpec
from service.engine.presence import AgentTimeline, Segment, clip_segments
from service.engine.records import Record
from service.engine.report import build_report
from service.engine.sla import TeamPolicy
from service.engine.watermark import Watermark

__all__ = [
    "OVERALL",
    "ConversationSync",
    "ConversationUpdate",
    "OwnerBook",
    "Retraction",
    "SegmentSync",
    "conversation_update",
    "fact_owners",
    "owner_key",
    "owner_level",
    "owner_syncs",
]

OVERALL = "o"
_LEVEL_OF_PREFIX = {"t": "team", "a": "agent"}
_VALUE_LEVEL = {"overall": "overall", "team": "teams", "agent": "agents"}
"""An owner's level as the KPI registry names it."""


def owner_level(owner: str) -> tuple[str, str]:
    """``t:billing`` → ("team", "billing"); ``o`` → ("overall", "")."""
    if owner == OVERALL:
        return "overall", ""
    return _LEVEL_OF_PREFIX[owner[0]], owner[2:]


def owner_key(level: str, key: str | None) -> str:
    """("team", "billing") → ``t:billing``; ("overall", …) → ``o``: :func:`owner_level`'s
    inverse."""
    return OVERALL if level == "overall" else f"{level[0]}:{key}"


def _owners(team: str | None, agent: str | None) -> list[str]:
    owners = [OVERALL]
    if team is not None:
        owners.append(f"t:{team}")
    if agent is not None:
        owners.append(f"a:{agent}")
    return owners


def fact_owners(fact: Fact) -> list[str]:
    if fact.kind == F_BUSY:
        return [f"a:{fact.agent}"]
    return _owners(fact.team, fact.agent)


def _summary_owners(summary: LiveSummary | None) -> list[str]:
    return [] if summary is None else _owners(summary.team, summary.assignee)


class _Computed(NamedTuple):
    """An owner's KPI values in a window and what they were computed from: the running sum's
    version (-1 without panes) and the presence times."""

    version: int
    logged_in_ms: int
    busy_ms: int
    values: dict[str, Any]


class ConversationSync(NamedTuple):
    """What one owner takes of an update: with ``full``, every fact of the conversation it
    holds (a replace); else the facts that changed and the ids of those it no longer holds
    (a delta, idempotent by fact id)."""

    owner: str
    conversation_id: str
    facts: tuple[Fact, ...]
    live: LiveSummary | None
    retracted: tuple[str, ...] = ()
    full: bool = True


class SegmentSync(NamedTuple):
    owner: str
    agent: str
    segments: tuple[Segment, ...]


HeldLoader = Callable[[str, str], tuple[tuple[Fact, ...], LiveSummary | None] | None]
"""(owner, conversation id) → what the owner holds of it as saved (facts, live summary), or
None."""

Retraction = tuple[str, tuple[str, ...]]
"""(fact id, the owners that must drop it)."""


class ConversationUpdate(NamedTuple):
    """A conversation's facts and live summary for the ``owners`` listed: stage 1 sends one per
    destination partition, naming the owners there; each takes its share (:func:`owner_syncs`).
    With ``full``, ``facts`` are all of the conversation's facts; else only those the batch
    changed, and ``retracted`` the facts some owners no longer hold."""

    conversation_id: str
    facts: tuple[Fact, ...]
    live: LiveSummary | None
    owners: tuple[str, ...]
    retracted: tuple[Retraction, ...] = ()
    full: bool = True


def conversation_update(
    conversation_id: str, current: Iterable[Fact], live: LiveSummary | None,
    previous_owners: Iterable[str] = (),
    changed: Iterable[tuple[Fact | None, Fact | None]] | None = None,
) -> tuple[ConversationUpdate, frozenset[str]]:
    """The update for every owner that holds something of the conversation now or held
    something before, and the owners that hold something now. ``current`` is every fact of the
    conversation; ``changed`` None makes a full update, else it lists (before the batch, now)
    of each fact the batch changed and the update carries only those (a delta)."""
    current = tuple(current)
    holders = frozenset(owner for fact in current for owner in fact_owners(fact))
    holders |= frozenset(_summary_owners(live))
    owners = tuple(sorted(holders | frozenset(previous_owners)))
    if changed is None:
        return ConversationUpdate(conversation_id, tuple(sorted(current)), live, owners), holders
    facts: list[Fact] = []
    retracted: list[Retraction] = []
    for before, now in changed:
        gone = set(fact_owners(before)) if before is not None else set()
        if now is not None:
            facts.append(now)
            gone.difference_update(fact_owners(now))
        if gone:
            fid = (before or now).fact_id  # type: ignore[union-attr]
            retracted.append((fid, tuple(sorted(gone))))
    return ConversationUpdate(conversation_id, tuple(sorted(facts)), live, owners,
                              tuple(retracted), False), holders


def owner_syncs(update: ConversationUpdate) -> list[ConversationSync]:
    """One sync per owner the update names: the owner's facts (all of them, or the changed
    ones and the retracted ids) and, where it belongs, the live summary."""
    cid, facts, live, owners, retracted, full = update
    by_owner: dict[str, list[Fact]] = {owner: [] for owner in owners}
    for fact in facts:
        for owner in fact_owners(fact):
            share = by_owner.get(owner)
            if share is not None:
                share.append(fact)
    dropped: dict[str, list[str]] = {}
    for fid, fact_holders in retracted:
        for owner in fact_holders:
            dropped.setdefault(owner, []).append(fid)
    live_owners = _summary_owners(live)
    return [ConversationSync(owner, cid, tuple(by_owner[owner]),
                             live if owner in live_owners else None,
                             tuple(dropped.get(owner, ())), full) for owner in owners]


class OwnerBook:
    """The one aggregation book: panes, presence timelines, live summaries and occupancy
    segments of the owners it holds.

    Two drivers feed it. Replay (:class:`~service.engine.engine.KpiEngine`) holds every owner
    and applies each fact change once (:meth:`apply_change`, then :meth:`sync_segments` before
    a report); a streaming worker holds the owners of its partitions and applies idempotent
    syncs (:meth:`apply_sync`, :meth:`add_presence`, :meth:`apply_segments`). Either way the
    same panes, timelines and report code give the numbers."""

    def __init__(self, policy: TeamPolicy, retention_ms: int,
                 watermark: Watermark | None = None, loader: HeldLoader | None = None,
                 idle_limit: int | None = None) -> None:
        """``watermark``: the event time that drives retention; replay's engine shares its own,
        a worker's book keeps one of the facts and presence it takes in.

        Bounded cache (a worker: ``loader`` and ``idle_limit`` given): of the conversations an
        owner holds without a live summary (resolved, closed), only the ``idle_limit`` synced
        last keep their facts in memory (:meth:`trim`); a sync for another reads what the owner
        holds back through ``loader`` (the worker's owners table)."""
        self.policy = policy
        self.retention_ms = retention_ms
        self.aggregates = Aggregates(retention_ms)
        self.timelines: dict[str, AgentTimeline] = {}
        self.agent_teams = AgentTeams()
        """Each agent's ``team`` label, from its facts and presence events by event time."""
        self.held: dict[str, dict[str, tuple[Fact, ...]]] = {}
        self.live: dict[str, dict[str, LiveSummary]] = {}
        self.segments: dict[str, dict[str, tuple[Segment, ...]]] = {}
        self.feedback: dict[tuple[str, str], dict[str, Rating | Review]] = {}
        """(agent or team, key) → its ratings and reviews within the retention, by fact id
        (what the feedback pages list)."""
        self.watermark = Watermark(retention_ms) if watermark is None else watermark
        self._segment_holders: dict[str, frozenset[str]] = {}
        self.live_rows = LiveRows(policy)
        self.loader = loader
        self.idle_limit = idle_limit
        self._idle: OrderedDict[tuple[str, str], None] = OrderedDict()
        """(owner, conversation) held in memory without a live summary, synced least recently
        first."""
        self.loads = 0
        """Shares read back through ``loader``."""
        self.trimmed = 0
        """Shares dropped from memory by :meth:`trim` (still in the table)."""
        self._computed: dict[tuple[str, str], _Computed] = {}
        """(window, owner) → what the last report computed for it."""

    @property
    def cutoff_ms(self) -> int:
        return self.watermark.cutoff_ms

    def timeline(self, agent: str) -> AgentTimeline:
        timeline = self.timelines.get(agent)
        if timeline is None:
            timeline = self.timelines[agent] = AgentTimeline()
        return timeline

    # -- replay: every owner here ----------------------------------------------------------------

    def apply_change(self, change: FactChange) -> bool:
        """Apply one fact change at all its owners, each held here; False when it only touches
        panes out of retention (behind the watermark's cutoff)."""
        cutoff_ms = self.watermark.cutoff_ms
        old, new = change
        if isinstance(new, Busy) or isinstance(old, Busy):
            if isinstance(old, Busy):
                self.timeline(old.agent).drop_attention(old.fact_id)
            if isinstance(new, Busy):
                self.timeline(new.agent).set_attention(new.fact_id, new.start_ms, new.end_ms)
            return True
        applied = False
        for fact, sign in ((old, -1), (new, 1)):
            if isinstance(fact, Rating | Review):
                for owner in fact_owners(fact):
                    if owner != OVERALL:
                        self._note_feedback(owner_level(owner), fact, sign, cutoff_ms)
        note = self.agent_teams.note
        if old is not None:
            applied |= self.aggregates.apply(old, -1, cutoff_ms)
            if old.agent is not None:
                note(old.agent, old.at, old.team, -1)
        if new is not None:
            applied |= self.aggregates.apply(new, 1, cutoff_ms)
            if new.agent is not None:
                note(new.agent, new.at, new.team)
        return applied

    def sync_segments(self) -> None:
        """Every agent's occupancy segments to the team and overall owners, as a worker's
        agent owners send them (:meth:`segment_syncs`), all applied here."""
        for agent in set(self.timelines) | set(self._segment_holders):
            syncs, holders = self.segment_syncs(agent, self._segment_holders.get(agent, ()))
            for sync in syncs:
                self.apply_segments(sync)
            self._segment_holders[agent] = holders

    def all_owners(self) -> set[str]:
        """Every owner key with data here, ``o`` included."""
        agg = self.aggregates
        return ({OVERALL} | {f"t:{t}" for t in agg.teams} | {f"a:{a}" for a in agg.agents}
                | {f"a:{a}" for a in self.timelines} | set(self.segments))

    # -- input ---------------------------------------------------------------------------------

    def apply_sync(self, sync: ConversationSync) -> bool:
        """Take ``sync.owner``'s share of a conversation: a full sync replaces what it held, a
        delta puts the changed facts in and takes the retracted ones out (by fact id); False
        when nothing changed."""
        owner, cid, facts, live, retracted, full = sync
        held = self.held.setdefault(owner, {})
        live_held = self.live.setdefault(owner, {})
        old = held.get(cid)
        if old is None:
            old = self._read_back(owner, cid, held, live_held)
        if full:
            if old == facts and live_held.get(cid) == live:
                return False
            kept = set(old).intersection(facts) if old and facts else set()
            gone = [f for f in old if f not in kept]
            came = [f for f in facts if f not in kept]
            share = facts
        else:
            incoming = {f.fact_id: f for f in facts}
            dropped = frozenset(retracted)
            gone, stay = [], []
            for fact in old:
                new = incoming.get(fact.fact_id)
                if fact.fact_id in dropped or (new is not None and new != fact):
                    gone.append(fact)
                else:
                    stay.append(fact)
                    if new is not None:
                        del incoming[fact.fact_id]
            came = list(incoming.values())
            if not gone and not came and live_held.get(cid) == live:
                return False
            share = tuple(sorted((*stay, *came))) if gone or came else old
        see = self.watermark.see
        for fact in facts:
            see(fact.at)
        level, key = owner_level(owner)
        cutoff = self.cutoff_ms
        for fact in gone:
            self._apply(level, key, fact, -1, cutoff)
        for fact in came:
            self._apply(level, key, fact, 1, cutoff)
        if share:
            held[cid] = share
        else:
            held.pop(cid, None)
        if live is None:
            live_held.pop(cid, None)
            if share and self.loader is not None:
                self._idle[owner, cid] = None
                self._idle.move_to_end((owner, cid))
        else:
            live_held[cid] = live
            self._idle.pop((owner, cid), None)
        return True

    def _read_back(self, owner: str, cid: str, held: dict[str, tuple[Fact, ...]],
                   live_held: dict[str, LiveSummary]) -> tuple[Fact, ...]:
        """What ``owner`` holds of ``cid`` when it is not in memory: read back through the
        loader (and kept in memory again), else nothing."""
        if self.loader is None:
            return ()
        saved = self.loader(owner, cid)
        if saved is None:
            return ()
        facts, live = saved
        self.loads += 1
        if facts:
            held[cid] = facts
        if live is not None:
            live_held[cid] = live
        return facts

    def note_idle_shares(self) -> None:
        """Mark every share held without a live summary idle (after a load), for :meth:`trim`."""
        if self.loader is None:
            return
        for owner, held in self.held.items():
            live = self.live.get(owner, {})
            for cid in held:
                if cid not in live:
                    self._idle[owner, cid] = None

    def trim(self) -> int:
        """Drop from memory the facts of idle shares beyond ``idle_limit``, synced least
        recently first; how many. Call it once their rows are written (the loader reads them
        back)."""
        limit = self.idle_limit
        if limit is None or self.loader is None:
            return 0
        idle, dropped = self._idle, 0
        while len(idle) > limit:
            (owner, cid), _ = idle.popitem(last=False)
            held = self.held.get(owner)
            if held is not None and held.pop(cid, None) is not None:
                dropped += 1
        self.trimmed += dropped
        return dropped

    def _apply(self, level: str, key: str, fact: Fact, sign: int, cutoff: int) -> None:
        if isinstance(fact, Busy):
            timeline = self.timeline(key)
            if sign < 0:
                timeline.drop_attention(fact.fact_id)
            else:
                timeline.set_attention(fact.fact_id, fact.start_ms, fact.end_ms)
            return
        self.aggregates.apply(fact, sign, cutoff, (level,))
        if isinstance(fact, Rating | Review) and level != "overall":
            self._note_feedback((level, key), fact, sign, cutoff)
        if level == "agent":
            self.agent_teams.note(key, fact.at, fact.team, sign)

    def _note_feedback(self, owner_key: tuple[str, str], fact: Rating | Review, sign: int,
                       cutoff: int) -> None:
        if sign > 0:
            if fact.at >= cutoff:
                self.feedback.setdefault(owner_key, {})[fact.fact_id] = fact
        else:
            self.feedback.get(owner_key, {}).pop(fact.fact_id, None)

    def shares(self, owner: str, saved: Iterable[tuple[str, tuple[Fact, ...]]] = ()
               ) -> Iterator[tuple[str, tuple[Fact, ...]]]:
        """(conversation id, facts) of every conversation ``owner`` holds: those in memory,
        then those of ``saved`` (the owner's rows in the table, :func:`~service.engine.codec.
        owner_shares`) that are not, i.e. idle shares trimmed from memory."""
        held = self.held.get(owner, {})
        yield from held.items()
        for conversation_id, facts in saved:
            if conversation_id not in held:
                yield conversation_id, facts

    def owner_segments(self, owner: str) -> Iterator[tuple[str, Segment]]:
        """(agent, segment) of the logged-in time ``owner`` counts: an agent's own timeline, a
        team's or overall's segments from its agents."""
        level, key = owner_level(owner)
        if level == "agent":
            timeline = self.timelines.get(key)
            for segment in timeline.segments() if timeline is not None else ():
                yield key, segment
            return
        for agent, segments in self.segments.get(owner, {}).items():
            for segment in segments:
                yield agent, segment

    def add_presence(self, agent: str, record: Record) -> bool:
        """A presence event into the agent's timeline; False for a repeated id. (The caller
        gives its time to the watermark: replay's engine sees every event once.)"""
        if self.timeline(agent).add_presence(record) is None:
            return False
        self.agent_teams.note(agent, record.at, record.team)
        return True

    def apply_segments(self, sync: SegmentSync) -> bool:
        held = self.segments.setdefault(sync.owner, {})
        if held.get(sync.agent, ()) == sync.segments:
            return False
        if sync.segments:
            held[sync.agent] = sync.segments
        else:
            held.pop(sync.agent, None)
        return True

    # -- output --------------------------------------------------------------------------------

    def segment_syncs(self, agent: str, previous: Iterable[str] = ()
                      ) -> tuple[list[SegmentSync], frozenset[str]]:
        """An agent owner's occupancy for the overall owner and its teams' owners."""
        timeline = self.timelines.get(agent)
        segments = tuple(timeline.segments()) if timeline is not None else ()
        by_owner: dict[str, list[Segment]] = {OVERALL: list(segments)} if segments else {}
        for segment in segments:
            if segment.team is not None:
                by_owner.setdefault(f"t:{segment.team}", []).append(segment)
        holders = frozenset(by_owner)
        syncs = [SegmentSync(owner, agent, tuple(by_owner.get(owner, ())))
                 for owner in sorted(holders | frozenset(previous))]
        return syncs, holders

    def expire(self, cutoff_ms: int | None = None) -> None:
        """Drop what ended before ``cutoff_ms`` (default: the retention behind the latest
        event time this book has seen)."""
        cutoff = self.cutoff_ms if cutoff_ms is None else cutoff_ms
        self.aggregates.expire(cutoff)
        self.agent_teams.expire(cutoff)
        for agent in list(self.timelines):
            timeline = self.timelines[agent]
            timeline.expire(cutoff)
            if timeline.empty:
                del self.timelines[agent]
        for owner_key in list(self.feedback):
            kept = {fid: f for fid, f in self.feedback[owner_key].items() if f.at >= cutoff}
            if kept:
                self.feedback[owner_key] = kept
            else:
                del self.feedback[owner_key]
        for held in self.held.values():
            for cid in [c for c, facts in held.items()
                        if all(f.at < cutoff and (not isinstance(f, Busy)
                                                  or (f.end_ms or cutoff) < cutoff)
                               for f in facts)]:
                del held[cid]

    def drop(self, owners: Iterable[str]) -> None:
        """Forget owners whose partition moved to another worker."""
        for owner in owners:
            level, key = owner_level(owner)
            self.held.pop(owner, None)
            self.live.pop(owner, None)
            self.segments.pop(owner, None)
            self.feedback.pop((level, key), None)
            if level == "agent":
                self.aggregates.agents.pop(key, None)
                self.timelines.pop(key, None)
                self.agent_teams.drop(key)
            elif level == "team":
                self.aggregates.teams.pop(key, None)
            else:
                self.aggregates.overall.clear()

    def owners(self) -> set[str]:
        """The owners with data here: panes, live summaries, segments or a timeline (what a
        share holds in memory does not decide it: idle shares may be read back later)."""
        agg = self.aggregates
        found = set(self.live) | set(self.segments)
        found |= {f"a:{agent}" for agent in self.timelines}
        found |= {f"t:{team}" for team in agg.teams} | {f"a:{agent}" for agent in agg.agents}
        if agg.overall.minutes:
            found.add(OVERALL)
        return {owner for owner in found if self._holds(owner)}

    def _holds(self, owner: str) -> bool:
        level, key = owner_level(owner)
        panes = self.aggregates.level_panes(level, key, create=False)
        return bool((panes is not None and panes.minutes) or self.live.get(owner)
                    or self.segments.get(owner)
                    or (level == "agent" and key in self.timelines
                        and not self.timelines[key].empty))

    def report(self, as_of_ms: int, owned: Iterable[str], at_risk_ratio: float,
               weights: Mapping[str, Any], live: LiveTotals | None = None) -> dict[str, Any]:
        """SPEC §6's report for the ``owned`` keys only (``overall`` only on its owner). The
        live state comes from the summaries held here unless ``live`` gives it (replay).

        Window values are kept for the next report (``weights`` must not change between
        reports of one book) and shared with it: read the report, do not modify it."""
        owned = set(owned)
        computed: dict[tuple[str, str], _Computed] = {}
        windows = {w.name: self._window_values(w, as_of_ms, owned, weights, computed)
                   for w in WINDOWS}
        self._computed = computed
        if live is None:
            live = LiveTotals()
            rows = self.live_rows
            for owner in owned:
                levels = (_VALUE_LEVEL[owner_level(owner)[0]],)
                for summary in self.live.get(owner, {}).values():
                    add_live(live, summary, rows.row(summary, as_of_ms, at_risk_ratio),
                             as_of_ms, levels)
            rows.end_report()
        agents = [owner_level(o)[1] for o in owned if o.startswith("a:")]
        status = {a: self.timelines[a].status_at(as_of_ms) for a in agents
                  if a in self.timelines and self.timelines[a].presence}
        report = build_report(as_of_ms, windows, live, status,
                              dict(self.agent_teams.items()))
        if OVERALL not in owned:
            del report["live"]["overall"]
        return report

    def values_of(self, owner: str, window_name: str, as_of_ms: int,
                  weights: Mapping[str, Any]) -> dict[str, Any] | None:
        """One owner's KPI values in one window at ``as_of_ms``, as a report gives them (None
        when it has none there), without building the whole report."""
        (window,) = [w for w in WINDOWS if w.name == window_name]
        values = self._window_values(window, as_of_ms, {owner}, weights, {})
        level, key = owner_level(owner)
        if level == "overall":
            return values.overall
        return (values.teams if level == "team" else values.agents).get(key)

    def _window_values(self, window: WindowSpec, as_of_ms: int, owned: set[str],
                       weights: Mapping[str, Any],
                       computed: dict[tuple[str, str], "_Computed"]) -> LevelValues:
        """Each owned key's KPI values in ``window``. An owner's values are taken again from
        the last report when its running sum (by version) and presence times are unchanged;
        when only the presence times changed, only the values computed from them are computed
        again. ``computed`` collects what this report used."""
        out = LevelValues()
        start, end = window.span(as_of_ms)
        for owner in owned:
            level, key = owner_level(owner)
            panes = self.aggregates.level_panes(level, key, create=False)
            running = panes.window_sum(window, as_of_ms) if panes is not None else None
            if level == "agent":
                timeline = self.timelines.get(key)
                segments: Iterable[Segment] = timeline.segments() if timeline else ()
            else:
                segments = (s for agent_segments in self.segments.get(owner, {}).values()
                            for s in agent_segments)
            logged_in = busy = 0
            for team, logged, busy_ms in clip_segments(list(segments), start, end):
                if level != "team" or team == key:
                    logged_in += logged
                    busy += busy_ms
            if level != "overall" and not logged_in and (
                    running is None or not any(k < SKETCH_BASE for k in running.pane)):
                continue
            version = -1 if running is None else running.version
            pane = running.pane if running is not None else None
            last = self._computed.get((window.name, owner))
            if last is None or last.version != version:
                values = _values(pane, logged_in, busy, _VALUE_LEVEL[level], weights)
            elif (last.logged_in_ms, last.busy_ms) != (logged_in, busy):
                values = _values(pane, logged_in, busy, _VALUE_LEVEL[level], weights, last.values)
            else:
                values = last.values
            computed[(window.name, owner)] = _Computed(version, logged_in, busy, values)
            if level == "overall":
                out.overall = values
            else:
                (out.teams if level == "team" else out.agents)[key] = values
        return out


def _values(pane: Pane | None, logged_in_ms: int, busy_ms: int, level: str,
            weights: Mapping[str, Any], panes_unchanged: dict[str, Any] | None = None
            ) -> dict[str, Any]:
    totals = Totals(pane, sketches=panes_unchanged is None)
    totals.logged_in_ms, totals.busy_ms = logged_in_ms, busy_ms
    return window_values(totals, level, weights, panes_unchanged)

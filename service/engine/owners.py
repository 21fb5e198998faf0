"""Owner-keyed aggregation for the streaming service (stage 2), and what stage 1 sends it.

Every aggregate has one owner key: ``o`` (overall), ``t:<team>`` or ``a:<agent>``. Stage 1
(keyed by conversation) sends, for every conversation a batch touched, an **update** (all its
facts and its live summary) to each partition that holds one of its owners; every owner named
there takes a **sync**: the complete list of the conversation's facts that belong to the owner,
and its live summary.
An owner replaces what it held for that conversation, so a sync applied twice, late or after
a crash changes nothing: at-least-once delivery with idempotent state. Agent owners also get
presence events (de-duplicated by id) and send their occupancy segments on to the team and
overall owners, again as replace-syncs.

:class:`OwnerBook` holds the owners of one worker; its reports, merged over all workers, equal
the in-process engine's report (a property test checks exactly that).
"""

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from service.engine.aggregates import Aggregates, Totals
from service.engine.conversation import LiveSummary, TeamPolicy
from service.engine.facts import F_BUSY, Fact
from service.engine.panes import WINDOWS
from service.engine.presence import Segment, clip_segments
from service.engine.stages import AgentBook, LevelTotals, LiveTotals, add_live, live_row

__all__ = [
    "OVERALL",
    "ConversationSync",
    "ConversationUpdate",
    "OwnerBook",
    "SegmentSync",
    "conversation_update",
    "fact_owners",
    "merge_reports",
    "owner_level",
    "owner_syncs",
    "report_differences",
]

OVERALL = "o"
_LEVEL_OF_PREFIX = {"t": "team", "a": "agent"}


def owner_level(owner: str) -> tuple[str, str]:
    """``t:billing`` → ("team", "billing"); ``o`` → ("overall", "")."""
    if owner == OVERALL:
        return "overall", ""
    return _LEVEL_OF_PREFIX[owner[0]], owner[2:]


def _owners(team: str | None, agent: str | None) -> list[str]:
    owners = [OVERALL]
    if team is not None:
        owners.append(f"t:{team}")
    if agent is not None:
        owners.append(f"a:{agent}")
    return owners


def fact_owners(fact: Fact) -> list[str]:
    if fact[1] == F_BUSY:
        return [f"a:{fact[4]}"]
    return _owners(fact[3], fact[4])


def _summary_owners(summary: LiveSummary | None) -> list[str]:
    return [] if summary is None else _owners(summary[0], summary[1])


class ConversationSync(NamedTuple):
    owner: str
    conversation_id: str
    facts: tuple[Fact, ...]
    live: LiveSummary | None


class SegmentSync(NamedTuple):
    owner: str
    agent: str
    segments: tuple[Segment, ...]


class ConversationUpdate(NamedTuple):
    """A conversation's facts and live summary for the ``owners`` listed: stage 1 sends one per
    destination partition, naming the owners there; each takes its share (:func:`owner_syncs`).
    """

    conversation_id: str
    facts: tuple[Fact, ...]
    live: LiveSummary | None
    owners: tuple[str, ...]


def conversation_update(
    conversation_id: str, facts: Iterable[Fact], live: LiveSummary | None,
    previous_owners: Iterable[str] = (),
) -> tuple[ConversationUpdate, frozenset[str]]:
    """The update for every owner that holds something of the conversation now or held
    something before (those get an empty sync), and the owners that hold something now."""
    ordered = tuple(sorted(facts))
    holders = frozenset(owner for fact in ordered for owner in fact_owners(fact))
    holders |= frozenset(_summary_owners(live))
    owners = tuple(sorted(holders | frozenset(previous_owners)))
    return ConversationUpdate(conversation_id, ordered, live, owners), holders


def owner_syncs(update: ConversationUpdate) -> list[ConversationSync]:
    """One sync per owner the update names: the owner's facts and, where it belongs, the
    live summary."""
    cid, facts, live, owners = update
    by_owner: dict[str, list[Fact]] = {owner: [] for owner in owners}
    for fact in facts:
        for owner in fact_owners(fact):
            share = by_owner.get(owner)
            if share is not None:
                share.append(fact)
    live_owners = _summary_owners(live)
    return [ConversationSync(owner, cid, tuple(by_owner[owner]),
                             live if owner in live_owners else None) for owner in owners]


class OwnerBook(AgentBook):
    """The owners one worker holds: panes, presence, live summaries and occupancy segments."""

    def __init__(self, policy: TeamPolicy, retention_ms: int) -> None:
        super().__init__()
        self.policy = policy
        self.retention_ms = retention_ms
        self.aggregates = Aggregates(retention_ms)
        self.held: dict[str, dict[str, tuple[Fact, ...]]] = {}
        self.live: dict[str, dict[str, LiveSummary]] = {}
        self.segments: dict[str, dict[str, tuple[Segment, ...]]] = {}
        self.watermark_ms: int | None = None

    @property
    def cutoff_ms(self) -> int:
        return -(2**62) if self.watermark_ms is None else self.watermark_ms - self.retention_ms

    def _see(self, at_ms: int) -> None:
        if self.watermark_ms is None or at_ms > self.watermark_ms:
            self.watermark_ms = at_ms

    # -- input ---------------------------------------------------------------------------------

    def apply_sync(self, sync: ConversationSync) -> bool:
        """Replace what ``sync.owner`` held of a conversation; False when nothing changed."""
        owner, cid, facts, live = sync
        held = self.held.setdefault(owner, {})
        old = held.get(cid, ())
        live_held = self.live.setdefault(owner, {})
        if old == facts and live_held.get(cid) == live:
            return False
        for fact in facts:
            self._see(fact[2])
        level, key = owner_level(owner)
        cutoff = self.cutoff_ms
        kept = set(old).intersection(facts) if old and facts else set()
        for fact in old:
            if fact not in kept:
                self._apply(level, key, fact, -1, cutoff)
        for fact in facts:
            if fact not in kept:
                self._apply(level, key, fact, 1, cutoff)
        if facts:
            held[cid] = facts
        else:
            held.pop(cid, None)
        if live is None:
            live_held.pop(cid, None)
        else:
            live_held[cid] = live
        return True

    def _apply(self, level: str, key: str, fact: Fact, sign: int, cutoff: int) -> None:
        if fact[1] == F_BUSY:
            timeline = self.timeline(key)
            if sign < 0:
                timeline.attention.pop(fact[0], None)
            else:
                timeline.set_attention(fact[0], fact[5], fact[6])
            return
        self.aggregates.apply(fact, sign, cutoff, (level,))
        if level == "agent" and sign > 0:
            self._note_team(key, fact[3], fact[2])

    def add_presence(self, agent: str, record: Any) -> bool:
        record = tuple(record)
        self._see(record[0])
        if not self.timeline(agent).add_presence(record):
            return False
        self._note_team(agent, record[4], record[0])
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
        segments = tuple(self.timeline(agent).segments())
        by_owner: dict[str, list[Segment]] = {OVERALL: list(segments)} if segments else {}
        for segment in segments:
            if segment[2] is not None:
                by_owner.setdefault(f"t:{segment[2]}", []).append(segment)
        holders = frozenset(by_owner)
        syncs = [SegmentSync(owner, agent, tuple(by_owner.get(owner, ())))
                 for owner in sorted(holders | frozenset(previous))]
        return syncs, holders

    def expire(self) -> None:
        cutoff = self.cutoff_ms
        self.aggregates.expire(cutoff)
        for agent in list(self.timelines):
            self.timelines[agent].expire(cutoff)
        for held in self.held.values():
            for cid in [c for c, facts in held.items()
                        if all(f[2] < cutoff and (f[1] != F_BUSY or (f[6] or cutoff) < cutoff)
                               for f in facts)]:
                del held[cid]

    def drop(self, owners: Iterable[str]) -> None:
        """Forget owners whose partition moved to another worker."""
        for owner in owners:
            level, key = owner_level(owner)
            self.held.pop(owner, None)
            self.live.pop(owner, None)
            self.segments.pop(owner, None)
            if level == "agent":
                self.aggregates.agents.pop(key, None)
                self.timelines.pop(key, None)
                self.agent_team.pop(key, None)
            elif level == "team":
                self.aggregates.teams.pop(key, None)
            else:
                self.aggregates.overall.minutes.clear()

    def owners(self) -> set[str]:
        found = set(self.held) | set(self.live) | set(self.segments)
        found |= {f"a:{agent}" for agent in self.timelines}
        return {owner for owner in found if self._holds(owner)}

    def _holds(self, owner: str) -> bool:
        level, key = owner_level(owner)
        return bool(self.held.get(owner) or self.live.get(owner) or self.segments.get(owner)
                    or (level == "agent" and key in self.timelines
                        and not self.timelines[key].empty))

    def report(self, as_of_ms: int, owned: Iterable[str], at_risk_ratio: float,
               weights: Mapping[str, Any]) -> dict[str, Any]:
        """SPEC §6's report for the ``owned`` keys only (``overall`` only on its owner)."""
        from service.engine.engine import build_report

        owned = set(owned)
        windows = {w.name: self._window_totals(w, as_of_ms, owned) for w in WINDOWS}
        live = LiveTotals()
        for owner in owned:
            level, _ = owner_level(owner)
            for summary in self.live.get(owner, {}).values():
                row = live_row(summary, as_of_ms, self.policy, at_risk_ratio)
                add_live(live, summary, row, ({"overall": "overall", "team": "teams",
                                               "agent": "agents"}[level],))
        agents = [owner_level(o)[1] for o in owned if o.startswith("a:")]
        status = {a: self.timelines[a].status_at(as_of_ms) for a in agents
                  if a in self.timelines and self.timelines[a].presence}
        report = build_report(as_of_ms, windows, live, status,
                              {a: team for a, (_, team) in self.agent_team.items()}, weights)
        if OVERALL not in owned:
            for levels in (*report["windows"].values(), report["live"]):
                del levels["overall"]
        return report

    def _window_totals(self, window: Any, as_of_ms: int, owned: set[str]) -> LevelTotals:
        out = LevelTotals()
        start, end = window.span(as_of_ms)
        for owner in owned:
            level, key = owner_level(owner)
            panes = self.aggregates.level_panes(level, key, create=False)
            totals = panes.totals(window, as_of_ms) if panes is not None else Totals()
            if level == "agent":
                timeline = self.timelines.get(key)
                segments: Iterable[Segment] = timeline.segments() if timeline else ()
            else:
                segments = (s for agent_segments in self.segments.get(owner, {}).values()
                            for s in agent_segments)
            for team, logged, busy in clip_segments(list(segments), start, end):
                if level != "team" or team == key:
                    totals.logged_in_ms += logged
                    totals.busy_ms += busy
            if level == "overall":
                out.overall = totals
            elif any(totals.counters) or totals.logged_in_ms:
                (out.teams if level == "team" else out.agents)[key] = totals
        return out


def merge_reports(reports: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One report from the workers' reports: each key comes from the worker that owns it."""
    merged: dict[str, Any] | None = None
    for report in reports:
        if merged is None:
            merged = {"as_of": report["as_of"], "windows": {}, "live": {"teams": {}, "agents": {}}}
        for name, levels in report["windows"].items():
            into = merged["windows"].setdefault(name, {"teams": {}, "agents": {}})
            _merge_levels(into, levels)
        _merge_levels(merged["live"], report["live"])
    if merged is None:
        raise ValueError("no reports to merge")
    def ordered(levels: dict[str, Any]) -> dict[str, Any]:
        return {"overall": levels.get("overall"), "teams": dict(sorted(levels["teams"].items())),
                "agents": dict(sorted(levels["agents"].items()))}

    merged["windows"] = {name: ordered(levels) for name, levels in merged["windows"].items()}
    merged["live"] = ordered(merged["live"])
    return merged


def _merge_levels(into: dict[str, Any], levels: dict[str, Any]) -> None:
    if "overall" in levels:
        into["overall"] = levels["overall"]
    into["teams"].update(levels["teams"])
    into["agents"].update(levels["agents"])


def report_differences(actual: Any, expected: Any, path: str = "") -> list[str]:
    """Where two reports differ, one line per differing leaf (``/windows/1h/...: a != b``)."""
    if isinstance(actual, dict) and isinstance(expected, dict):
        return [line for key in sorted(set(actual) | set(expected), key=str)
                for line in (report_differences(actual[key], expected[key], f"{path}/{key}")
                             if key in actual and key in expected
                             else [f"{path}/{key} only on one side"])]
    return [] if actual == expected else [f"{path}: {actual!r} != {expected!r}"]

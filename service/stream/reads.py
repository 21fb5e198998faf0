"""What a worker answers over HTTP, read from its stages: the report of the owners it holds,
the queue, the feedback pages and its part of an explanation. A read never changes the
stages' state (a conversation read back from the store for an explanation is not kept)."""

from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

from service.engine.book import OwnerBook
from service.engine.explain import explain
from service.engine.facts import Fact
from service.engine.feedback import feedback_page
from service.engine.owner_keys import (
    OVERALL,
    Owner,
    agent_owner,
    fact_owners,
    owner_for,
    team_owner,
)
from service.engine.panes import WINDOWS
from service.engine.queue import queue_listing
from service.engine.report import merge_reports
from service.engine.sla import TeamPolicy
from service.names import Directory, UnknownName, named
from service.stream.conversations import ConversationStage
from service.stream.owners import OwnerStage

__all__ = ["earliest_as_of_ms", "explain_part", "feedback_of", "known_names", "owner_summary",
           "queue_of", "report_of", "unknown_name"]


def report_of(owners: OwnerStage, as_of_ms: int, policy: TeamPolicy, at_risk_ratio: float,
              weights: Mapping[str, Any], retention_ms: int, directory: Directory
              ) -> dict[str, Any]:
    """SPEC §6's report of the owners held here (overall only on its own partition), with the
    display names of its keys (:func:`service.names.named`)."""
    owned = owners.owned()
    reports = [book.report(as_of_ms, {o for p, o in owned if p == partition}, at_risk_ratio,
                           weights)
               for partition, book in owners.books()]
    if not reports:
        return OwnerBook(policy, retention_ms).report(as_of_ms, set(), at_risk_ratio, weights)
    return named(merge_reports(reports), directory, owners.learned_names())


def queue_of(owners: OwnerStage, state: str, as_of_ms: int, policy: TeamPolicy,
             at_risk_ratio: float, team: str | None, agent: str | None,
             limit: int, directory: Directory) -> dict[str, Any]:
    """The ``/conversations`` answer from the live summaries of the narrowest owner asked for
    (the agent's, else the team's, else overall), when it is held here; else empty. With the
    display names of its teams and agents, and the names learned for the teams and agents held
    here that have live conversations: the worker that lists a conversation may hold neither
    its team nor its agent, and a client merging every worker's ``names`` then has them all."""
    owner = agent_owner(agent) if agent else team_owner(team) if team else OVERALL
    book = owners.book_of(owner)
    live = {} if book is None else book.live.get(owner, {})
    learned = owners.learned_names()
    answer = named(queue_listing(live.items(), state, as_of_ms, policy, at_risk_ratio, team,
                                 agent, limit), directory, learned)
    for level, given in (("team", directory.teams), ("agent", directory.agents)):
        working = {o.key for _, held_book in owners.books() for o, held in held_book.live.items()
                   if held and o.level == level and o.key not in given}
        heard = learned.of_keys(level, working)
        if heard:
            names = answer.setdefault("names", {"teams": {}, "agents": {}})
            names[f"{level}s"] = dict(sorted({**heard, **names[f"{level}s"]}.items()))
    return answer


def feedback_of(owners: OwnerStage, level: str, key: str, as_of_ms: int,
                weights: Mapping[str, Any]) -> dict[str, Any] | None:
    """An agent's or team's feedback page, or None when its owner is not held here."""
    owner = owner_for(level, key)
    book = owners.book_of(owner)
    if book is None:
        return None
    kpis = book.values_of(owner, "24h", as_of_ms, weights)
    return feedback_page(level, key, book.feedback.get(owner, {}).values(), as_of_ms, kpis)


def explain_part(conversations: ConversationStage, owners: OwnerStage, kpi: str, level: str,
                 key: str | None, window_name: str, as_of_ms: int) -> dict[str, Any]:
    """This worker's part of the facts behind one windowed value: those of the conversations
    of its input partitions, and the presence segments when it holds the owner
    (``holder``). ``service.engine.explain.merge_explains`` joins the workers' parts."""
    owner = owner_for(level, key)
    (window,) = [w for w in WINDOWS if w.name == window_name]
    start = window.span(as_of_ms)[0] - window.pane_ms
    book = owners.book_of(owner)
    segments = () if book is None else book.owner_segments(owner)
    listing = explain(kpi, level, key, window_name, as_of_ms,
                      _shares(conversations, owner, start), segments)
    listing["holder"] = book is not None
    return listing


def _shares(stage: ConversationStage, owner: Owner, since_ms: int
            ) -> Iterator[tuple[str, tuple[Fact, ...]]]:
    """(conversation id, its facts that count for ``owner``) of every conversation with an
    event since ``since_ms``."""
    for partition, part in stage.partitions.items():
        conversations = part.conversations
        for cid, last_at in list(conversations.last_at.items()):
            if last_at < since_ms:
                continue
            conversation = conversations.conversations.get(cid) or stage.read(partition, cid)
            if conversation is None:
                continue
            facts = conversation.facts(stage.policy).values()
            yield cid, tuple(f for f in facts if owner in fact_owners(f))


def owner_summary(owners: OwnerStage) -> dict[str, int]:
    """Owner keys held here, by level."""
    return dict(Counter(owner.level for _, owner in owners.owned()))


def known_names(owners: OwnerStage, configured_teams: Iterable[str]) -> dict[str, list[str]]:
    """``/owners``: the teams (configured ones too) and agents with data held here, sorted."""
    teams = set(configured_teams)
    agents: set[str] = set()
    for _, owner in owners.owned():
        if owner.level == "team":
            teams.add(owner.key)
        elif owner.level == "agent":
            agents.add(owner.key)
    return {"teams": sorted(teams), "agents": sorted(agents)}


def unknown_name(owners: OwnerStage, named: Iterable[Owner], configured_teams: Collection[str],
                 retention_ms: int) -> UnknownName | None:
    """The first of the ``named`` teams and agents that this worker holds and knows nothing of
    (no data within the retention; a team not configured either), else None (each is known,
    or held by another worker, which answers for it)."""
    for owner in named:
        if owner.level == "team" and owner.key in configured_teams:
            continue
        book = owners.book_of(owner)
        if book is None or book.has(owner):
            continue
        known = known_names(owners, configured_teams)[f"{owner.level}s"]
        return UnknownName(owner.level, owner.key, tuple(known), retention_ms / 3_600_000)
    return None


def earliest_as_of_ms(owners: OwnerStage) -> int | None:
    """The earliest as-of whose windows the panes held here still cover: the longest window
    after the latest retention cutoff of the partitions (None before any watermark)."""
    cutoffs = [book.watermark.cutoff_ms for _, book in owners.books()
               if book.watermark.at_ms is not None]
    if not cutoffs:
        return None
    longest = max(w.panes * w.pane_ms for w in WINDOWS)
    return max(cutoffs) + longest

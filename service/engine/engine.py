"""The KPI engine in one process: the conversation stage feeding an owner book that holds every
owner, and the report of SPEC §6.

Replay uses it as it is; the streaming workers run the conversation stage on their input
partitions and the same owner book on the owners of theirs.
"""

from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

from service.engine.book import OwnerBook
from service.engine.conversations import REVIEW_PREFIX, Conversations, closed_retention_ms
from service.engine.explain import check_request, explain
from service.engine.facts import FactChange
from service.engine.feedback import feedback_page
from service.engine.learned_names import sightings
from service.engine.owner_keys import OVERALL, agent_owner, fact_owners, owner_for, team_owner
from service.engine.panes import HOUR_MS, ceil_to_minute
from service.engine.queue import queue_listing
from service.engine.records import K_PRESENCE, Record, to_record
from service.engine.sla import TeamPolicy
from service.engine.watermark import Watermark
from service.names import Directory, named

__all__ = [
    "DEFAULT_FORGET_AFTER_MS",
    "DEFAULT_RETENTION_MS",
    "CachedPolicy",
    "KpiEngine",
]

DEFAULT_RETENTION_MS = 25 * HOUR_MS
DEFAULT_FORGET_AFTER_MS: int | None = None
"""How long a conversation that is not live is kept after its last event (ms); None takes the
configuration's ``retention.closed_days`` (SPEC §5, default 35 days). See ``Conversations``
for what happens past that horizon."""


class EngineConfig(TeamPolicy, Protocol):
    at_risk_ratio: float

    @property
    def weighted_score(self) -> Mapping[str, Any]: ...

    def directory(self) -> Directory:
        """The display names the report carries (``service.names``)."""
        ...


class CachedPolicy:
    """Team rules by name in a plain dict: the fold asks for them on every response."""

    __slots__ = ("_cache", "config")

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._cache: dict[str | None, Any] = {}

    def team(self, name: str | None) -> Any:
        rules = self._cache.get(name)
        if rules is None:
            rules = self._cache[name] = self.config.team(name)
        return rules

    @property
    def closed_retention_ms(self) -> int:
        """The configuration's ``retention.closed_days`` in ms (SPEC §5)."""
        return closed_retention_ms(self.config)


class KpiEngine:
    """Feed validated events in arrival order; ask for the report at any time t.

    ``counts`` holds, besides the events by type: ``duplicate`` (a repeated event id),
    ``late`` (applied to the conversation but dated more than ``retention_ms`` behind the
    latest event time, so its facts miss the dropped panes), ``expired`` (not applied at all:
    dated ``retention.closed_days`` or more behind the latest event time, for a conversation
    not held; see ``Conversations``) and ``forgotten`` (conversations dropped after that
    horizon)."""

    def __init__(
        self,
        config: EngineConfig,
        retention_ms: int = DEFAULT_RETENTION_MS,
        forget_after_ms: int | None = DEFAULT_FORGET_AFTER_MS,
    ) -> None:
        self.config = config
        self.retention_ms = retention_ms
        policy = CachedPolicy(config)
        self.conversations = Conversations(policy, retention_ms, forget_after_ms)
        self.watermark = Watermark(retention_ms)
        self.book = OwnerBook(policy, retention_ms, self.watermark)
        """Every owner's panes and presence (the streaming workers' book, all owners here)."""
        self.seq = 0
        self.counts: Counter[str] = Counter()
        self.directory = config.directory()

    @property
    def watermark_ms(self) -> int | None:
        return self.watermark.at_ms

    @property
    def cutoff_ms(self) -> int:
        """Pane data before this time may be dropped (SPEC §4: 25 h behind the latest event)."""
        return self.watermark.cutoff_ms

    def process(self, event: Any) -> list[FactChange] | None:
        """Apply one validated event. Returns its fact changes, or None for a duplicate."""
        self.seq += 1
        record = to_record(event, self.seq)
        for owner, sighting in sightings(event, record.at):
            self.book.names.learn(owner, sighting)
        return self.process_record(event.type, record,
                                   getattr(event, "conversation_id", None))

    def process_record(self, event_type: str, record: Record,
                       conversation_id: str | None) -> list[FactChange] | None:
        at = record.at
        counts = self.counts
        counts[event_type] += 1
        watermark = self.watermark.see(at)
        result: list[FactChange] | None
        stage = self.conversations
        forgotten = stage.forgotten
        expired = False
        if record.kind == K_PRESENCE:
            assert record.agent is not None
            result = [] if self.book.forward_presence(record.agent, record) else None
        else:
            if conversation_id is None:
                conversation_id = f"{REVIEW_PREFIX}{record.fingerprint:016x}"
            if not stage.admit(conversation_id, at, watermark):
                expired = True
                result = []
            else:
                result = stage.add(conversation_id, record)
            if result:
                apply = self.book.apply_change
                for change in result:
                    apply(change)
        if result is None:
            counts["duplicate"] += 1
        elif expired:
            counts["expired"] += 1
        elif self.watermark.late(at):
            counts["late"] += 1
        if watermark is not None and self.watermark.expiry_due():
            self.conversations.expire(watermark)
            self.book.expire()
        if stage.forgotten != forgotten:
            counts["forgotten"] += stage.forgotten - forgotten
        return result

    def default_as_of(self) -> int:
        """The latest event time rounded up to the next whole minute (SPEC §4): the watermark
        (an event far ahead of all others waits for company, :mod:`service.engine.watermark`),
        or with fewer than ten events the latest of them."""
        latest = self.watermark.latest_ms
        return ceil_to_minute(latest if latest is not None else 0)

    def report(self, as_of_ms: int | None = None) -> dict[str, Any]:
        as_of = self.default_as_of() if as_of_ms is None else as_of_ms
        live = self.conversations.live(as_of, self.config.at_risk_ratio)
        book = self.book
        owned = (book.owners() | {OVERALL} | {team_owner(team) for team in live.teams}
                 | {agent_owner(agent) for agent in live.agents})
        return named(book.report(as_of, owned, self.config.at_risk_ratio,
                                 self.config.weighted_score, live), self.directory, book.names)


    def feedback(self, level: str, key: str, as_of_ms: int | None = None) -> dict[str, Any]:
        """The feedback page of an agent or team (``level``) at the as-of (default: the last
        event): ``service.engine.feedback.feedback_page``."""
        as_of = self.default_as_of() if as_of_ms is None else as_of_ms
        owner = owner_for(level, key)
        kpis = self.book.values_of(owner, "24h", as_of, self.config.weighted_score)
        return feedback_page(level, key, self.book.feedback.get(owner, {}).values(), as_of,
                             kpis)

    def explain(self, kpi: str, level: str, key: str | None, window: str = "1h",
                as_of_ms: int | None = None) -> dict[str, Any]:
        """The facts behind one windowed value at the as-of (default: the last event):
        ``service.engine.explain.explain``, over every conversation's current facts. Raises
        ExplainError naming a wrong parameter."""
        check_request(kpi, level, key, window)
        as_of = self.default_as_of() if as_of_ms is None else as_of_ms
        owner = owner_for(level, key)
        policy = self.conversations.policy
        shares = ((cid, tuple(f for f in conversation.facts(policy).values()
                              if owner in fact_owners(f)))
                  for cid, conversation in self.conversations.conversations.items())
        return explain(kpi, level, key, window, as_of, shares, self.book.owner_segments(owner))

    def queue(self, state: str, as_of_ms: int | None = None, team: str | None = None,
              agent: str | None = None, limit: int | None = None) -> dict[str, Any]:
        """The conversations in a live state at the as-of (default: the last event), most
        urgent first (``service.engine.queue``); every one unless ``limit``."""
        as_of = self.default_as_of() if as_of_ms is None else as_of_ms
        return named(queue_listing(self.conversations.live_summaries(), state, as_of,
                                   self.conversations.policy, self.config.at_risk_ratio, team,
                                   agent, limit), self.directory, self.book.names)

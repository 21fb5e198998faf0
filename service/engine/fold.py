"""The rules of SPEC §3 as a fold over one conversation's events in ``at`` order.

:class:`ConversationFold` is the state after applying events in order; ``apply`` returns the
fact changes one event causes (:mod:`service.engine.facts`). What keeps the events, orders them
and folds again after a late arrival is :class:`~service.engine.conversation.Conversation`.
"""

from typing import Any, NamedTuple

from service.engine.facts import (
    F_ABANDONED,
    F_AFTER_HANDOFF,
    F_ASSIGNED,
    F_BOT_RESOLVED,
    F_BUSY,
    F_CLOSED,
    F_CREATED,
    F_FIRST_RESPONSE,
    F_FULL_RESOLVED,
    F_HANDED_OFF,
    F_NEXT_RESPONSE,
    F_RATING,
    F_REOPENED,
    F_RESOLVED,
    F_REVIEW,
    Assigned,
    Busy,
    Closed,
    Duration,
    FactChange,
    Marker,
    Rating,
    Resolved,
    Response,
    Review,
    fact_from,
)
from service.engine.records import (
    K_ABANDONED,
    K_ASSIGNED,
    K_CREATED,
    K_HANDED_OFF,
    K_MESSAGE,
    K_RATING,
    K_REVIEW,
    K_STATUS,
    K_UNASSIGNED,
    Record,
)
from service.engine.sla import TeamPolicy, Wait, business_ms, sla_elapsed_ms

__all__ = ["ConversationFold", "LiveSummary"]

_ENDED = ("resolved", "closed")
_WAITING = ("pending", "snoozed")


class LiveSummary(NamedTuple):
    """What the live state (SPEC §4) needs of a conversation that is not resolved or closed."""

    team: str | None
    assignee: str | None
    status: str
    priority: str
    awaiting_since: int | None
    """``created`` while it awaits its first response, else None."""
    clock: str | None
    """The SLA kind of the response clock that runs (first_response, next_response), or None."""
    clock_start: int | None
    waits: tuple[Wait, ...]
    """The waits that overlap the running clock (empty without one)."""
    created_at: int = 0
    channel: str = "other"

    def values(self) -> list[Any]:
        """Its JSON form: its fields, the waits as lists (:meth:`decode` reads it)."""
        values: list[Any] = list(self)
        values[7] = [list(w) for w in self.waits]
        return values

    @classmethod
    def decode(cls, values: Any) -> "LiveSummary":
        """From its JSON form (:meth:`values`)."""
        (team, assignee, status, priority, awaiting_since, clock, clock_start, waits,
         created_at, channel) = values
        return cls(team, assignee, status, priority, awaiting_since, clock, clock_start,
                   tuple(Wait(*w) for w in waits), created_at, channel)


class ConversationFold:
    """The state after applying a conversation's events in order; ``apply`` returns the fact
    changes one event causes."""

    __slots__ = (
        "abandoned",
        "after_handoff_done",
        "assignee",
        "bot_messages",
        "bot_resolution",
        "busy_agent",
        "busy_start",
        "channel",
        "closed",
        "conversation_id",
        "created_at",
        "first_agent",
        "full_resolution",
        "handoff_at",
        "human_responses",
        "initiator",
        "last_responder",
        "many_agents",
        "n_as",
        "n_bz",
        "n_nr",
        "n_ro",
        "n_rt",
        "n_rv",
        "next_response_from",
        "one_touch",
        "open_since",
        "opens",
        "priority",
        "resolved_once",
        "status",
        "team",
        "waits",
    )

    def __init__(self, conversation_id: str) -> None:
        self.conversation_id = conversation_id
        self.created_at: int | None = None
        self.team: str | None = None
        self.priority = "normal"
        self.channel = "other"
        self.initiator = "customer"
        self.status = "open"
        self.assignee: str | None = None
        self.first_agent: str | None = None
        self.many_agents = False
        self.human_responses = 0
        self.last_responder: str | None = None
        self.next_response_from: int | None = None
        self.resolved_once = False
        self.bot_messages = False
        self.bot_resolution: Marker | None = None
        """The bot-resolved fact of the first resolution, while it holds (SPEC §3)."""
        self.handoff_at: int | None = None
        """When the first handoff (explicit or implicit) started the after-handoff clock."""
        self.after_handoff_done = False
        self.full_resolution: Duration | None = None
        """The full resolution fact of the latest resolution: a later one replaces it."""
        self.one_touch: Resolved | None = None
        """The first resolution's fact while it counts as one-touch (FCR): a reopen turns it
        into a non-one-touch one (SPEC §3)."""
        self.abandoned = False
        self.closed = False
        self.open_since: int | None = None
        self.opens: list[tuple[int, int]] = []
        """The finished stretches in status open before the first resolution, (start, stop)
        epoch ms: its business wait is measured on the calendar of the team at the stop."""
        self.busy_agent: str | None = None
        self.busy_start = 0
        self.n_as = self.n_bz = self.n_nr = self.n_ro = self.n_rt = self.n_rv = 0
        self.waits: list[Wait] = []
        """The stretches in a waiting status that an SLA still to be judged may overlap."""

    # -- copies and the persisted form ------------------------------------------------------

    def copy(self) -> "ConversationFold":
        """A copy that events applied to this fold later do not change (facts and waits are
        immutable tuples; only the lists are copied)."""
        twin = _new_fold(ConversationFold)
        for name in _SLOTS:
            setattr(twin, name, getattr(self, name))
        twin.waits = list(self.waits)
        twin.opens = list(self.opens)
        return twin

    def to_state(self) -> list[Any]:
        """Every slot in :data:`_SLOTS` order, tuples as lists (JSON-ready)."""
        values: list[Any] = []
        for name in _SLOTS:
            value = getattr(self, name)
            if name in _FACT_SLOTS:
                value = None if value is None else list(value)
            elif name in ("waits", "opens"):
                value = [list(item) for item in value]
            values.append(value)
        return values

    @classmethod
    def from_state(cls, values: list[Any]) -> "ConversationFold":
        """A fold saved by :meth:`to_state`. Raises ValueError when the number of values is
        not this version's."""
        if len(values) != len(_SLOTS):
            raise ValueError(f"a saved fold has {len(_SLOTS)} values, not {len(values)}")
        fold = _new_fold(cls)
        for name, value in zip(_SLOTS, values, strict=True):
            if name in _FACT_SLOTS:
                value = None if value is None else fact_from(value)
            elif name == "waits":
                value = [Wait(*item) for item in value]
            elif name == "opens":
                value = [(start, stop) for start, stop in value]
            setattr(fold, name, value)
        return fold

    # -- derived state ---------------------------------------------------------------------

    @property
    def first_response_running(self) -> bool:
        return (
            self.created_at is not None
            and self.initiator == "customer"
            and self.human_responses == 0
            and self.status not in _ENDED
        )

    @property
    def running_clock(self) -> tuple[str, int] | None:
        """The response clock that runs now, as (SLA kind, start), if any."""
        if self.first_response_running:
            assert self.created_at is not None
            return "first_response", self.created_at
        if self.next_response_from is not None:
            return "next_response", self.next_response_from
        return None

    def live_summary(self) -> "LiveSummary | None":
        """What the live state needs of this conversation, or None when it is not live (no
        known ``conversation.created``, or resolved or closed)."""
        if self.created_at is None or self.status in _ENDED:
            return None
        clock = self.running_clock
        if clock is None:
            return LiveSummary(self.team, self.assignee, self.status, self.priority, None, None,
                               None, (), self.created_at, self.channel)
        kind, start = clock
        waits = tuple(w for w in self.waits if w.stop is None or w.stop > start)
        return LiveSummary(self.team, self.assignee, self.status, self.priority,
                           self.created_at if self.first_response_running else None,
                           kind, start, waits, self.created_at, self.channel)

    # -- helpers -----------------------------------------------------------------------------

    def _fid(self, code: str, numbered: bool = False) -> str:
        if not numbered:
            return f"{self.conversation_id}:{code}"
        n = getattr(self, f"n_{code}") + 1
        setattr(self, f"n_{code}", n)
        return f"{self.conversation_id}:{code}{n}"

    def _touch(self, agent: str) -> None:
        if self.first_agent is None:
            self.first_agent = agent
        elif agent != self.first_agent:
            self.many_agents = True

    def _duration(
        self, policy: TeamPolicy, kind: str, start: int, stop: int
    ) -> tuple[int, int, int, int]:
        """(elapsed ms, business ms, SLA achieved 1/0, ms the SLA paused) of a clock."""
        rules = policy.team(self.team)
        elapsed = stop - start
        business = business_ms(rules.calendar, start, stop)
        target, in_business_hours = rules.sla_target(kind, self.priority)
        pause_while = rules.sla_pause_while(kind, self.priority)
        base = business if in_business_hours else elapsed
        counted = (sla_elapsed_ms(rules.calendar, in_business_hours, pause_while, self.waits,
                                  start, stop) if pause_while else base)
        return elapsed, business, int(counted <= target), base - counted

    def _business(self, policy: TeamPolicy, start: int, stop: int) -> int:
        """Business milliseconds of the conversation's team between ``start`` and ``stop``."""
        return business_ms(policy.team(self.team).calendar, start, stop)

    def _resolver(self, record: Record) -> str | None:
        return record.agent if record.agent is not None else self.assignee

    # -- the rules ---------------------------------------------------------------------------

    def apply(self, record: Record, policy: TeamPolicy) -> list[FactChange]:
        at, _seq, _fp, kind, team, agent, a, b, c, d = record
        if self.closed and kind != K_RATING and kind != K_REVIEW:
            return []
        if team is not None and kind != K_REVIEW:
            self.team = team
        out: list[FactChange] = []
        if kind == K_MESSAGE:
            self._message(at, agent, a, b, c, policy, out)
        elif kind == K_STATUS:
            self._status(record, a, b, policy, out)
        elif kind == K_ASSIGNED:
            if agent is not None and agent != self.assignee:
                self.assignee = agent
                self._touch(agent)
                out.append((None, Assigned(self._fid("as", True), F_ASSIGNED, at, self.team,
                                           agent, int(a == "pull"))))
        elif kind == K_UNASSIGNED:
            self.assignee = None
        elif kind == K_CREATED:
            if self.created_at is None:
                self.created_at = at
                self.channel = a
                self.priority = b
                self.initiator = c
                if self.status == "open":
                    self.open_since = at
                out.append((None, Marker(self._fid("cr"), F_CREATED, at, self.team, agent)))
        elif kind == K_RATING:
            rated = self.assignee if self.assignee is not None else self.last_responder
            out.append((None, Rating(self._fid("rt", True), F_RATING, at, self.team, rated, a, b,
                                     c, d)))
        elif kind == K_REVIEW:
            review_team = self.team if self.team is not None else team
            out.append((None, Review(self._fid("rv", True), F_REVIEW, at, review_team, agent, a,
                                     b)))
        elif kind == K_HANDED_OFF:
            self._hand_off(at, out)
        elif kind == K_ABANDONED and self.human_responses == 0 and self.status != "resolved":
            self._abandon(at, out)
            self._set_status("closed", at, policy)
            self.closed = True
        self._track_busy(at, out)
        return out

    def _message(
        self, at: int, agent: str | None, author: str, automated: bool, internal: bool,
        policy: TeamPolicy, out: list[FactChange],
    ) -> None:
        if author == "bot":
            self.bot_messages = True
        if author == "customer":
            if (
                self.human_responses
                and self.next_response_from is None
                and self.status not in _ENDED
            ):
                self.next_response_from = at
            return
        if author != "agent" or automated or internal or agent is None:
            return
        self.human_responses += 1
        self.last_responder = agent
        self._touch(agent)
        if self.handoff_at is not None and not self.after_handoff_done:
            self.after_handoff_done = True
            out.append((None, Duration(self._fid("ah"), F_AFTER_HANDOFF, at, self.team, agent,
                                       at - self.handoff_at,
                                       self._business(policy, self.handoff_at, at))))
        if self.human_responses == 1:
            if self.created_at is not None and self.initiator == "customer":
                ms, business, ok, paused = self._duration(policy, "first_response",
                                                          self.created_at, at)
                out.append((None, Response(self._fid("fr"), F_FIRST_RESPONSE, at, self.team,
                                           agent, ms, business, ok, paused)))
        elif self.next_response_from is not None:
            ms, business, ok, paused = self._duration(policy, "next_response",
                                                      self.next_response_from, at)
            self.next_response_from = None
            out.append((None, Response(self._fid("nr", True), F_NEXT_RESPONSE, at, self.team,
                                       agent, ms, business, ok, paused)))

    def _status(
        self, record: Record, status: str, by: str, policy: TeamPolicy, out: list[FactChange]
    ) -> None:
        """Status changes. Endings and reopens are measured only for a conversation whose
        ``conversation.created`` is known: without it nobody can tell whether a resolution is the
        first or whether a human responded before an ending (the history may have been forgotten
        after a long idle time, or never published)."""
        at = record.at
        previous = self.status
        if status == previous:
            return
        if status in _ENDED:
            self.next_response_from = None
            if self.created_at is not None:
                self._end(record, status, previous, by, policy, out)
            if status == "closed":
                self.closed = True
        elif status == "open" and previous == "resolved" and self.created_at is not None:
            out.append((None, Marker(self._fid("ro", True), F_REOPENED, at, self.team,
                                     self._resolver(record))))
            if self.one_touch is not None:
                out.append((self.one_touch, self.one_touch._replace(fcr=0)))
                self.one_touch = None
            if self.bot_resolution is not None:
                out.append((self.bot_resolution, None))
                self.bot_resolution = None
                self._hand_off(at, out)
        self._set_status(status, at, policy)

    def _end(
        self, record: Record, status: str, previous: str, by: str, policy: TeamPolicy,
        out: list[FactChange],
    ) -> None:
        at = record.at
        if previous not in _ENDED:
            if self.human_responses == 0 and (by in ("customer", "system") or self.abandoned):
                self._abandon(at, out)
                return
            if not self.resolved_once:
                self._resolve(record, policy, out)
            self._resolve_fully(record, policy, out)
        elif self.abandoned:
            return
        if status == "closed":
            assert self.created_at is not None
            out.append((None, Closed(self._fid("cl"), F_CLOSED, at, self.team,
                                     self._resolver(record), at - self.created_at)))

    def _set_status(self, status: str, at: int, policy: TeamPolicy) -> None:
        if self.status == "open" and self.open_since is not None:
            if not self.resolved_once:
                self.opens.append((self.open_since, at))
            self.open_since = None
        if self.status in _WAITING and self.waits and self.waits[-1].stop is None:
            self.waits[-1] = self.waits[-1]._replace(stop=at)
        if status in _WAITING:
            self._forget_waits(at)
            self.waits.append(Wait(at, None, status))
        self.status = status
        if status == "open" and self.created_at is not None:
            self.open_since = at

    def _forget_waits(self, now: int) -> None:
        """Drop the waits no SLA can still count: once the first response and the first
        resolution are judged, only a next-response clock (running, or starting later) can."""
        if self.resolved_once and (self.human_responses or self.initiator != "customer"):
            since = now if self.next_response_from is None else self.next_response_from
            self.waits = [w for w in self.waits if w.stop is None or w.stop > since]

    def _resolve(self, record: Record, policy: TeamPolicy, out: list[FactChange]) -> None:
        at = record.at
        assert self.created_at is not None
        self.resolved_once = True
        ms, business, ok, paused = self._duration(policy, "resolution", self.created_at, at)
        stretches = self.opens if self.open_since is None else [*self.opens,
                                                                 (self.open_since, at)]
        wait = sum(stop - start for start, stop in stretches)
        wait_business = sum(self._business(policy, start, stop) for start, stop in stretches)
        self.opens = []
        fcr = None if self.human_responses == 0 else int(
            self.human_responses == 1 and not self.many_agents)
        fact = Resolved(self._fid("rs"), F_RESOLVED, at, self.team, self._resolver(record), ms,
                        business, ok, wait, fcr, wait_business, paused)
        out.append((None, fact))
        if fcr == 1:
            self.one_touch = fact
        if self.human_responses == 0 and self.handoff_at is None and self.bot_messages:
            self.bot_resolution = Marker(self._fid("br"), F_BOT_RESOLVED, at, self.team, None)
            out.append((None, self.bot_resolution))

    def _resolve_fully(self, record: Record, policy: TeamPolicy,
                       out: list[FactChange]) -> None:
        """``full_resolution_seconds`` (SPEC §3): created → this resolution, replacing the value
        of an earlier resolution (retracted there, added at this stop)."""
        at = record.at
        assert self.created_at is not None
        ms, business, _, _ = self._duration(policy, "resolution", self.created_at, at)
        fact = Duration(self._fid("fu"), F_FULL_RESOLVED, at, self.team, self._resolver(record),
                        ms, business)
        out.append((self.full_resolution, fact))
        self.full_resolution = fact

    def _hand_off(self, at: int, out: list[FactChange]) -> None:
        """The first handoff to the human queue (SPEC §2, §3): counted once, at team and overall
        level, and it starts the after-handoff clock."""
        if self.handoff_at is None:
            self.handoff_at = at
            out.append((None, Marker(self._fid("ho"), F_HANDED_OFF, at, self.team, None)))

    def _abandon(self, at: int, out: list[FactChange]) -> None:
        if not self.abandoned:
            self.abandoned = True
            out.append((None, Marker(self._fid("ab"), F_ABANDONED, at, self.team, self.assignee)))

    def _track_busy(self, at: int, out: list[FactChange]) -> None:
        """Occupancy: the assignee is busy while a response clock runs on the conversation."""
        awaiting = self.assignee is not None and self.running_clock is not None
        agent = self.assignee if awaiting else None
        if agent == self.busy_agent:
            return
        if self.busy_agent is not None:
            fid = f"{self.conversation_id}:bz{self.n_bz}"
            start = self.busy_start
            out.append((Busy(fid, F_BUSY, start, None, self.busy_agent, start, None),
                        Busy(fid, F_BUSY, start, None, self.busy_agent, start, at)))
        self.busy_agent = agent
        if agent is not None:
            self.busy_start = at
            out.append((None, Busy(self._fid("bz", True), F_BUSY, at, None, agent, at, None)))




_SLOTS: tuple[str, ...] = ConversationFold.__slots__
_FACT_SLOTS = frozenset({"bot_resolution", "full_resolution", "one_touch"})
_new_fold = object.__new__

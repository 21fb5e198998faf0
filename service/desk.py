"""The live simulator's desk (``support-kpi simulate``, ``make demo``): a desk that works.

Unlike :func:`service.synthetic.generate_events` (fixed conversation scripts, for benchmarks
and tests), this is a discrete-event simulation of a staffed desk:

- **Staffing plan.** Each team's agents work one of the :data:`SHIFTS` a day in the team's
  time zone (night, early, day, late; about 8.5 hours, overlapping at each change), so every
  team is staffed at every hour, more by day than by night. On shift an agent takes breaks
  (one team mate stays available), and stops taking new work 20 minutes before the shift ends.
- **Capacity.** A conversation waits in its team's queue, most urgent first (the deadline of
  its running response clock, from the configured SLA targets), until an agent of the team is
  *available* and holds fewer than ``capacity`` unresolved conversations. An agent who goes
  offline hands the conversations still needing a reply back to the queue
  (``conversation.unassigned``); agents answer only while logged in.
- **Arrivals sized to the staff.** Customers write in at ``per_agent_hour`` conversations an
  hour per agent on the staffing plan at that moment, so arrivals follow the plan's daily
  curve and the staff keeps up (about half of its slots in use): resolved ≈ created, first
  responses within minutes.
- **One incident.** :class:`Incident`: a team goes offline for a while, just as a burst of
  its customers writes in (and more keep coming). Its queue grows, response clocks
  run past their targets (the SLA alerts fire), then the team returns and works the queue
  off, most overdue first (the alerts resolve).

Chat customers meet bots (which resolve some chats and hand the others over) and leave when
nobody answered within their patience; conversations go pending, are transferred, resolved,
reopened, rated (better when answered quickly), closed and reviewed. The stream is
deterministic for a seed and comes out in ``at`` order.
"""

from __future__ import annotations

import argparse
import heapq
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from service.config import KpiConfig, load_config
from service.synthetic import COMMENTS, SIMULATED_CONFIG, TEAMS, _Stream, iso

__all__ = ["CONVERSATIONS_PER_AGENT_HOUR", "EVENTS_PER_CONVERSATION", "SHIFTS", "DeskShape",
           "Incident", "IncidentPlan", "ResponseTargets", "Shift", "desk_events",
           "per_agent_hour_for", "scheduled_agents"]

SECOND_MS = 1000
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

EVENTS_PER_CONVERSATION = 9.2
"""The desk's mean events per conversation created (presence included): turns an events/s rate
into conversations an hour."""

CONVERSATIONS_PER_AGENT_HOUR = 4.0
"""Conversations an hour per agent on the staffing plan, sized so that an agent's slots are
about half in use (a conversation holds a slot about 25 minutes from assignment to
resolution, an agent is available about 85% of the shift, four slots)."""

INCIDENT_BURST = 6
"""Conversations the incident's team receives in its first two minutes (on top of the usual
arrivals), so that its response clocks pass their targets whatever the hour; no more than the
slots of its smallest shift, so that the team works them off soon after it is back."""

WIND_DOWN_MS = 20 * MINUTE_MS
"""Before the end of a shift an agent takes no new conversations (status ``after_work``)."""

_FIRST_NAMES = ("Ana", "Bilal", "Chen", "Dara", "Emeka", "Fatima", "Giulia", "Hiro", "Ines",
                "Jonas", "Kavya", "Luis", "Mei", "Nadia", "Omar", "Priya")
_LAST_NAMES = ("Souza", "Khan", "Wang", "Murphy", "Okafor", "Haddad", "Rossi", "Tanaka",
               "Garcia", "Berg", "Iyer", "Moreno")
CHANNELS = (("chat", "email", "phone", "social"), (5, 3, 1, 1))
PRIORITIES = (("low", "normal", "high", "urgent"), (2, 6, 2, 1))


@dataclass(frozen=True)
class Shift:
    """A shift of the staffing plan, in the team's local time."""

    name: str
    start_hour: int
    """Local hour it starts (each agent within ±15 minutes of it)."""
    hours: float
    share: float
    """Share of the team's agents working it."""


SHIFTS: tuple[Shift, ...] = (
    Shift("night", 22, 8.5, 0.2),
    Shift("early", 6, 8.5, 0.3),
    Shift("day", 10, 8.5, 0.25),
    Shift("late", 14, 8.5, 0.25),
)
"""The staffing plan: consecutive shifts overlap by half an hour, so every hour is staffed;
most agents work from 06:00 to 22:30 local time."""


@dataclass(frozen=True)
class Incident:
    """``team`` goes offline from ``start_ms`` for ``duration_ms`` (epoch ms); its customers
    keep writing in, :data:`INCIDENT_BURST` of them at once when it starts."""

    team: str
    start_ms: int
    duration_ms: int

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_ms


@dataclass(frozen=True)
class IncidentPlan:
    """When the incident comes relative to the start of live traffic: ``team`` goes offline
    ``starts_after_s`` seconds after it (negative: within the backfill) for ``duration_s``."""

    team: str = "vip"
    starts_after_s: float = 300.0
    duration_s: float = 1500.0

    def at(self, now_ms: int) -> Incident:
        """The incident of live traffic that starts at ``now_ms`` (epoch ms)."""
        return Incident(self.team, now_ms + int(self.starts_after_s * 1000),
                        int(self.duration_s * 1000))


@dataclass(frozen=True)
class ResponseTargets:
    """Response targets in ms: first response per (team, priority), next response per
    (team, priority); what the desk's queues are ordered by."""

    first_ms: Mapping[tuple[str, str], int]
    next_ms: Mapping[tuple[str, str], int]

    @classmethod
    def from_config(cls, config: KpiConfig) -> ResponseTargets:
        """The targets ``config`` sets for the simulated teams."""
        first, following = {}, {}
        for team, _ in TEAMS:
            resolved = config.team(team)
            for priority in PRIORITIES[0]:
                first[team, priority] = resolved.sla_target("first_response", priority)[0]
                following[team, priority] = resolved.sla_target("next_response", priority)[0]
        return cls(first, following)


def _simulated_targets() -> ResponseTargets:
    return ResponseTargets.from_config(load_config(SIMULATED_CONFIG))


@dataclass(frozen=True)
class DeskShape:
    """A live desk: ``agents`` split over the first ``teams`` of :data:`TEAMS`, simulated from
    ``start_ms`` (epoch ms) on."""

    start_ms: int
    agents: int = 40
    teams: int = 4
    capacity: int = 5
    """Unresolved conversations an agent holds at most (the concurrency limit)."""
    per_agent_hour: float = CONVERSATIONS_PER_AGENT_HOUR
    """Conversations created an hour per agent on the staffing plan (sets the arrival rate)."""
    incident: Incident | None = None
    targets: ResponseTargets = field(default_factory=_simulated_targets)
    source: str = "simulator"
    id_prefix: str = ""
    """Put before every event and conversation id (runs with different prefixes share none)."""


@dataclass
class _Agent:
    name: str
    team: str
    shift: Shift
    status: str = "offline"
    on_shift: bool = False
    winding_down: bool = False
    held: set[str] = field(default_factory=set)
    last_assigned_ms: int = 0
    breaks: int = 0
    """Bumped when a break is scheduled or the agent goes offline: older break timers skip."""


@dataclass
class _Conversation:
    cid: str
    team: str
    channel: str
    priority: str
    created_ms: int
    deadline_ms: int
    """When the running response clock passes its target (queue order)."""
    exchanges: int
    """Customer follow-ups still to come."""
    agent: str | None = None
    turn: int = 0
    """Bumped on every (un)assignment: an agent's timer from an older turn does nothing."""
    needs: str | None = None
    """What the conversation waits for from an agent: ``respond``, ``resolve`` or None."""
    responded: bool = False
    first_wait_ms: int | None = None
    ended: bool = False
    resolved: bool = False
    queued: bool = False


def _local_start(day: datetime, shift: Shift, zone: ZoneInfo) -> int:
    local = datetime(day.year, day.month, day.day, shift.start_hour, tzinfo=zone)
    return int(local.timestamp() * 1000)


def agent_name(agent: str) -> str:
    """The simulated desk's name for ``agent-NNNN``: a first and last name, the same on every
    run (192 distinct), as a helpdesk's payload would carry it."""
    n = int(agent.rpartition("-")[2] or 0)
    first, rest = divmod(n, len(_FIRST_NAMES))
    return f"{_FIRST_NAMES[rest]} {_LAST_NAMES[first % len(_LAST_NAMES)]}"


def scheduled_agents(shape: DeskShape) -> list[tuple[str, str, Shift]]:
    """(agent, team, shift) of every agent: agents go round the teams (``agent-0000`` to the
    first team, ...), and each team's agents fill :data:`SHIFTS` by their shares (largest
    remainder)."""
    teams = [name for name, _ in TEAMS[: max(1, min(shape.teams, len(TEAMS)))]]
    members: dict[str, list[str]] = {team: [] for team in teams}
    for i in range(shape.agents):
        members[teams[i % len(teams)]].append(f"agent-{i:04d}")
    out = []
    for team, names in members.items():
        exact = [s.share * len(names) for s in SHIFTS]
        counts = [int(x) for x in exact]
        for i in sorted(range(len(SHIFTS)), key=lambda i: counts[i] - exact[i])[
                : len(names) - sum(counts)]:
            counts[i] += 1
        plan = [s for s, n in zip(SHIFTS, counts, strict=True) for _ in range(n)]
        out += [(name, team, shift) for name, shift in zip(names, plan, strict=True)]
    return out


def per_agent_hour_for(events_per_s: float, agents: int) -> float:
    """The ``per_agent_hour`` that makes ``agents`` on the staffing plan receive about
    ``events_per_s`` events a second over a day (each agent takes new work about 8 hours a
    day: a shift less its wind-down)."""
    taking_work_h = sum(s.share * (s.hours - WIND_DOWN_MS / HOUR_MS) for s in SHIFTS)
    per_hour = max(events_per_s, 0.01) * 3600 / EVENTS_PER_CONVERSATION
    return per_hour / (max(agents, 1) * taking_work_h / 24)


class _Desk:
    """The simulation: a heap of timed actions; each action emits events at its own time."""

    def __init__(self, shape: DeskShape, seed: int) -> None:
        self.shape = shape
        self.rng = random.Random(seed)
        self.seed = seed
        self.stream = _Stream(self.rng, shape.id_prefix)
        self.actions: list[tuple[int, int, Callable[[int], None]]] = []
        self.seq = 0
        self.agents: dict[str, _Agent] = {}
        for name, team, shift in scheduled_agents(shape):
            self.agents[name] = _Agent(name, team, shift)
        self.teams = sorted({a.team for a in self.agents.values()})
        self.by_team = {t: [a for a in self.agents.values() if a.team == t] for t in self.teams}
        self.on_plan = {t: 0 for t in self.teams}
        self.queues: dict[str, list[tuple[int, int, _Conversation]]] = {t: [] for t in self.teams}
        self.held_conversations: dict[str, _Conversation] = {}
        self.conversations = 0
        self.down: set[str] = set()
        incident = shape.incident
        if incident is not None and incident.team in self.by_team:
            self.at(max(incident.start_ms, shape.start_ms), self.incident_starts)
            self.at(max(incident.end_ms, shape.start_ms), self.incident_ends)
        self.planned_until = shape.start_ms - 2 * DAY_MS
        self.plan_shifts(shape.start_ms)
        self.at(shape.start_ms, self.arrive)

    # ------------------------------------------------------------------ machinery

    def at(self, at_ms: int, action: Callable[[int], None]) -> None:
        self.seq += 1
        heapq.heappush(self.actions, (at_ms, self.seq, action))

    def emit(self, at_ms: int, event: dict[str, Any]) -> None:
        agent = event.get("agent_id")
        if agent is not None:
            event["agent_name"] = agent_name(agent)
        self.stream.push(at_ms, event)

    def say(self, at_ms: int, conv: _Conversation, **fields: Any) -> None:
        self.emit(at_ms, {"conversation_id": conv.cid, "source": self.shape.source, **fields})

    def sec(self, low: int, high: int) -> int:
        return self.rng.randint(low, high) * SECOND_MS

    def run(self) -> Iterator[dict[str, Any]]:
        while self.actions:
            at_ms, _, action = heapq.heappop(self.actions)
            yield from self.stream.pop_until(at_ms)
            action(at_ms)

    # ------------------------------------------------------------------ staffing

    def plan_shifts(self, now_ms: int) -> None:
        """Schedule the shifts that start before the end of the next day (a shift under way
        at the start of the simulation starts then)."""
        horizon = now_ms + 2 * DAY_MS
        zones = dict(TEAMS)
        first = datetime.fromtimestamp((self.planned_until - DAY_MS) / 1000, UTC).date()
        last = datetime.fromtimestamp(horizon / 1000, UTC).date()
        day = first
        while day <= last:
            for agent in self.agents.values():
                zone = ZoneInfo(zones.get(agent.team, "UTC"))
                nominal = _local_start(datetime(day.year, day.month, day.day), agent.shift, zone)
                start = nominal + self.rng.randint(-15, 15) * MINUTE_MS
                end = start + int(agent.shift.hours * HOUR_MS)
                if not (self.planned_until <= nominal < horizon) or end <= self.shape.start_ms:
                    continue
                begin = max(start, self.shape.start_ms)
                self.at(begin, partial(self.shift_starts, agent=agent))
                self.at(max(begin, end - WIND_DOWN_MS), partial(self.winds_down, agent=agent))
                self.at(end, partial(self.shift_ends, agent=agent))
            day += timedelta(days=1)
        self.planned_until = horizon
        self.at(horizon - DAY_MS, self.plan_shifts)

    def set_status(self, at_ms: int, agent: _Agent, status: str) -> None:
        if agent.status == status:
            return
        agent.status = status
        self.emit(at_ms, {"type": "agent.status_changed", "agent_id": agent.name,
                          "status": status, "team": agent.team})

    def shift_starts(self, at_ms: int, agent: _Agent) -> None:
        agent.on_shift, agent.winding_down = True, False
        self.on_plan[agent.team] += 1
        if agent.team not in self.down:
            self.back_to_work(at_ms, agent)

    def back_to_work(self, at_ms: int, agent: _Agent) -> None:
        self.set_status(at_ms, agent, "after_work" if agent.winding_down else "available")
        agent.breaks += 1
        turn = agent.breaks
        self.at(at_ms + self.rng.randint(60, 120) * MINUTE_MS,
                lambda t: self.break_starts(t, agent, turn))
        self.dispatch(at_ms, agent.team)

    def break_starts(self, at_ms: int, agent: _Agent, turn: int) -> None:
        if turn != agent.breaks or agent.status != "available":
            return
        mates = [a for a in self.by_team[agent.team] if a is not agent and a.status == "available"]
        if not mates or self.queues[agent.team]:
            self.at(at_ms + 5 * MINUTE_MS, lambda t: self.break_starts(t, agent, turn))
            return
        self.set_status(at_ms, agent, self.rng.choice(("busy", "after_work"))
                        if agent.held else "away")
        self.at(at_ms + self.rng.randint(5, 15) * MINUTE_MS,
                lambda t: self.break_ends(t, agent, turn))

    def break_ends(self, at_ms: int, agent: _Agent, turn: int) -> None:
        if turn == agent.breaks and agent.on_shift and agent.team not in self.down:
            self.back_to_work(at_ms, agent)

    def winds_down(self, at_ms: int, agent: _Agent) -> None:
        agent.winding_down = True
        self.on_plan[agent.team] -= 1
        if agent.status == "available":
            self.set_status(at_ms, agent, "after_work")

    def shift_ends(self, at_ms: int, agent: _Agent) -> None:
        agent.on_shift = False
        self.goes_offline(at_ms, agent)

    def goes_offline(self, at_ms: int, agent: _Agent) -> None:
        """Offline; the conversations still needing a reply go back to the queue, the others
        wait unassigned for their customer."""
        agent.breaks += 1
        self.set_status(at_ms, agent, "offline")
        for cid in sorted(agent.held):
            conv = self.held_conversations.pop(cid)
            self.say(at_ms, conv, type="conversation.unassigned")
            conv.agent, conv.turn = None, conv.turn + 1
            if conv.needs is not None:
                self.enqueue(at_ms, conv)
        agent.held.clear()
        self.dispatch(at_ms, agent.team)

    def incident_starts(self, at_ms: int) -> None:
        assert self.shape.incident is not None
        team = self.shape.incident.team
        self.down.add(team)
        for agent in self.by_team[team]:
            if agent.status != "offline":
                self.goes_offline(at_ms, agent)
        for n in range(INCIDENT_BURST):
            self.at(at_ms + n * 20 * SECOND_MS, partial(self.creates, team=team))

    def incident_ends(self, at_ms: int) -> None:
        assert self.shape.incident is not None
        team = self.shape.incident.team
        self.down.discard(team)
        for agent in self.by_team[team]:
            if agent.on_shift:
                self.back_to_work(at_ms, agent)

    # ------------------------------------------------------------------ arrivals

    def rate_per_hour(self, team: str) -> float:
        """Conversations an hour the team's customers start now."""
        return self.shape.per_agent_hour * self.on_plan[team]

    def arrive(self, at_ms: int) -> None:
        rates = [self.rate_per_hour(t) for t in self.teams]
        total = sum(rates)
        if total > 0:
            team = self.rng.choices(self.teams, rates)[0]
            self.creates(at_ms, team)
            gap = self.rng.expovariate(total) * HOUR_MS
        else:
            gap = MINUTE_MS
        self.at(at_ms + max(1, int(gap)), self.arrive)

    def creates(self, at_ms: int, team: str) -> None:
        rng = self.rng
        channel = rng.choices(*CHANNELS)[0]
        priority = rng.choices(*PRIORITIES)[0]
        cid = f"{self.shape.id_prefix}conv-{self.seed}-{self.conversations}"
        self.conversations += 1
        conv = _Conversation(cid, team, channel, priority, at_ms,
                             at_ms + self.shape.targets.first_ms[team, priority],
                             exchanges=rng.choices((0, 1, 2, 3), (4, 3, 2, 1))[0],
                             needs="respond")
        self.say(at_ms, conv, type="conversation.created", channel=channel, priority=priority,
                 team=team, initiator="customer", customer_id=f"cust-{rng.randint(1, 10**6)}")
        self.say(at_ms + 1, conv, type="message.created", author="customer")
        if rng.random() < 0.3:
            self.say(at_ms + 2, conv, type="message.created", author="agent", automated=True)
        if channel in ("chat", "phone"):
            patience = int(rng.expovariate(1 / 45) * MINUTE_MS)
            self.at(at_ms + patience, lambda t: self.gives_up(t, conv))
        if channel == "chat" and rng.random() < 0.3:
            self.say(at_ms + 500, conv, type="message.created", author="bot")
            self.at(at_ms + self.sec(20, 300), lambda t: self.bot_decides(t, conv))
        else:
            self.enqueue(at_ms, conv)

    def bot_decides(self, at_ms: int, conv: _Conversation) -> None:
        if conv.ended:
            return
        if self.rng.random() < 0.4:
            self.say(at_ms, conv, type="conversation.status_changed", status="resolved",
                     by="bot")
            conv.ended = conv.resolved = True
            conv.needs = None
            if self.rng.random() < 0.2:
                self.say(at_ms + self.sec(10, 600), conv, type="rating.submitted",
                         survey="csat", score=self.rng.choices((1, 2, 3, 4, 5), (1, 1, 2, 4, 6))[0],
                         about="product")
            return
        self.say(at_ms, conv, type="conversation.handed_off")
        self.enqueue(at_ms, conv)

    def gives_up(self, at_ms: int, conv: _Conversation) -> None:
        """A chat or phone customer nobody answered within their patience leaves."""
        if conv.responded or conv.ended:
            return
        self.say(at_ms, conv, type="conversation.abandoned")
        conv.ended, conv.needs = True, None
        self.release(at_ms, conv)

    # ------------------------------------------------------------------ assignment

    def enqueue(self, at_ms: int, conv: _Conversation) -> None:
        if not conv.queued:
            conv.queued = True
            self.seq += 1
            heapq.heappush(self.queues[conv.team], (conv.deadline_ms, self.seq, conv))
        self.dispatch(at_ms, conv.team)

    def dispatch(self, at_ms: int, team: str) -> None:
        """Hand the most urgent waiting conversations to available agents with a free slot
        (the least loaded first, then the one idle longest)."""
        queue = self.queues[team]
        capacity = self.shape.capacity
        while queue and team not in self.down:
            free = [a for a in self.by_team[team]
                    if a.status == "available" and len(a.held) < capacity]
            if not free:
                return
            conv = heapq.heappop(queue)[2]
            conv.queued = False
            if conv.ended or conv.agent is not None or conv.needs is None:
                continue
            agent = min(free, key=lambda a: (len(a.held), a.last_assigned_ms, a.name))
            self.assign(at_ms, conv, agent, "pull" if self.rng.random() < 0.4 else "push")

    def assign(self, at_ms: int, conv: _Conversation, agent: _Agent, method: str) -> None:
        if conv.agent is not None:
            self.agents[conv.agent].held.discard(conv.cid)
        conv.agent, conv.turn = agent.name, conv.turn + 1
        agent.held.add(conv.cid)
        agent.last_assigned_ms = at_ms
        self.held_conversations[conv.cid] = conv
        self.say(at_ms, conv, type="conversation.assigned", agent_id=agent.name, team=conv.team,
                 method=method)
        self.agent_acts_later(at_ms, conv)

    def release(self, at_ms: int, conv: _Conversation) -> None:
        if conv.agent is not None:
            self.agents[conv.agent].held.discard(conv.cid)
            self.held_conversations.pop(conv.cid, None)
            conv.agent, conv.turn = None, conv.turn + 1
            self.dispatch(at_ms, conv.team)

    # ------------------------------------------------------------------ the conversation

    def agent_acts_later(self, at_ms: int, conv: _Conversation) -> None:
        """Schedule what ``conv`` needs from its agent: a reply within seconds to minutes
        (within 90 s when it would otherwise come later than two minutes before the deadline),
        or the resolution."""
        if conv.needs is None or conv.agent is None:
            return
        if conv.needs == "resolve":
            delay = self.sec(30, 600)
        else:
            delay = self.sec(20, 120) if conv.channel in ("chat", "phone") else self.sec(60, 600)
            if at_ms + delay > conv.deadline_ms - 2 * MINUTE_MS:
                delay = self.sec(20, 90)
        turn = conv.turn
        self.at(at_ms + delay, lambda t: self.agent_acts(t, conv, turn))

    def agent_acts(self, at_ms: int, conv: _Conversation, turn: int) -> None:
        if turn != conv.turn or conv.ended or conv.agent is None:
            return
        agent = conv.agent
        if conv.needs == "resolve":
            self.resolves(at_ms, conv, agent)
            return
        self.say(at_ms, conv, type="message.created", author="agent", agent_id=agent)
        if not conv.responded:
            conv.responded = True
            conv.first_wait_ms = at_ms - conv.created_ms
        if self.rng.random() < 0.1:
            self.say(at_ms + self.sec(5, 60), conv, type="message.created", author="agent",
                     agent_id=agent, internal=True)
        if conv.exchanges == 0:
            conv.needs = "resolve"
            self.agent_acts_later(at_ms, conv)
            return
        conv.exchanges -= 1
        conv.needs = None
        rng = self.rng
        if rng.random() < 0.15:
            self.say(at_ms + self.sec(5, 60), conv, type="conversation.status_changed",
                     status=rng.choices(("pending", "snoozed"), (2, 1))[0], by="agent",
                     agent_id=agent)
            back = at_ms + self.sec(300, 1800)
            self.at(back, lambda t: self.customer_writes(t, conv, reopens=True))
        else:
            gap = self.sec(30, 600) if conv.channel in ("chat", "phone") else self.sec(120, 1200)
            self.at(at_ms + 60 * SECOND_MS + gap,
                    lambda t: self.customer_writes(t, conv, reopens=False))

    def customer_writes(self, at_ms: int, conv: _Conversation, reopens: bool) -> None:
        if conv.ended:
            return
        self.say(at_ms, conv, type="message.created", author="customer")
        if reopens:
            self.say(at_ms + 1, conv, type="conversation.status_changed", status="open",
                     by="customer")
        conv.needs = "respond"
        conv.deadline_ms = at_ms + self.shape.targets.next_ms[conv.team, conv.priority]
        if conv.agent is None:
            self.enqueue(at_ms, conv)
            return
        mates = [a for a in self.by_team[conv.team] if a.name != conv.agent
                 and a.status == "available" and len(a.held) < self.shape.capacity]
        if mates and self.rng.random() < 0.03:
            self.assign(at_ms, conv, self.rng.choice(mates), "push")
        else:
            self.agent_acts_later(at_ms, conv)

    def resolves(self, at_ms: int, conv: _Conversation, agent: str) -> None:
        rng = self.rng
        self.say(at_ms, conv, type="conversation.status_changed", status="resolved",
                 by="agent", agent_id=agent)
        conv.resolved, conv.needs = True, None
        self.release(at_ms, conv)
        if not conv.ended and rng.random() < 0.05:
            conv.exchanges = 0
            self.at(at_ms + self.sec(600, 7200), lambda t: self.reopens(t, conv))
        conv.ended = True
        if rng.random() < 0.3:
            survey = rng.choices(("csat", "nps", "ces"), (6, 2, 2))[0]
            quick = (conv.first_wait_ms or 0) <= 10 * MINUTE_MS
            score = {"csat": rng.choices((1, 2, 3, 4, 5),
                                         (1, 1, 1, 4, 10) if quick else (3, 3, 2, 2, 1))[0],
                     "nps": rng.randint(6, 10) if quick else rng.randint(0, 8),
                     "ces": rng.randint(4, 7) if quick else rng.randint(1, 5)}[survey]
            about = rng.choices(("agent", "product", "unspecified"), (5, 2, 3))[0]
            self.say(at_ms + self.sec(60, 3600), conv, type="rating.submitted", survey=survey,
                     score=score, about=about,
                     **({"comment": COMMENTS[survey, score]} if (survey, score) in COMMENTS
                        else {}))
        if rng.random() < 0.6:
            close_at = at_ms + self.sec(7300, 36_000)
            self.at(close_at, lambda t: self.closes(t, conv))
        if rng.random() < 0.05:
            self.emit(at_ms + self.sec(3600, 36_000),
                      {"type": "review.submitted", "conversation_id": conv.cid,
                       "source": self.shape.source, "agent_id": agent,
                       "reviewer_id": "qa-lead", "score": rng.randint(50, 100)})

    def reopens(self, at_ms: int, conv: _Conversation) -> None:
        if not conv.resolved:
            return
        conv.ended = conv.resolved = False
        self.say(at_ms, conv, type="conversation.status_changed", status="open", by="customer")
        self.customer_writes(at_ms + 1, conv, reopens=False)

    def closes(self, at_ms: int, conv: _Conversation) -> None:
        if conv.resolved:
            self.say(at_ms, conv, type="conversation.status_changed", status="closed",
                     by="system")
            conv.resolved, conv.ended = False, True


def add_incident_arguments(parser: argparse.ArgumentParser) -> None:
    """``--incident-at``, ``--incident-minutes`` and ``--incident-team`` (the scheduled
    :class:`Incident`), as ``support-kpi simulate`` and ``make demo`` take them."""
    parser.add_argument("--incident-at", type=float, default=5.0, metavar="MIN",
                        help="the incident starts MIN minutes after the start of live traffic "
                        "(default 5; negative: within the backfill)")
    parser.add_argument("--incident-minutes", type=float, default=25.0, metavar="MIN",
                        help="how long the incident's team stays offline (default 25; 0: no "
                        "incident). Its SLA alerts need about 17 minutes to fire (a "
                        "15-minute response target, then 2 minutes pending) and resolve a "
                        "few minutes after the team is back")
    parser.add_argument("--incident-team", default="vip", metavar="TEAM",
                        choices=[name for name, _ in TEAMS],
                        help="the team that goes offline (default vip, whose 15-minute "
                        "first-response target shows soonest)")


def desk_events(shape: DeskShape, seed: int = 0,
                until_ms: int | None = None) -> Iterator[dict[str, Any]]:
    """The desk's events in ``at`` order, from ``shape.start_ms`` on: endless, or up to
    ``until_ms`` (epoch ms) when given."""
    limit = None if until_ms is None else iso(until_ms)
    for event in _Desk(shape, seed).run():
        if limit is not None and event["at"] >= limit:
            return
        yield event

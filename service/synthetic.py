"""Realistic synthetic helpdesk traffic, for the simulator, benchmarks and property tests.

Teams work day shifts in their own time zones (the ``vip`` team every day, the others on
weekdays); conversations arrive on chat and email, meet auto-replies and bots (which resolve
some chats on their own and hand the others over), get pulled or pushed to agents,
transferred, put on pending or snoozed, resolved, reopened, abandoned and rated; agents change
presence and receive QA reviews. The stream is deterministic for a seed and comes out in ``at``
order. (The live simulator's desk, where agents take work only while available and within a
concurrency limit, is :mod:`service.desk`.)
"""

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["SIMULATED_CONFIG", "TEAMS", "TrafficShape", "bot_loop", "generate_events", "iso",
           "presence_run"]

SIMULATED_CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "simulated.yaml"
"""The configuration of the simulated desk (its teams' time zones and SLA targets, pausing
while waiting on the customer): what ``make demo`` and ``make bench`` run with unless
``SUPPORT_KPI_CONFIG`` names another file."""

TEAMS: tuple[tuple[str, str], ...] = (
    ("billing", "Europe/Berlin"),
    ("tech", "America/New_York"),
    ("sales", "Asia/Tokyo"),
    ("vip", "UTC"),
)

COMMENTS: dict[tuple[str, int], str] = {
    ("csat", 1): "Nobody answered for hours and the problem is still there.",
    ("csat", 2): "Had to explain everything twice.",
    ("csat", 5): "Quick, friendly and it works now, thank you!",
    ("nps", 0): "Too many steps to get help.",
    ("nps", 10): "Best support I have had from any vendor.",
    ("ces", 7): "Very easy, one message and done.",
}
"""What a customer writes with some scores (chosen by the score: the random stream stays the
one of the events without comments)."""

MINUTE = 60_000
DAY = 24 * 60 * MINUTE


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def iso(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


@dataclass(frozen=True)
class TrafficShape:
    conversations: int = 1000
    agents: int = 40
    teams: int = 4
    start_ms: int = 1_709_546_400_000  # 2024-03-04T10:00:00Z, a Monday
    conversations_per_minute: float = 20.0
    source: str = "synthetic"

    @property
    def gap_ms(self) -> float:
        """The mean time between conversations created, in ms."""
        return 60_000 / self.conversations_per_minute


class _Stream:
    """Events in ``at`` order (ties: push order), each stamped with ``at`` and, unless it has
    one, the id ``{id_prefix}ev-{n}``."""

    def __init__(self, rng: random.Random, id_prefix: str = "") -> None:
        self.rng = rng
        self.heap: list[tuple[int, int, dict[str, Any]]] = []
        self.seq = 0
        self.id_prefix = id_prefix

    def push(self, at_ms: int, event: dict[str, Any]) -> None:
        self.seq += 1
        event["at"] = iso(at_ms)
        event.setdefault("id", f"{self.id_prefix}ev-{self.seq}")
        heapq.heappush(self.heap, (at_ms, self.seq, event))

    def pop_until(self, at_ms: int) -> Iterator[dict[str, Any]]:
        heap = self.heap
        while heap and heap[0][0] <= at_ms:
            yield heapq.heappop(heap)[2]


def _agent_names(shape: TrafficShape) -> list[tuple[str, str]]:
    teams = [name for name, _ in TEAMS[: max(1, min(shape.teams, len(TEAMS)))]]
    return [(f"agent-{i:04d}", teams[i % len(teams)]) for i in range(shape.agents)]


def _shifts(stream: _Stream, rng: random.Random, agents: list[tuple[str, str]],
            day_ms: int) -> None:
    """Each agent's shift on the local date that is current at noon UTC of ``day_ms``: starts
    between 08:00 and 10:00 in the team's time zone, lasts 6 to 9 hours, with breaks; weekends
    off except for the round-the-clock team."""
    zones = dict(TEAMS)
    for agent, team in agents:
        zone = ZoneInfo(zones.get(team, "UTC"))
        local_date = datetime.fromtimestamp((day_ms + 12 * 3_600_000) / 1000, zone).date()
        if local_date.weekday() >= 5 and team != "vip":
            continue
        begin = datetime.combine(local_date, time(8), zone).timestamp() * 1000
        at = int(begin) + rng.randint(0, 120) * MINUTE
        shift_end = at + rng.randint(360, 540) * MINUTE
        stream.push(at, {"type": "agent.status_changed", "agent_id": agent, "team": team,
                         "status": "available"})
        t = at + rng.randint(20, 90) * MINUTE
        while t < shift_end:
            status = rng.choice(("busy", "after_work", "away"))
            stream.push(t, {"type": "agent.status_changed", "agent_id": agent,
                            "status": status})
            t += rng.randint(3, 15) * MINUTE
            stream.push(t, {"type": "agent.status_changed", "agent_id": agent,
                            "status": "available"})
            t += rng.randint(20, 90) * MINUTE
        stream.push(shift_end, {"type": "agent.status_changed", "agent_id": agent,
                                "status": "offline"})


def _bot_front(rng: random.Random, push: Any, sec: Any, t: int) -> int:
    """A bot answers first: it resolves the conversation on its own (-1: nothing more
    happens, unless the customer comes back and reopens it, which hands it over) or hands it
    over to the human queue. Returns when the humans' part starts."""
    push(t + 500, type="message.created", author="bot")
    t += sec(20, 300)
    if rng.random() < 0.4:
        push(t, type="conversation.status_changed", status="resolved", by="bot")
        if rng.random() >= 0.15:
            if rng.random() < 0.2:
                push(t + sec(10, 600), type="rating.submitted", survey="csat",
                     score=rng.choices((1, 2, 3, 4, 5), (1, 1, 2, 4, 6))[0], about="product")
            return -1
        t += sec(300, 3600)
        push(t, type="conversation.status_changed", status="open", by="customer")
        push(t + 1, type="message.created", author="customer")
        return t + 1
    push(t, type="conversation.handed_off")
    return t


def _conversation(stream: _Stream, rng: random.Random, cid: str, at: int,
                  agents: list[tuple[str, str]], source: str) -> None:
    agent, team = rng.choice(agents)
    team_agents = [a for a, t in agents if t == team] or [agent]
    channel = rng.choices(("chat", "email", "phone", "social"), (5, 3, 1, 1))[0]
    priority = rng.choices(("low", "normal", "high", "urgent"), (2, 6, 2, 1))[0]
    initiator = "agent" if rng.random() < 0.05 else "customer"
    base = {"conversation_id": cid, "source": source}

    def push(t: int, **fields: Any) -> None:
        stream.push(t, {**base, **fields})

    def sec(low: int, high: int) -> int:
        return rng.randint(low, high) * 1000

    push(at, type="conversation.created", channel=channel, priority=priority, team=team,
         initiator=initiator, customer_id=f"cust-{rng.randint(1, 10**6)}")
    t = at
    if initiator == "customer":
        push(t + 1, type="message.created", author="customer")
        if rng.random() < 0.3:
            push(t + 2, type="message.created", author="agent", automated=True)
        if channel == "chat" and rng.random() < 0.3:
            t = _bot_front(rng, push, sec, t)
            if t < 0:
                return
        if channel in ("chat", "phone") and rng.random() < 0.06:
            push(t + sec(60, 900), type="conversation.abandoned")
            return
    t += sec(10, 600)
    method = "pull" if rng.random() < 0.4 else "push"
    push(t, type="conversation.assigned", agent_id=agent, team=team, method=method)
    t += sec(30, 1800) if channel == "chat" else sec(300, 7200)
    push(t, type="message.created", author="agent", agent_id=agent)
    responses = 1
    for _ in range(rng.choices((0, 1, 2, 3), (4, 3, 2, 1))[0]):
        if rng.random() < 0.15:
            push(t + sec(5, 60), type="conversation.status_changed",
                 status=rng.choices(("pending", "snoozed"), (2, 1))[0], by="agent",
                 agent_id=agent)
            t += sec(600, 10_800)
            push(t, type="message.created", author="customer")
            push(t + 1, type="conversation.status_changed", status="open", by="customer")
        else:
            t += sec(60, 3600)
            push(t, type="message.created", author="customer")
        if rng.random() < 0.1:
            push(t + sec(5, 120), type="message.created", author="agent", agent_id=agent,
                 internal=True)
        if rng.random() < 0.05:
            agent = rng.choice(team_agents)
            t += sec(30, 300)
            push(t, type="conversation.assigned", agent_id=agent, team=team, method="push")
        t += sec(20, 2400)
        push(t, type="message.created", author="agent", agent_id=agent)
        responses += 1
    t += sec(30, 1200)
    push(t, type="conversation.status_changed", status="resolved", by="agent", agent_id=agent)
    if rng.random() < 0.05:
        t += sec(600, 7200)
        push(t, type="conversation.status_changed", status="open", by="customer")
        push(t + 1, type="message.created", author="customer")
        t += sec(60, 3600)
        push(t, type="message.created", author="agent", agent_id=agent)
        t += sec(60, 600)
        push(t, type="conversation.status_changed", status="resolved", by="agent", agent_id=agent)
    if rng.random() < 0.3:
        survey = rng.choices(("csat", "nps", "ces"), (6, 2, 2))[0]
        score = {"csat": rng.choices((1, 2, 3, 4, 5), (1, 1, 2, 4, 8))[0],
                 "nps": rng.randint(0, 10), "ces": rng.randint(1, 7)}[survey]
        about = rng.choices(("agent", "product", "unspecified"), (5, 2, 3))[0]
        push(t + sec(60, 3600), type="rating.submitted", survey=survey, score=score, about=about,
             **({"comment": COMMENTS[survey, score]} if (survey, score) in COMMENTS else {}))
    if rng.random() < 0.6:
        push(t + sec(600, 36_000), type="conversation.status_changed", status="closed",
             by="system")
    if rng.random() < 0.05:
        push(t + sec(3600, 36_000), type="review.submitted", agent_id=agent,
             reviewer_id="qa-lead", score=rng.randint(50, 100))


def generate_events(shape: TrafficShape, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Events of ``shape.conversations`` conversations, in ``at`` order (presence from the day
    before the first conversation, so that shifts under way at the start are there)."""
    rng = random.Random(seed)
    stream = _Stream(rng)
    agents = _agent_names(shape)
    next_day = shape.start_ms - shape.start_ms % DAY - DAY
    at = float(shape.start_ms)
    for n in range(shape.conversations):
        at += rng.expovariate(1.0) * shape.gap_ms
        while next_day <= at + DAY:
            _shifts(stream, rng, agents, next_day)
            next_day += DAY
        yield from stream.pop_until(int(at))
        _conversation(stream, rng, f"conv-{seed}-{n}", int(at), agents,
                      shape.source)
    yield from (e for e in stream.pop_until(2**62) if e["type"] != "agent.status_changed"
                or _ms(e["at"]) <= at + DAY)


def bot_loop(cid: str, events: int, start_ms: int, step_ms: int = 300) -> list[dict[str, Any]]:
    """One busy conversation: created at ``start_ms``, then a bot and a customer's
    auto-responder answering each other every ``step_ms`` (``events`` events in all, in
    ``at`` order)."""
    base = {"conversation_id": cid, "team": "team-0"}
    out: list[dict[str, Any]] = [{**base, "id": f"{cid}-c", "type": "conversation.created",
                                  "at": iso(start_ms), "channel": "email"}]
    for n in range(1, events):
        author = "customer" if n % 2 else "bot"
        out.append({**base, "id": f"{cid}-{n}", "type": "message.created",
                    "at": iso(start_ms + n * step_ms), "author": author,
                    **({"automated": True} if author == "bot" else {})})
    return out


def presence_run(agent: str, count: int, team: str, start_ms: int,
                 step_ms: int) -> list[dict[str, Any]]:
    """One busy agent: ``count`` status changes from ``start_ms``, ``step_ms`` apart, in ``at``
    order; only the first names the team (the agent stays in it, SPEC §3)."""
    statuses = ("available", "busy", "available", "away")
    return [{"id": f"{agent}-{n}", "type": "agent.status_changed",
             "at": iso(start_ms + n * step_ms), "agent_id": agent, "status": statuses[n % 4],
             **({"team": team} if n == 0 else {})}
            for n in range(count)]

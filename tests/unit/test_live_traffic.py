"""The live simulator's desk works at any hour (issue 14: a demo started at 23:30 UTC showed
every team off shift and nothing resolved): every team is staffed at every hour, and the last
24 hours are sent first; the staff keeps up with them (issue 25)."""

import asyncio
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from service import publish
from service.desk import DeskShape, desk_events

HOUR = 3_600_000


def _ms(event: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(event["at"]).timestamp() * 1000)


def test_every_team_has_an_agent_on_shift_at_every_hour() -> None:
    start = int(datetime(2026, 12, 5, 23, 30, tzinfo=UTC).timestamp() * 1000)  # a Saturday
    status: dict[str, str] = {}
    team_of: dict[str, str] = {}
    checks = iter(range(start + 10 * 60_000, start + 30 * HOUR, 10 * 60_000))
    next_check = next(checks)
    unstaffed: list[tuple[int, set[str]]] = []
    for event in desk_events(DeskShape(start_ms=start), seed=3, until_ms=start + 30 * HOUR):
        while _ms(event) > next_check:
            on_shift = {team_of[a] for a, s in status.items() if s != "offline"}
            if on_shift != set(team_of.values()):
                unstaffed.append((next_check, set(team_of.values()) - on_shift))
            next_check = next(checks, 2**62)
        if event["type"] == "agent.status_changed":
            status[event["agent_id"]] = event["status"]
            team_of.setdefault(event["agent_id"], event.get("team", ""))
    assert len(set(team_of.values())) == 4
    assert unstaffed == []


def test_backfill_sends_the_past_day_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    class Live(Exception):
        """The first wait: what was due is out."""

    async def sleep(delay: float) -> None:
        slept.append(delay)
        raise Live

    monkeypatch.setattr(publish.asyncio, "sleep", sleep)
    now = datetime.now(UTC).timestamp() * 1000

    async def due() -> list[dict[str, Any]]:
        events = []
        with pytest.raises(Live):
            async for event in publish.live_traffic(None, 40, backfill_s=24 * 3600):
                events.append(event)
        return events

    events = asyncio.run(due())
    assert len(slept) == 1
    conversations = [e for e in events if "conversation_id" in e]
    assert min(_ms(e) for e in conversations) >= now - 24 * HOUR - 60_000
    assert max(_ms(e) for e in events) <= now + 60_000
    created = Counter((now - _ms(e)) // HOUR for e in events if e["type"] == "conversation.created")
    assert all(created[hours_ago] > 0 for hours_ago in range(24)), created
    ended = {e["conversation_id"] for e in conversations if now - _ms(e) < 2 * HOUR and (
        e["type"] == "conversation.abandoned" or e.get("status") == "resolved")}
    assert len(ended) >= 0.8 * (created[1] + created[2]), "the staff keeps up"


def test_a_second_run_never_repeats_the_ids_of_the_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service drops an event whose id it has seen: a restarted simulator that repeated
    its ids (conv-0-0, ev-1, ...) would feed it nothing new."""
    clock = [1_796_400_000.0]

    async def sleep(delay: float) -> None:
        clock[0] += delay  # the simulated wall clock reaches the next event at once

    monkeypatch.setattr(publish.time, "time", lambda: clock[0])
    monkeypatch.setattr(publish.asyncio, "sleep", sleep)

    async def first_ids() -> set[str]:
        ids: set[str] = set()
        async for event in publish.live_traffic(None, 40):
            ids.update(v for k, v in event.items() if k in ("id", "conversation_id"))
            if len(ids) > 200:
                return ids
        return ids

    first = asyncio.run(first_ids())
    clock[0] = 1_796_400_060.0  # restarted a minute later
    runs = [first, asyncio.run(first_ids())]
    assert runs[0] and runs[1] and not runs[0] & runs[1]

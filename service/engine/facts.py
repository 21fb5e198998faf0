"""Facts: what a conversation contributes to the KPIs, each with a deterministic id.

A fact is a tuple ``(fact_id, kind, at_ms, team, agent, *values)``. ``at_ms`` is the time of
its stop event, which places it in a pane. A conversation emits *changes* ``(old, new)``: an
added fact has ``old=None``, a retracted one ``new=None``; a late event that changes a fact
already counted emits both, so the aggregates subtract the old contribution and add the new.
Ids are stable across processes and restarts, so a consumer can de-duplicate by id.
"""

from typing import Any

__all__ = [
    "F_ABANDONED",
    "F_AFTER_HANDOFF",
    "F_ASSIGNED",
    "F_BOT_RESOLVED",
    "F_BUSY",
    "F_CLOSED",
    "F_CREATED",
    "F_FIRST_RESPONSE",
    "F_FULL_RESOLVED",
    "F_HANDED_OFF",
    "F_NEXT_RESPONSE",
    "F_RATING",
    "F_REOPENED",
    "F_RESOLVED",
    "F_REVIEW",
    "Fact",
    "FactChange",
    "fact_set_changes",
]

Fact = tuple[Any, ...]
FactChange = tuple[Fact | None, Fact | None]

F_CREATED = 0  # ()
F_ASSIGNED = 1  # (pulled: 0|1,)
F_FIRST_RESPONSE = 2  # (ms, business_ms, sla_achieved: 0|1)
F_NEXT_RESPONSE = 3  # (ms, business_ms, sla_achieved: 0|1)
F_RESOLVED = 4  # (ms, business_ms, sla_achieved, wait_ms, fcr: None|0|1, wait_business_ms)
F_CLOSED = 5  # (ms|None,)
F_REOPENED = 6  # ()
F_ABANDONED = 7  # ()
F_RATING = 8  # (survey, score, about)
F_REVIEW = 9  # (score_milli,)
F_BUSY = 10  # (start_ms, end_ms|None): the agent is assignee while a response is awaited
F_FULL_RESOLVED = 11  # (ms, business_ms): created → the latest resolution; one per conversation
F_HANDED_OFF = 12  # (): the first handoff (explicit, or the reopen of a bot resolution)
F_BOT_RESOLVED = 13  # (): a first resolution by the bot alone; retracted by a reopen
F_AFTER_HANDOFF = 14  # (ms, business_ms): the first handoff → the next human response


def fact_set_changes(before: dict[str, Fact], after: dict[str, Fact]) -> list[FactChange]:
    """The changes that turn one set of facts (by id) into another."""
    changes: list[FactChange] = []
    for fid, old in before.items():
        new = after.get(fid)
        if new != old:
            changes.append((old, new))
    for fid, new in after.items():
        if fid not in before:
            changes.append((None, new))
    return changes

"""One row per conversation from the history database (SPEC §8): its ids, team, agents,
attributes, timestamps, durations, reopens, replies, handoff, SLA results and ratings — the
columns of dbt_zendesk's ``zendesk__ticket_metrics`` and the KPIs of SPEC §3, from the
conversation's current facts.

A conversation belongs to the period of its creation (its ``created`` fact), or without one
(created before the history begins) of its earliest fact.
"""

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import duckdb
import orjson

from service.engine.facts import (
    F_ABANDONED,
    F_AFTER_HANDOFF,
    F_ASSIGNED,
    F_BOT_RESOLVED,
    F_CLOSED,
    F_CREATED,
    F_FIRST_RESPONSE,
    F_FULL_RESOLVED,
    F_HANDED_OFF,
    F_NEXT_RESPONSE,
    F_RATING,
    F_REOPENED,
    F_RESOLVED,
    Fact,
    fact_from,
)
from service.engine.records import format_time
from service.history.database import HistoryError, held_span
from service.history.ledger import Attributes

__all__ = ["COLUMNS", "FILTERS", "conversation_row", "conversation_rows", "conversations_table"]

COLUMNS: tuple[str, ...] = (
    "conversation_id", "team", "channel", "priority", "customer_id", "source",
    "created_at", "first_response_at", "first_resolution_at", "latest_resolution_at",
    "closed_at",
    "first_response_seconds", "first_response_business_seconds",
    "next_responses", "next_response_avg_seconds", "next_response_avg_business_seconds",
    "resolution_seconds", "resolution_business_seconds",
    "full_resolution_seconds", "full_resolution_business_seconds",
    "wait_seconds", "wait_business_seconds", "time_to_close_seconds",
    "first_response_after_handoff_seconds", "first_response_after_handoff_business_seconds",
    "replies", "reopens", "assignments", "assignees", "responders", "one_touch",
    "handed_off", "bot_resolved", "abandoned",
    "sla_first_response", "sla_next_response_breached", "sla_resolution",
    "csat", "nps", "ces", "rating_comments",
)
"""The columns, in order. Times are RFC 3339 UTC; durations seconds; ``assignees`` and
``responders`` the agents in order of their first assignment or response, joined by ``|``;
``sla_*`` ``achieved`` or ``breached`` (None without a clock); ratings the latest score of each
survey."""

_TIMES = frozenset(c for c in COLUMNS if c.endswith("_at"))
_COUNTS = frozenset({"next_responses", "replies", "reopens", "assignments",
                     "sla_next_response_breached", "csat", "nps", "ces"})
_FLAGS = frozenset({"one_touch", "handed_off", "bot_resolved", "abandoned"})


def conversations_table(rows: Sequence[dict[str, Any]]) -> Any:
    """The rows as an Arrow table with a fixed schema (times as UTC timestamps in ms, counts
    as integers, seconds as doubles, flags as booleans, the rest strings), for Parquet."""
    import pyarrow as pa

    def kind(column: str) -> Any:
        if column in _TIMES:
            return pa.timestamp("ms", tz="UTC")
        if column in _COUNTS:
            return pa.int64()
        if column in _FLAGS:
            return pa.bool_()
        return pa.float64() if column.endswith("_seconds") else pa.string()

    def values(column: str) -> list[Any]:
        if column in _TIMES:
            return [None if row[column] is None
                    else datetime.fromisoformat(row[column].replace("Z", "+00:00"))
                    for row in rows]
        return [row[column] for row in rows]

    schema = pa.schema([(column, kind(column)) for column in COLUMNS])
    return pa.table([pa.array(values(column), schema.field(column).type)
                     for column in COLUMNS], schema=schema)


FILTERS = {"team": "team", "agent": "agent", "channel": "channel", "priority": "priority",
           "customer": "customer_id"}
"""Filter name → column: ``team`` and ``agent`` keep conversations with any fact of theirs,
the others filter by the conversation's attributes."""


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


def _time(at_ms: int | None) -> str | None:
    return None if at_ms is None else format_time(at_ms)


def _sla(achieved: int | None) -> str | None:
    return None if achieved is None else ("achieved" if achieved else "breached")


def _distinct(names: Iterable[str | None]) -> str | None:
    seen = list(dict.fromkeys(name for name in names if name is not None))
    return "|".join(seen) if seen else None


def conversation_row(conversation_id: str, facts: Sequence[Fact],
                     attributes: Attributes | None) -> dict[str, Any]:
    """The row of one conversation from its facts (in ``at`` order) and attributes (None
    without its ``conversation.created``)."""
    by_kind: dict[int, list[Any]] = {}
    for fact in facts:
        by_kind.setdefault(fact.kind, []).append(fact)

    def first(kind: int) -> Any:
        found = by_kind.get(kind)
        return found[0] if found else None

    created, response = first(F_CREATED), first(F_FIRST_RESPONSE)
    resolved, full, closed = first(F_RESOLVED), first(F_FULL_RESOLVED), first(F_CLOSED)
    handoff = first(F_AFTER_HANDOFF)
    nexts = by_kind.get(F_NEXT_RESPONSE, [])
    ratings = {r.survey: r.score for r in by_kind.get(F_RATING, [])}
    teams = [f.team for f in facts if f.team is not None]
    responses = [response] if response is not None else []
    return {
        "conversation_id": conversation_id, "team": teams[-1] if teams else None,
        "channel": attributes and attributes.channel,
        "priority": attributes and attributes.priority,
        "customer_id": attributes and attributes.customer_id,
        "source": attributes and attributes.source,
        "created_at": _time(created.at if created else None),
        "first_response_at": _time(response.at if response else None),
        "first_resolution_at": _time(resolved.at if resolved else None),
        "latest_resolution_at": _time(full.at if full else None),
        "closed_at": _time(closed.at if closed else None),
        "first_response_seconds": _seconds(response.ms if response else None),
        "first_response_business_seconds": _seconds(response.business_ms if response else None),
        "next_responses": len(nexts),
        "next_response_avg_seconds": (sum(n.ms for n in nexts) / len(nexts) / 1000
                                      if nexts else None),
        "next_response_avg_business_seconds": (sum(n.business_ms for n in nexts) / len(nexts)
                                               / 1000 if nexts else None),
        "resolution_seconds": _seconds(resolved.ms if resolved else None),
        "resolution_business_seconds": _seconds(resolved.business_ms if resolved else None),
        "full_resolution_seconds": _seconds(full.ms if full else None),
        "full_resolution_business_seconds": _seconds(full.business_ms if full else None),
        "wait_seconds": _seconds(resolved.wait_ms if resolved else None),
        "wait_business_seconds": _seconds(resolved.wait_business_ms if resolved else None),
        "time_to_close_seconds": _seconds(closed.ms if closed else None),
        "first_response_after_handoff_seconds": _seconds(handoff.ms if handoff else None),
        "first_response_after_handoff_business_seconds": _seconds(
            handoff.business_ms if handoff else None),
        "replies": len(responses) + len(nexts),
        "reopens": len(by_kind.get(F_REOPENED, [])),
        "assignments": len(by_kind.get(F_ASSIGNED, [])),
        "assignees": _distinct(f.agent for f in by_kind.get(F_ASSIGNED, [])),
        "responders": _distinct(f.agent for f in [*responses, *nexts]),
        "one_touch": None if resolved is None or resolved.fcr is None else bool(resolved.fcr),
        "handed_off": F_HANDED_OFF in by_kind, "bot_resolved": F_BOT_RESOLVED in by_kind,
        "abandoned": F_ABANDONED in by_kind,
        "sla_first_response": _sla(response.sla_achieved if response else None),
        "sla_next_response_breached": sum(1 for n in nexts if not n.sla_achieved),
        "sla_resolution": _sla(resolved.sla_achieved if resolved else None),
        "csat": ratings.get("csat"), "nps": ratings.get("nps"), "ces": ratings.get("ces"),
        "rating_comments": " | ".join(r.comment for r in by_kind.get(F_RATING, [])
                                      if r.comment) or None,
    }


def conversation_rows(connection: duckdb.DuckDBPyConnection, start_ms: int, end_ms: int,
                      filters: dict[str, str]) -> Iterator[dict[str, Any]]:
    """The rows of the conversations of ``[start_ms, end_ms)`` that pass ``filters`` (names of
    :data:`FILTERS` → value), by conversation id. Raises HistoryError naming a team or agent
    the history does not know, or a database whose backfill did not finish."""
    held_span(connection)
    for name in ("team", "agent"):
        if name in filters:
            (known,) = connection.execute(
                f"SELECT count(*) FROM facts WHERE {name} = ?", [filters[name]]).fetchone() or (0,)
            if not known:
                held = [row[0] for row in connection.execute(
                    f"SELECT DISTINCT {name} FROM facts WHERE {name} IS NOT NULL ORDER BY 1 "
                    "LIMIT 21").fetchall()]
                listed = ", ".join(held[:20]) + (", …" if len(held) > 20 else "")
                raise HistoryError(f"no {name} {filters[name]!r} in the history; the {name}s "
                                   f"it holds: {listed or 'none'}")
    where = ["s.start_ms >= ?", "s.start_ms < ?"]
    parameters: list[Any] = [start_ms, end_ms]
    for name, value in filters.items():
        column = FILTERS[name]
        if name in ("team", "agent"):
            where.append(f"s.conversation_id IN (SELECT conversation_id FROM facts "
                         f"WHERE {column} = ?)")
        else:
            where.append(f"c.{column} = ?")
        parameters.append(value)
    cursor = connection.execute(
        "WITH s AS (SELECT conversation_id, coalesce(min(at_ms) FILTER (kind = 'created'), "
        "min(at_ms)) AS start_ms FROM facts WHERE conversation_id IS NOT NULL GROUP BY 1) "
        "SELECT f.conversation_id, f.fact, c.channel, c.priority, c.customer_id, c.source "
        "FROM s JOIN facts f USING (conversation_id) "
        "LEFT JOIN conversations c USING (conversation_id) "
        f"WHERE {' AND '.join(where)} ORDER BY f.conversation_id, f.at_ms, f.fact_id",
        parameters)
    current: str | None = None
    facts: list[Fact] = []
    attributes: Attributes | None = None
    while rows := cursor.fetchmany(10_000):
        for cid, fact, channel, priority, customer, source in rows:
            if cid != current:
                if current is not None:
                    yield conversation_row(current, facts, attributes)
                current, facts = cid, []
                attributes = (None if channel is None
                              else Attributes(channel, priority, customer, source))
            facts.append(fact_from(orjson.loads(fact)))
    if current is not None:
        yield conversation_row(current, facts, attributes)

"""SLA time: what a clock counts between two instants (SPEC §3, §5).

Elapsed milliseconds, or business milliseconds of a team's calendar, less the stretches spent
in a status of the target's ``pause_while``. The fold judges stopped clocks with it, the live
counts and the queue running ones, so every SLA number comes from this one place.
"""

from collections.abc import Iterable
from typing import NamedTuple, Protocol

__all__ = ["BUSINESS_END_MS", "Calendar", "TeamPolicy", "TeamRules", "Wait", "business_ms",
           "sla_elapsed_ms"]


class Wait(NamedTuple):
    """A stretch in a waiting status (pending or snoozed), epoch ms."""

    start: int
    stop: int | None
    """None while it lasts."""
    status: str


class Calendar(Protocol):
    def business_ms(self, start_ms: int, end_ms: int) -> int: ...


BUSINESS_END_MS = 253_394_352_000_000
"""9999-10-01T00:00:00Z in epoch ms. The calendar looks up UTC offsets 64 days at a time and
cannot look past 9999-12-31, so business time is counted up to this instant only (later
instants count as outside business hours)."""


def business_ms(calendar: Calendar, start_ms: int, end_ms: int) -> int:
    """Business ms of [start_ms, end_ms) (epoch ms), counted up to :data:`BUSINESS_END_MS`."""
    return calendar.business_ms(min(start_ms, BUSINESS_END_MS), min(end_ms, BUSINESS_END_MS))


def sla_elapsed_ms(
    calendar: Calendar, business: bool, pause_while: frozenset[str], waits: Iterable[Wait],
    start: int, stop: int,
) -> int:
    """The milliseconds an SLA counts between ``start`` and ``stop`` (SPEC §3): business ms
    when ``business`` (else elapsed ms), less those spent in a status of ``pause_while``."""
    counted = business_ms(calendar, start, stop) if business else stop - start
    if pause_while:
        for wait_start, wait_stop, status in waits:
            if status not in pause_while:
                continue
            a = max(wait_start, start)
            b = stop if wait_stop is None else min(wait_stop, stop)
            if a < b:
                counted -= business_ms(calendar, a, b) if business else b - a
    return counted


class TeamRules(Protocol):
    @property
    def calendar(self) -> Calendar: ...
    def sla_target(self, kind: str, priority: str) -> tuple[int, bool]: ...
    def sla_pause_while(self, kind: str, priority: str) -> frozenset[str]: ...


class TeamPolicy(Protocol):
    """What the fold needs of the configuration (``service.config.KpiConfig``): a team's
    business-hours calendar and SLA targets."""

    def team(self, name: str | None) -> TeamRules: ...

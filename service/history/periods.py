"""Calendar periods of a history report (SPEC §8): days, ISO weeks (from Monday) or calendar
months in a timezone, and the period before each."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from service.engine.records import to_epoch_ms

__all__ = ["GROUPINGS", "Period", "parse_bound", "periods", "previous"]

Grouping = Literal["day", "week", "month"]
GROUPINGS: tuple[Grouping, ...] = ("day", "week", "month")


@dataclass(frozen=True, slots=True)
class Period:
    """``[start_ms, end_ms)``, epoch ms."""

    start_ms: int
    end_ms: int


def parse_bound(text: str, tz: ZoneInfo) -> int:
    """Epoch ms of a period bound: a date (``2024-03-04``: its midnight in ``tz``) or an RFC 3339
    time with offset. ValueError saying how to write it otherwise."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is not None and len(text) == 10:
        return to_epoch_ms(datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither a date (2024-03-04) nor an RFC 3339 time "
                         "(2024-03-04T18:00:00Z)") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; add Z or +HH:MM, or give a date")
    return to_epoch_ms(moment.astimezone(UTC))


def _local(ms: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz)


def _ms(moment: datetime) -> int:
    return to_epoch_ms(moment.astimezone(UTC))


def _unit_start(moment: datetime, by: Grouping) -> datetime:
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0, fold=0)
    if by == "week":
        day -= timedelta(days=day.weekday())
    elif by == "month":
        day = day.replace(day=1)
    return day.replace(tzinfo=moment.tzinfo)


def _shift(moment: datetime, by: Grouping, units: int) -> datetime:
    """``moment`` (local wall time) ``units`` days, weeks or months later (a month's day
    clamped to its length)."""
    if by == "day":
        return moment + timedelta(days=units)
    if by == "week":
        return moment + timedelta(weeks=units)
    months = moment.year * 12 + moment.month - 1 + units
    year, month = divmod(months, 12)
    month += 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last))


def periods(start_ms: int, end_ms: int, by: Grouping | None, tz: ZoneInfo) -> list[Period]:
    """``[start_ms, end_ms)`` as one period, or cut at the day, week or month boundaries of
    ``tz`` (the first and last periods may be partial)."""
    if by is None:
        return [Period(start_ms, end_ms)]
    out: list[Period] = []
    boundary = _unit_start(_local(start_ms, tz), by)
    while _ms(boundary) < end_ms:
        following = _shift(boundary, by, 1)
        out.append(Period(max(start_ms, _ms(boundary)), min(end_ms, _ms(following))))
        boundary = following
    return out


def previous(period: Period, by: Grouping | None, tz: ZoneInfo) -> Period:
    """The period before: one day, week or month earlier in ``tz``'s wall time, or without a
    grouping the span of the same length that ends where ``period`` starts."""
    if by is None:
        return Period(2 * period.start_ms - period.end_ms, period.start_ms)
    return Period(_ms(_shift(_local(period.start_ms, tz), by, -1)),
                  _ms(_shift(_local(period.end_ms, tz), by, -1)))

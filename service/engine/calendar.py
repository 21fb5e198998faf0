"""Business-hours calendars: how many milliseconds of a UTC span fall inside a team's hours.

Semantics (the contract the tests check against a minute-by-minute reference):

An instant is *business time* when its local wall-clock time, as the team's time zone shows it
at that instant, lies inside one of the intervals of its local weekday and its local date is
not a holiday. Consequences around daylight-saving changes:

- Spring forward (a gap, e.g. Berlin 02:00 -> 03:00): wall times inside the gap never occur,
  so they are never counted. A 24/7 calendar counts 23 h for that local day; 09:00-17:00 still
  counts 8 h; an interval 02:00-03:00 counts nothing that day.
- Fall back (a fold, e.g. Berlin 03:00 -> 02:00): the repeated wall times occur twice, and both
  passes count if they are business hours. A 24/7 calendar counts 25 h for that local day.

This is exact for every offset, including zones whose DST shift is not a whole hour. The one
simplification: offset changes are located by sampling once per day, so two changes within the
same 24 hours that cancel out are not seen (no zone in the tz database does that).

Speed: the UTC offset history is computed once per 64-day chunk and per zone, and shared. Within
a span of constant offset the business time is a difference of a closed-form cumulative function
of wall time (whole weeks times the weekly total, minus whole holidays before the day, plus the
part of the day), so the cost does not grow with the length of the span except by one step per
offset change and per chunk.
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "MINUTES_PER_DAY",
    "WEEKDAY_NAMES",
    "BusinessCalendar",
    "HoursError",
    "parse_hours",
]

MINUTES_PER_DAY = 1440
WEEKDAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_DAY_MS = 86_400_000
_MINUTE_MS = 60_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# 1970-01-01 was a Thursday (weekday 3); adding 3 makes day numbers count from a Monday.
_WEEKDAY_SHIFT = 3
_CHUNK_DAYS = 64
_CHUNK_MS = _CHUNK_DAYS * _DAY_MS
_FULL_DAY: tuple[tuple[int, int], ...] = ((0, MINUTES_PER_DAY),)

_Intervals = tuple[tuple[int, int], ...]
_OffsetChunk = tuple[tuple[int, ...], tuple[int, ...]]


class HoursError(ValueError):
    """A business-hours specification is invalid; `day` is the offending weekday key."""

    def __init__(self, day: str, reason: str) -> None:
        super().__init__(f"{day}: {reason}")
        self.day = day
        self.reason = reason


def _validate_intervals(day: str, intervals: Iterable[tuple[int, int]]) -> _Intervals:
    result = sorted((int(a), int(b)) for a, b in intervals)
    for a, b in result:
        if not 0 <= a < b <= MINUTES_PER_DAY:
            raise HoursError(
                day,
                f"interval {_fmt_minutes(a)}-{_fmt_minutes(b)} must satisfy "
                "00:00 <= start < end <= 24:00",
            )
    for (a1, b1), (a2, b2) in itertools.pairwise(result):
        if a2 < b1:
            raise HoursError(
                day,
                f"intervals {_fmt_minutes(a1)}-{_fmt_minutes(b1)} and "
                f"{_fmt_minutes(a2)}-{_fmt_minutes(b2)} overlap",
            )
    return tuple(result)


def _fmt_minutes(m: int) -> str:
    return f"{m // 60:02d}:{m % 60:02d}"


_INTERVAL_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def _parse_interval(day: str, text: object) -> tuple[int, int]:
    if not isinstance(text, str):
        raise HoursError(day, f"expected an 'HH:MM-HH:MM' string, got {text!r}")
    m = _INTERVAL_RE.match(text)
    if m is None:
        raise HoursError(day, f"{text!r} is not in the form 'HH:MM-HH:MM'")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59:
        raise HoursError(day, f"{text!r}: start must be between 00:00 and 23:59")
    if m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise HoursError(day, f"{text!r}: end must be between 00:00 and 24:00")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start >= end:
        raise HoursError(
            day,
            f"{text!r}: start must be before end (split an overnight shift across two days, "
            "e.g. '22:00-24:00' and '00:00-06:00' on the next day)",
        )
    return start, end


def parse_hours(spec: Mapping[str, Sequence[str]]) -> dict[int, list[tuple[int, int]]]:
    """Parse the YAML form ``{mon: ["09:00-12:00", "13:00-17:00"], ...}``.

    Keys are the weekday names mon..sun (case-insensitive); a missing day is closed, as is an
    empty list. Intervals are minutes since local midnight, sorted; "24:00" is allowed as an end.
    Raises `HoursError` (a ValueError) naming the weekday and the reason.
    """
    if not isinstance(spec, Mapping):
        raise HoursError("business_hours", f"expected a mapping of weekday -> list, got {spec!r}")
    result: dict[int, list[tuple[int, int]]] = {}
    for key, value in spec.items():
        name = key.strip().lower() if isinstance(key, str) else key
        if name not in WEEKDAY_NAMES:
            raise HoursError(
                str(key), f"unknown weekday, expected one of {', '.join(WEEKDAY_NAMES)}"
            )
        wd = WEEKDAY_NAMES.index(name)
        if wd in result:
            raise HoursError(str(key), "weekday given more than once")
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise HoursError(str(key), f"expected a list of 'HH:MM-HH:MM' strings, got {value!r}")
        intervals = [_parse_interval(str(key), item) for item in value]
        result[wd] = list(_validate_intervals(str(key), intervals))
    return result


def _utcoffset_ms(tz: ZoneInfo, t_ms: int) -> int:
    off = datetime.fromtimestamp(t_ms // 1000, tz).utcoffset()
    if off is None:  # pragma: no cover - ZoneInfo always answers
        return 0
    return (off.days * 86_400 + off.seconds) * 1000 + off.microseconds // 1000


@lru_cache(maxsize=16_384)
def _offset_chunk(tz_name: str, chunk: int) -> _OffsetChunk:
    """UTC offsets of a zone over [chunk * 64 days, (chunk + 1) * 64 days) in epoch ms.

    Returns (starts, offsets): offsets[i] applies from starts[i] (starts[0] is the chunk start)
    up to the next start. Changes are found by sampling once a day and bisecting to the second
    (the tz database has whole-second transitions).
    """
    tz = ZoneInfo(tz_name)
    lo = chunk * _CHUNK_MS
    starts = [lo]
    offsets = [_utcoffset_ms(tz, lo)]
    prev_t, prev_o = lo, offsets[0]
    for k in range(1, _CHUNK_DAYS + 1):
        t = lo + k * _DAY_MS if k < _CHUNK_DAYS else lo + _CHUNK_MS - 1000
        o = _utcoffset_ms(tz, t)
        while o != prev_o:
            lo_s, hi_s = prev_t // 1000, t // 1000
            while hi_s - lo_s > 1:
                mid = (lo_s + hi_s) // 2
                if _utcoffset_ms(tz, mid * 1000) == prev_o:
                    lo_s = mid
                else:
                    hi_s = mid
            prev_t = hi_s * 1000
            prev_o = _utcoffset_ms(tz, prev_t)
            starts.append(prev_t)
            offsets.append(prev_o)
        prev_t = t
    return tuple(starts), tuple(offsets)


def _load_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {name!r}") from None


class BusinessCalendar:
    """A team's weekly business hours in its time zone, minus holidays. Immutable and hashable.

    `hours` maps weekday (0 = Monday .. 6 = Sunday) to intervals in minutes since local
    midnight (end may be 1440); several intervals make a split day; a missing weekday is
    closed. `holidays` are local dates, closed all day. See the module docstring for DST.
    """

    __slots__ = (
        "_always",
        "_chunks",
        "_day_ms",
        "_hash",
        "_hol_days",
        "_hol_prefix",
        "_week_prefix",
        "_week_total",
        "holidays",
        "hours",
        "timezone",
    )

    timezone: str
    hours: tuple[_Intervals, ...]
    holidays: frozenset[date]
    _always: bool
    _chunks: dict[int, _OffsetChunk]
    _day_ms: tuple[_Intervals, ...]
    _hash: int
    _hol_days: tuple[int, ...]
    _hol_prefix: tuple[int, ...]
    _week_prefix: tuple[int, ...]
    _week_total: int

    def __init__(
        self,
        timezone: str,
        hours: Mapping[int, Sequence[tuple[int, int]]],
        holidays: Iterable[date] = frozenset(),
    ) -> None:
        _load_zone(timezone)
        days: list[_Intervals] = [() for _ in range(7)]
        for wd, intervals in hours.items():
            if not isinstance(wd, int) or not 0 <= wd <= 6:
                raise ValueError(f"weekday must be an int 0 (Monday) .. 6 (Sunday), got {wd!r}")
            name = WEEKDAY_NAMES[wd]
            days[wd] = _validate_intervals(name, intervals)
        hol = frozenset(holidays)
        for h in hol:
            if not isinstance(h, date) or isinstance(h, datetime):
                raise ValueError(f"holidays must be dates, got {h!r}")

        day_ms = tuple(tuple((a * _MINUTE_MS, b * _MINUTE_MS) for a, b in d) for d in days)
        day_totals = [sum(b - a for a, b in d) for d in day_ms]
        week_prefix = [0]
        for total in day_totals:
            week_prefix.append(week_prefix[-1] + total)
        hol_days = sorted(h.toordinal() - _EPOCH_ORDINAL for h in hol)
        hol_prefix = [0]
        for d in hol_days:
            hol_prefix.append(hol_prefix[-1] + day_totals[(d + _WEEKDAY_SHIFT) % 7])

        s = object.__setattr__
        s(self, "timezone", timezone)
        s(self, "hours", tuple(days))
        s(self, "holidays", hol)
        s(self, "_always", not hol and all(d == _FULL_DAY for d in days))
        s(self, "_day_ms", day_ms)
        s(self, "_week_total", week_prefix[7])
        s(self, "_week_prefix", tuple(week_prefix))
        s(self, "_hol_days", tuple(hol_days))
        s(self, "_hol_prefix", tuple(hol_prefix))
        s(self, "_chunks", {})
        s(self, "_hash", hash((timezone, tuple(days), hol)))

    @classmethod
    def always_open(cls, timezone: str = "UTC") -> BusinessCalendar:
        """A 24x7 calendar without holidays: ``business_ms(a, b) == b - a``."""
        return cls(timezone, dict.fromkeys(range(7), _FULL_DAY))

    @property
    def is_always_open(self) -> bool:
        """True when every instant is business time (all days 00:00-24:00, no holidays)."""
        return self._always

    def business_ms(self, start_ms: int, end_ms: int) -> int:
        """Milliseconds of [start_ms, end_ms) (epoch ms, UTC) inside business hours; 0 if empty.

        Instants must lie within `datetime`'s range (years 1..9999) once offsets are applied.
        """
        if end_ms <= start_ms:
            return 0
        if self._always:
            return end_ms - start_ms
        cum = self._cum
        chunks = self._chunks
        total = 0
        t = start_ms
        chunk = t // _CHUNK_MS
        while True:
            entry = chunks.get(chunk)
            if entry is None:
                entry = _offset_chunk(self.timezone, chunk)
                chunks[chunk] = entry
            starts, offsets = entry
            n = len(starts)
            i = bisect_right(starts, t) - 1 if n > 1 else 0
            chunk_end = (chunk + 1) * _CHUNK_MS
            while i < n:
                seg_end = starts[i + 1] if i + 1 < n else chunk_end
                o = offsets[i]
                if end_ms <= seg_end:
                    return total + cum(end_ms + o) - cum(t + o)
                total += cum(seg_end + o) - cum(t + o)
                t = seg_end
                i += 1
            chunk += 1

    def _cum(self, wall_ms: int) -> int:
        """Business ms of wall-clock time from a fixed Monday up to `wall_ms` (wall epoch ms)."""
        day, ms = divmod(wall_ms, _DAY_MS)
        weeks, wd = divmod(day + _WEEKDAY_SHIFT, 7)
        total: int = weeks * self._week_total + self._week_prefix[wd]
        hol = self._hol_days
        if hol:
            i = bisect_left(hol, day)
            total -= self._hol_prefix[i]
            if i < len(hol) and hol[i] == day:
                return total
        for a, b in self._day_ms[wd]:
            if ms <= a:
                break
            total += (ms if ms < b else b) - a
        return total

    def business_seconds(self, start: datetime, end: datetime) -> float:
        """Convenience wrapper over `business_ms` for aware datetimes."""
        return self.business_ms(_to_ms(start), _to_ms(end)) / 1000

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BusinessCalendar):
            return NotImplemented
        return (
            self.timezone == other.timezone
            and self.hours == other.hours
            and self.holidays == other.holidays
        )

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.timezone, dict(enumerate(self.hours)), self.holidays))

    def __repr__(self) -> str:
        hours = {
            WEEKDAY_NAMES[wd]: [f"{_fmt_minutes(a)}-{_fmt_minutes(b)}" for a, b in d]
            for wd, d in enumerate(self.hours)
            if d
        }
        hol = sorted(h.isoformat() for h in self.holidays)
        return f"BusinessCalendar(timezone={self.timezone!r}, hours={hours!r}, holidays={hol!r})"


def _to_ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return delta // timedelta(milliseconds=1)

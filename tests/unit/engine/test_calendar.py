"""BusinessCalendar: a table of known spans, and properties against a minute-by-minute model."""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.engine.calendar import BusinessCalendar, HoursError, parse_hours

H = 3_600_000
MIN = 60_000
DAY = 86_400_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms(iso: str) -> int:
    """Epoch ms of an ISO timestamp that carries its offset (or Z)."""
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    assert dt.tzinfo is not None
    return (dt - EPOCH) // timedelta(milliseconds=1)


WEEKDAYS = range(5)
ALL_DAYS = range(7)
NINE_TO_FIVE = [(9 * 60, 17 * 60)]
FAR_HOLIDAY = frozenset({date(1980, 1, 1)})
"""A holiday before every instant the properties draw (1990 on): it only keeps a calendar open
every day off the always-open shortcut."""


def week(days: range, intervals: Sequence[tuple[int, int]]) -> dict[int, list[tuple[int, int]]]:
    return {d: list(intervals) for d in days}


CALENDARS: dict[str, BusinessCalendar] = {
    "utc_9_17": BusinessCalendar("UTC", week(WEEKDAYS, NINE_TO_FIVE)),
    "utc_split": BusinessCalendar("UTC", week(WEEKDAYS, [(540, 720), (780, 1020)])),
    "utc_holiday": BusinessCalendar(
        "UTC", week(WEEKDAYS, NINE_TO_FIVE), frozenset({date(2024, 1, 1), date(2025, 1, 1)})
    ),
    "utc_night": BusinessCalendar("UTC", {0: [(1320, 1440)], 1: [(0, 360)]}),
    "berlin_9_17": BusinessCalendar("Europe/Berlin", week(WEEKDAYS, NINE_TO_FIVE)),
    "berlin_24x7": BusinessCalendar.always_open("Europe/Berlin"),
    "berlin_24x7_general": BusinessCalendar(
        "Europe/Berlin", week(ALL_DAYS, [(0, 1440)]), FAR_HOLIDAY
    ),
    "berlin_24x7_hol": BusinessCalendar(
        "Europe/Berlin", week(ALL_DAYS, [(0, 1440)]), frozenset({date(2024, 3, 31)})
    ),
    "berlin_daily_9_17": BusinessCalendar("Europe/Berlin", week(ALL_DAYS, NINE_TO_FIVE)),
    "berlin_daily_2_3": BusinessCalendar("Europe/Berlin", week(ALL_DAYS, [(120, 180)])),
    "berlin_daily_1_4": BusinessCalendar("Europe/Berlin", week(ALL_DAYS, [(60, 240)])),
    "ny_9_17": BusinessCalendar("America/New_York", week(WEEKDAYS, NINE_TO_FIVE)),
    "ny_24x7_general": BusinessCalendar(
        "America/New_York", week(ALL_DAYS, [(0, 1440)]), FAR_HOLIDAY
    ),
    "ny_daily_1_2": BusinessCalendar("America/New_York", week(ALL_DAYS, [(60, 120)])),
    "ny_daily_9_17": BusinessCalendar("America/New_York", week(ALL_DAYS, NINE_TO_FIVE)),
    "tokyo_9_17": BusinessCalendar("Asia/Tokyo", week(WEEKDAYS, NINE_TO_FIVE)),
    "kolkata_9_17": BusinessCalendar("Asia/Kolkata", week(WEEKDAYS, NINE_TO_FIVE)),
    "lord_howe_24x7_general": BusinessCalendar(
        "Australia/Lord_Howe", week(ALL_DAYS, [(0, 1440)]), FAR_HOLIDAY
    ),
}

# 2024-01-01 is a Monday. Berlin: CET +01:00, CEST +02:00 (2024-03-31, 2024-10-27).
# New York: EST -05:00, EDT -04:00 (2024-03-10, 2024-11-03).
TABLE: list[tuple[str, str, str, str, float]] = [
    # id, calendar, start, end, expected hours
    ("empty", "utc_9_17", "2024-01-01T10:00Z", "2024-01-01T10:00Z", 0),
    ("reversed", "utc_9_17", "2024-01-01T12:00Z", "2024-01-01T10:00Z", 0),
    ("before_open", "utc_9_17", "2024-01-01T07:00Z", "2024-01-01T08:59Z", 0),
    ("across_open", "utc_9_17", "2024-01-01T08:00Z", "2024-01-01T10:00Z", 1),
    ("inside", "utc_9_17", "2024-01-01T10:00Z", "2024-01-01T16:30Z", 6.5),
    ("whole_monday", "utc_9_17", "2024-01-01T00:00Z", "2024-01-02T00:00Z", 8),
    ("seconds", "utc_9_17", "2024-01-01T16:59:59.250Z", "2024-01-01T17:00:30Z", 0.75 / 3600),
    ("overnight", "utc_9_17", "2024-01-01T16:00Z", "2024-01-02T10:00Z", 2),
    ("saturday", "utc_9_17", "2024-01-06T00:00Z", "2024-01-07T00:00Z", 0),
    ("weekend", "utc_9_17", "2024-01-05T16:00Z", "2024-01-08T10:00Z", 2),
    ("full_week", "utc_9_17", "2024-01-01T00:00Z", "2024-01-08T00:00Z", 40),
    ("leap_year", "utc_9_17", "2024-01-01T00:00Z", "2025-01-01T00:00Z", 262 * 8),
    ("split_across_lunch", "utc_split", "2024-01-01T11:00Z", "2024-01-01T14:00Z", 2),
    ("split_lunch_only", "utc_split", "2024-01-01T12:00Z", "2024-01-01T13:00Z", 0),
    ("split_whole_day", "utc_split", "2024-01-01T00:00Z", "2024-01-02T00:00Z", 7),
    ("night_shift", "utc_night", "2024-01-01T20:00Z", "2024-01-02T12:00Z", 8),
    ("holiday", "utc_holiday", "2024-01-01T00:00Z", "2024-01-02T00:00Z", 0),
    ("holiday_then_day", "utc_holiday", "2024-01-01T10:00Z", "2024-01-02T10:00Z", 1),
    ("year_crossing", "utc_9_17", "2024-12-31T16:00Z", "2025-01-02T10:00Z", 10),
    ("year_crossing_hol", "utc_holiday", "2024-12-31T16:00Z", "2025-01-02T10:00Z", 2),
    ("berlin_vs_utc", "berlin_9_17", "2024-01-08T07:00Z", "2024-01-08T08:30Z", 0.5),
    ("berlin_summer", "berlin_9_17", "2024-07-01T06:00Z", "2024-07-01T08:00Z", 1),
    ("ny_utc_day", "ny_9_17", "2024-01-08T00:00Z", "2024-01-09T00:00Z", 8),
    ("ny_evening_utc", "ny_9_17", "2024-01-08T20:00Z", "2024-01-08T23:00Z", 2),
    ("ny_sunday_utc_monday", "ny_9_17", "2024-01-07T00:00Z", "2024-01-08T00:00Z", 0),
    ("tokyo_before_utc_day", "tokyo_9_17", "2024-01-07T22:00Z", "2024-01-08T02:00Z", 2),
    ("kolkata_half_hour", "kolkata_9_17", "2024-01-08T03:00Z", "2024-01-08T04:00Z", 0.5),
    # DST: spring forward, Berlin
    ("de_spring_24x7", "berlin_24x7", "2024-03-31T00:00+01:00", "2024-04-01T00:00+02:00", 23),
    (
        "de_spring_24x7_general",
        "berlin_24x7_general",
        "2024-03-31T00:00+01:00",
        "2024-04-01T00:00+02:00",
        23,
    ),
    ("de_spring_9_17", "berlin_daily_9_17", "2024-03-31T00:00+01:00", "2024-04-01T00:00+02:00", 8),
    ("de_spring_gap", "berlin_daily_2_3", "2024-03-31T00:00+01:00", "2024-04-01T00:00+02:00", 0),
    ("de_spring_1_4", "berlin_daily_1_4", "2024-03-31T00:00+01:00", "2024-04-01T00:00+02:00", 2),
    ("de_spring_hol", "berlin_24x7_hol", "2024-03-30T00:00+01:00", "2024-04-02T00:00+02:00", 48),
    ("de_spring_2_3_week", "berlin_daily_2_3", "2024-03-28T00:00+01:00", "2024-04-04T00:00Z", 6),
    # DST: fall back, Berlin
    ("de_fall_24x7", "berlin_24x7", "2024-10-27T00:00+02:00", "2024-10-28T00:00+01:00", 25),
    (
        "de_fall_24x7_general",
        "berlin_24x7_general",
        "2024-10-27T00:00+02:00",
        "2024-10-28T00:00+01:00",
        25,
    ),
    ("de_fall_9_17", "berlin_daily_9_17", "2024-10-27T00:00+02:00", "2024-10-28T00:00+01:00", 8),
    ("de_fall_fold", "berlin_daily_2_3", "2024-10-27T00:00+02:00", "2024-10-28T00:00+01:00", 2),
    (
        "de_fall_first_pass",
        "berlin_daily_2_3",
        "2024-10-27T02:00+02:00",
        "2024-10-27T03:00+02:00",
        1,
    ),
    ("de_fall_1_4", "berlin_daily_1_4", "2024-10-27T00:00+02:00", "2024-10-28T00:00+01:00", 4),
    (
        "de_year_24x7",
        "berlin_24x7_general",
        "2024-01-01T00:00+01:00",
        "2025-01-01T00:00+01:00",
        8784,
    ),
    ("de_year_hol", "berlin_24x7_hol", "2024-01-01T00:00+01:00", "2025-01-01T00:00+01:00", 8761),
    # DST, New York
    ("ny_spring_24x7", "ny_24x7_general", "2024-03-10T00:00-05:00", "2024-03-11T00:00-04:00", 23),
    ("ny_spring_9_17", "ny_daily_9_17", "2024-03-10T00:00-05:00", "2024-03-11T00:00-04:00", 8),
    ("ny_fall_24x7", "ny_24x7_general", "2024-11-03T00:00-04:00", "2024-11-04T00:00-05:00", 25),
    ("ny_fall_fold", "ny_daily_1_2", "2024-11-03T00:00-04:00", "2024-11-04T00:00-05:00", 2),
    ("ny_fall_9_17", "ny_daily_9_17", "2024-11-03T00:00-04:00", "2024-11-04T00:00-05:00", 8),
    ("ny_fall_utc_span", "ny_daily_9_17", "2024-11-03T00:00Z", "2024-11-04T00:00Z", 8),
    # A 30-minute DST shift: 2024-04-07 02:00 -> 01:30, 2024-10-06 02:00 -> 02:30.
    (
        "lord_howe_fall",
        "lord_howe_24x7_general",
        "2024-04-07T00:00+11:00",
        "2024-04-08T00:00+10:30",
        24.5,
    ),
    (
        "lord_howe_spring",
        "lord_howe_24x7_general",
        "2024-10-06T00:00+10:30",
        "2024-10-07T00:00+11:00",
        23.5,
    ),
]


@pytest.mark.parametrize(
    ("calendar", "start", "end", "hours"),
    [pytest.param(*row[1:], id=row[0]) for row in TABLE],
)
def test_business_ms_table(calendar: str, start: str, end: str, hours: float) -> None:
    assert CALENDARS[calendar].business_ms(ms(start), ms(end)) == round(hours * H)


def test_always_open_is_elapsed_time() -> None:
    cal = BusinessCalendar.always_open()
    assert cal.is_always_open
    assert cal.business_ms(0, 123_456_789) == 123_456_789
    assert not CALENDARS["berlin_24x7_general"].is_always_open
    assert not CALENDARS["utc_9_17"].is_always_open


def test_business_ms_is_exact_for_a_decade() -> None:
    cal = CALENDARS["berlin_24x7_general"]
    start, end = ms("2020-01-01T00:00+01:00"), ms("2030-01-01T00:00+01:00")
    assert cal.business_ms(start, end) == end - start


def test_business_ms_before_1970() -> None:
    cal = CALENDARS["utc_9_17"]
    # 1969-12-29 was a Monday
    assert cal.business_ms(ms("1969-12-29T00:00Z"), ms("1970-01-05T00:00Z")) == 40 * H


def test_one_year_span_is_exact() -> None:
    cal = BusinessCalendar(
        "America/New_York", week(WEEKDAYS, [(540, 720), (780, 1020)]), frozenset({date(2031, 7, 4)})
    )
    start = ms("2031-02-03T10:17:00Z")
    total = cal.business_ms(start, start + 365 * DAY)
    by_day = sum(cal.business_ms(start + d * DAY, start + (d + 1) * DAY) for d in range(365))
    assert total == by_day


def test_calendar_is_hashable_and_picklable() -> None:
    a = BusinessCalendar("Europe/Berlin", {0: [(540, 1020)]}, frozenset({date(2024, 12, 25)}))
    b = BusinessCalendar("Europe/Berlin", {0: ((540, 1020),)}, [date(2024, 12, 25)])
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    assert a != BusinessCalendar("Europe/Berlin", {0: [(540, 1020)]})
    c = pickle.loads(pickle.dumps(a))
    assert c == a
    assert c.business_ms(ms("2024-12-23T08:00Z"), ms("2024-12-23T18:00Z")) == 8 * H
    with pytest.raises(AttributeError):
        a.timezone = "UTC"


@pytest.mark.parametrize(
    ("timezone", "hours", "holidays"),
    [
        ("Mars/Olympus", {}, ()),
        ("", {}, ()),
        ("UTC", {7: [(0, 60)]}, ()),
        ("UTC", {0: [(60, 60)]}, ()),
        ("UTC", {0: [(0, 1441)]}, ()),
        ("UTC", {0: [(-1, 60)]}, ()),
        ("UTC", {0: [(0, 120), (60, 180)]}, ()),
        ("UTC", {}, ("2024-01-01",)),
    ],
)
def test_calendar_rejects_bad_input(
    timezone: str, hours: Mapping[int, Sequence[tuple[int, int]]], holidays: Sequence[object]
) -> None:
    with pytest.raises(ValueError):
        BusinessCalendar(timezone, hours, holidays)  # type: ignore[arg-type]


def test_parse_hours() -> None:
    assert parse_hours(
        {"mon": ["09:00-12:00", "13:00-17:00"], "Tue": ["13:00 - 24:00", "00:00-06:30"], "sun": []}
    ) == {0: [(540, 720), (780, 1020)], 1: [(0, 390), (780, 1440)], 6: []}
    assert parse_hours({"fri": ["09:00-12:00", "12:00-13:00"]}) == {4: [(540, 720), (720, 780)]}
    assert parse_hours({}) == {}


@pytest.mark.parametrize(
    ("spec", "day", "fragment"),
    [
        ({"monday": ["09:00-17:00"]}, "monday", "unknown weekday"),
        ({"mon": ["09:00-17:00"], "MON": []}, "MON", "more than once"),
        ({"mon": "09:00-17:00"}, "mon", "list"),
        ({"mon": [900]}, "mon", "string"),
        ({"mon": ["9-17"]}, "mon", "HH:MM-HH:MM"),
        ({"mon": ["09:00"]}, "mon", "HH:MM-HH:MM"),
        ({"mon": ["24:00-24:00"]}, "mon", "start"),
        ({"mon": ["09:60-17:00"]}, "mon", "start"),
        ({"mon": ["09:00-24:30"]}, "mon", "end"),
        ({"mon": ["09:00-25:00"]}, "mon", "end"),
        ({"tue": ["17:00-09:00"]}, "tue", "before end"),
        ({"wed": ["10:00-10:00"]}, "wed", "before end"),
        ({"thu": ["09:00-13:00", "12:00-17:00"]}, "thu", "overlap"),
    ],
)
def test_parse_hours_rejects(spec: Mapping[str, Sequence[str]], day: str, fragment: str) -> None:
    with pytest.raises(HoursError) as info:
        parse_hours(spec)
    assert info.value.day == day
    assert fragment in str(info.value)
    assert str(info.value).startswith(f"{day}: ")


# ----------------------------------------------------------------------------------------------
# Properties against an independent, slow model: walk the span minute by minute and ask
# zoneinfo for each minute's local wall time.

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Asia/Kathmandu",  # +05:45
    "America/St_Johns",  # -03:30 with DST
    "America/Santiago",  # changes at local midnight
    "Africa/Casablanca",  # DST suspended during Ramadan
    "Pacific/Apia",  # skipped 2011-12-30 entirely
]
# Instants near interesting changes, so that short random spans actually cross them.
ANCHORS = [
    ms("2024-03-31T01:00Z"),
    ms("2024-10-27T01:00Z"),
    ms("2024-03-10T07:00Z"),
    ms("2024-11-03T06:00Z"),
    ms("2024-04-06T15:00Z"),
    ms("2024-10-05T15:30Z"),
    ms("2024-09-08T04:00Z"),
    ms("2024-04-07T03:00Z"),
    ms("2024-03-10T02:00Z"),
    ms("2024-04-14T02:00Z"),
    ms("2011-12-29T10:00Z"),
    ms("2000-01-01T00:00Z"),
    ms("2037-06-15T00:00Z"),
]


def reference_ms(
    timezone: str,
    hours: Mapping[int, Sequence[tuple[int, int]]],
    holidays: frozenset[date],
    start_ms: int,
    end_ms: int,
) -> int:
    tz = ZoneInfo(timezone)
    total = 0
    for minute in range(start_ms, end_ms, MIN):
        local = datetime.fromtimestamp(minute // 1000, tz)
        if local.date() in holidays:
            continue
        of_day = local.hour * 60 + local.minute
        if any(a <= of_day < b for a, b in hours.get(local.weekday(), ())):
            total += MIN
    return total


@st.composite
def day_intervals(draw: st.DrawFn) -> list[tuple[int, int]]:
    grid = draw(st.sampled_from([1, 15, 30, 60]))
    points = draw(st.sets(st.integers(0, 1440 // grid), max_size=6))
    bounds = sorted(p * grid for p in points)
    if len(bounds) % 2:
        bounds = bounds[:-1]
    return [(bounds[i], bounds[i + 1]) for i in range(0, len(bounds), 2)]


@st.composite
def calendars(draw: st.DrawFn) -> tuple[str, dict[int, list[tuple[int, int]]], frozenset[date]]:
    timezone = draw(st.sampled_from(ZONES))
    hours: dict[int, list[tuple[int, int]]] = {}
    for wd in range(7):
        if draw(st.booleans()) or wd < 5:
            hours[wd] = draw(day_intervals())
    return timezone, hours, frozenset()


@st.composite
def minute_spans(draw: st.DrawFn, max_days: int = 10) -> tuple[int, int]:
    if draw(st.booleans()):
        base = draw(st.sampled_from(ANCHORS)) // MIN * MIN
        start = base + draw(st.integers(-3 * 1440, 1440)) * MIN
    else:
        start = draw(st.integers(ms("1995-01-01T00:00Z") // MIN, ms("2040-01-01T00:00Z") // MIN))
        start *= MIN
    return start, start + draw(st.integers(0, max_days * 1440)) * MIN


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cal=calendars(), span=minute_spans(), data=st.data())
def test_agrees_with_minute_by_minute_reference(
    cal: tuple[str, dict[int, list[tuple[int, int]]], frozenset[date]],
    span: tuple[int, int],
    data: st.DataObject,
) -> None:
    timezone, hours, _ = cal
    start, end = span
    first = datetime.fromtimestamp(start // 1000, ZoneInfo(timezone)).date()
    offsets = data.draw(st.sets(st.integers(-1, 11), max_size=3))
    holidays = frozenset(first + timedelta(days=d) for d in offsets)
    calendar = BusinessCalendar(timezone, hours, holidays)
    assert calendar.business_ms(start, end) == reference_ms(timezone, hours, holidays, start, end)


instants = st.integers(ms("1990-01-01T00:00Z"), ms("2045-01-01T00:00Z"))


@st.composite
def any_calendar(draw: st.DrawFn) -> BusinessCalendar:
    timezone, hours, _ = draw(calendars())
    holidays = draw(st.frozensets(st.dates(date(1990, 1, 1), date(2045, 1, 1)), max_size=20))
    return BusinessCalendar(timezone, hours, holidays)


@st.composite
def ordered_triples(draw: st.DrawFn) -> tuple[int, int, int]:
    a = draw(instants)
    b = a + draw(st.integers(0, 40 * DAY))
    c = b + draw(st.integers(0, 400 * DAY))
    return a, b, c


@settings(max_examples=300, deadline=None)
@given(cal=any_calendar(), abc=ordered_triples())
def test_additive(cal: BusinessCalendar, abc: tuple[int, int, int]) -> None:
    a, b, c = abc
    assert cal.business_ms(a, c) == cal.business_ms(a, b) + cal.business_ms(b, c)


@settings(max_examples=300, deadline=None)
@given(cal=any_calendar(), abc=ordered_triples())
def test_bounded_and_monotone(cal: BusinessCalendar, abc: tuple[int, int, int]) -> None:
    a, b, c = abc
    ab, ac = cal.business_ms(a, b), cal.business_ms(a, c)
    assert 0 <= ab <= b - a
    assert 0 <= ac <= c - a
    assert ab <= ac
    assert cal.business_ms(b, c) <= ac
    assert cal.business_ms(c, a) == 0 or c == a


@settings(max_examples=100, deadline=None)
@given(timezone=st.sampled_from(ZONES), abc=ordered_triples())
def test_full_week_equals_elapsed(timezone: str, abc: tuple[int, int, int]) -> None:
    a, _, c = abc
    general = BusinessCalendar(timezone, week(ALL_DAYS, [(0, 1440)]), FAR_HOLIDAY)
    assert (
        general.business_ms(a, c)
        == c - a
        == BusinessCalendar.always_open(timezone).business_ms(a, c)
    )

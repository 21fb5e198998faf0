"""Calendar periods in a timezone (values written out by hand, DST included)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from service.history.periods import Period, parse_bound, periods, previous

BERLIN = ZoneInfo("Europe/Berlin")


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_days_follow_the_wall_clock_across_daylight_saving() -> None:
    # 2024-03-31: Berlin goes from +01:00 to +02:00, a day of 23 hours
    start, end = _ms("2024-03-30T00:00:00+01:00"), _ms("2024-04-01T00:00:00+02:00")
    assert periods(start, end, "day", BERLIN) == [
        Period(start, _ms("2024-03-31T00:00:00+01:00")),
        Period(_ms("2024-03-31T00:00:00+01:00"), end)]
    assert end - _ms("2024-03-31T00:00:00+01:00") == 23 * 3_600_000


def test_weeks_begin_on_monday_and_partial_ends_are_clipped() -> None:
    start, end = _ms("2024-03-06T12:00:00Z"), _ms("2024-03-12T00:00:00Z")  # Wed .. Tue
    assert periods(start, end, "week", ZoneInfo("UTC")) == [
        Period(start, _ms("2024-03-11T00:00:00Z")), Period(_ms("2024-03-11T00:00:00Z"), end)]


def test_months_and_the_month_before() -> None:
    start, end = _ms("2024-02-01T00:00:00+01:00"), _ms("2024-04-01T00:00:00+02:00")
    march = Period(_ms("2024-03-01T00:00:00+01:00"), end)
    assert periods(start, end, "month", BERLIN) == [Period(start, march.start_ms), march]
    assert previous(march, "month", BERLIN) == Period(start, march.start_ms)


def test_without_grouping_the_previous_period_has_the_same_length() -> None:
    assert previous(Period(1_000, 1_600), None, BERLIN) == Period(400, 1_000)


def test_bounds_are_dates_in_the_timezone_or_times_with_offsets() -> None:
    assert parse_bound("2024-03-04", BERLIN) == _ms("2024-03-04T00:00:00+01:00")
    assert parse_bound("2024-03-04T06:00:00Z", BERLIN) == _ms("2024-03-04T06:00:00+00:00")
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_bound("2024-03-04T06:00:00", BERLIN)
    with pytest.raises(ValueError, match="neither a date"):
        parse_bound("last week", BERLIN)

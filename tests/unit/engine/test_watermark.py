"""The one watermark rule: event time drives lateness and retention, and no single event moves
it for everyone (an event ahead of the others waits for company)."""

import random

from service.engine.watermark import COMPANY, REACH_MS, Watermark

HOUR = 3_600_000
MINUTE = 60_000
RETENTION = 25 * HOUR


def seen(*times: int) -> Watermark:
    watermark = Watermark(RETENTION)
    for at in times:
        watermark.see(at)
    return watermark


def test_no_watermark_before_ten_events() -> None:
    watermark = seen(*(h * HOUR for h in range(COMPANY - 1)))
    assert watermark.at_ms is None
    assert not watermark.late(0)
    assert watermark.latest_ms == (COMPANY - 2) * HOUR, "the default as-of: the latest event"


def test_a_sparse_stream_moves_it_to_its_latest_event() -> None:
    """Ten events an hour apart: the reach is three times the spread of the five earliest
    (4 h), so the latest, 9 h after the earliest, moves the watermark."""
    assert seen(*(h * HOUR for h in range(COMPANY))).at_ms == (COMPANY - 1) * HOUR


def test_a_sparse_stream_still_holds_back_a_stray_event() -> None:
    """Nine events an hour apart and one 92 h later: it is past the 12 h reach and waits."""
    watermark = seen(*(h * HOUR for h in range(COMPANY - 1)), 100 * HOUR)
    assert watermark.latest_ms == watermark.at_ms == (COMPANY - 2) * HOUR


def test_the_watermark_follows_a_stream_in_order() -> None:
    times = [10 * HOUR + i * MINUTE for i in range(50)]
    watermark = seen(*times)
    assert watermark.at_ms == times[-1]
    assert watermark.see(times[0]) == times[-1], "an older event does not move it back"


def test_one_event_days_ahead_waits_for_company() -> None:
    """A backfill up to 12:00 and one stray event three days later: the watermark stays at
    12:00 (the panes of the backfill stay, its late events are not late). Five events near the
    stray one are not enough either (the earliest five of the ten latest are still the
    backfill's); with six, time moves to the stray one."""
    backfill = [12 * HOUR - i * MINUTE for i in range(100)]
    stray = 12 * HOUR + 72 * HOUR
    watermark = seen(*backfill, stray)
    assert watermark.at_ms == 12 * HOUR
    assert not watermark.late(11 * HOUR)
    for i in range(1, COMPANY // 2):
        watermark.see(stray - i * MINUTE)
    assert watermark.at_ms == 12 * HOUR
    watermark.see(stray - 30 * MINUTE)
    assert watermark.at_ms == stray


def test_an_event_within_reach_moves_it_at_once() -> None:
    watermark = seen(*(10 * HOUR + i * MINUTE for i in range(COMPANY)))
    ahead = 10 * HOUR + REACH_MS
    assert watermark.see(ahead) == ahead


def test_the_rule_depends_on_the_times_not_their_order() -> None:
    rng = random.Random(7)
    times = [rng.randrange(0, 48 * HOUR) for _ in range(300)] + [200 * HOUR, 150 * HOUR]
    expected = seen(*sorted(times)).at_ms
    for _ in range(20):
        rng.shuffle(times)
        assert seen(*times).at_ms == expected


def test_late_is_more_than_the_retention_behind() -> None:
    watermark = seen(*(30 * HOUR - i for i in range(COMPANY)))
    assert watermark.cutoff_ms == 5 * HOUR
    assert not watermark.late(5 * HOUR), "exactly 25 h behind is still inside"
    assert watermark.late(5 * HOUR - 1)


def test_state_is_retired_once_per_hour_of_event_time() -> None:
    watermark = Watermark(RETENTION)

    def move_to(at: int) -> None:
        for _ in range(COMPANY):
            watermark.see(at)
        assert watermark.at_ms == at

    assert not watermark.expiry_due(), "no watermark yet"
    move_to(0)
    assert not watermark.expiry_due(), "the first call only sets the next hour"
    move_to(HOUR - 1)
    assert not watermark.expiry_due()
    move_to(HOUR)
    assert watermark.expiry_due()
    assert not watermark.expiry_due(), "once, then an hour later"
    move_to(2 * HOUR - 1)
    assert not watermark.expiry_due()
    move_to(5 * HOUR)
    assert watermark.expiry_due()
    assert watermark.next_expiry_ms == 6 * HOUR

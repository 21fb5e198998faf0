"""The one watermark rule (SPEC §4): event time drives lateness and retention."""

from service.engine.watermark import Watermark

HOUR = 3_600_000
RETENTION = 25 * HOUR


def test_the_watermark_is_the_latest_event_time_seen() -> None:
    watermark = Watermark(RETENTION)
    assert watermark.at_ms is None
    assert not watermark.late(0)
    assert watermark.see(10 * HOUR) == 10 * HOUR
    assert watermark.see(4 * HOUR) == 10 * HOUR, "an older event does not move it back"
    assert watermark.at_ms == 10 * HOUR


def test_late_is_more_than_the_retention_behind() -> None:
    watermark = Watermark(RETENTION)
    watermark.see(30 * HOUR)
    assert watermark.cutoff_ms == 5 * HOUR
    assert not watermark.late(5 * HOUR), "exactly 25 h behind is still inside"
    assert watermark.late(5 * HOUR - 1)


def test_state_is_retired_once_per_hour_of_event_time() -> None:
    watermark = Watermark(RETENTION)
    assert not watermark.expiry_due(), "nothing seen yet"
    watermark.see(0)
    assert not watermark.expiry_due(), "the first call only sets the next hour"
    watermark.see(HOUR - 1)
    assert not watermark.expiry_due()
    watermark.see(HOUR)
    assert watermark.expiry_due()
    assert not watermark.expiry_due(), "once, then an hour later"
    watermark.see(2 * HOUR - 1)
    assert not watermark.expiry_due()
    watermark.see(5 * HOUR)
    assert watermark.expiry_due()
    assert watermark.next_expiry_ms == 6 * HOUR

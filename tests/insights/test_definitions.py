"""The pure KPI definitions: business-day periods, time slots, shares, days of cover, health."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yipan.insights.domain.kpis import HealthBand, Share, days_of_cover, health_band
from yipan.insights.domain.periods import (
    DEFAULT_PERIOD,
    PeriodName,
    UnknownPeriod,
    parse_period,
    period_ending,
    slots_for,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_a_period_is_whole_business_days_in_shanghai_ending_today() -> None:
    # 17:30 UTC on 3-09 is already 01:30 on 3-10 in Shanghai.
    week = period_ending(PeriodName.WEEK, datetime(2026, 3, 9, 17, 30, tzinfo=UTC), SHANGHAI)
    assert week.days == tuple(date(2026, 3, d) for d in range(4, 11))
    assert week.start == datetime(2026, 3, 3, 16, 0, tzinfo=UTC)
    assert week.end == datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
    today = period_ending(PeriodName.TODAY, datetime(2026, 3, 9, 15, 59, tzinfo=UTC), SHANGHAI)
    assert today.days == (date(2026, 3, 9),)
    assert (
        len(period_ending(PeriodName.MONTH, datetime(2026, 3, 9, tzinfo=UTC), SHANGHAI).days) == 30
    )


def test_the_period_in_a_query_string_is_checked() -> None:
    assert parse_period(None) == parse_period("") == DEFAULT_PERIOD
    assert parse_period(" 30d ") == PeriodName.MONTH
    with pytest.raises(UnknownPeriod):
        parse_period("31d")


def test_a_zone_with_one_offset_over_the_period_sums_sales_by_business_day() -> None:
    month = period_ending(PeriodName.MONTH, datetime(2026, 3, 9, tzinfo=UTC), SHANGHAI)
    slots = slots_for(month)
    assert (slots.width, slots.offset) == (86400, 8 * 3600)
    # 23:30 UTC on 3-01 is 07:30 on 3-02 in Shanghai.
    late = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert slots.day((int(late.timestamp()) + slots.offset) // slots.width) == date(2026, 3, 2)


def test_across_a_daylight_saving_change_sales_are_summed_by_hour() -> None:
    new_york = ZoneInfo("America/New_York")
    # Clocks went forward at 02:00 on 2026-03-08: that day has 23 hours.
    week = period_ending(PeriodName.WEEK, datetime(2026, 3, 10, 12, tzinfo=UTC), new_york)
    slots = slots_for(week)
    assert (slots.width, slots.offset) == (3600, 0)
    assert week.end - week.start == timedelta(days=7, hours=-1)

    def day(utc: datetime) -> date:
        return slots.day(int(utc.timestamp()) // slots.width)

    assert day(datetime(2026, 3, 8, 4, 30, tzinfo=UTC)) == date(2026, 3, 7)  # 23:30 EST
    assert day(datetime(2026, 3, 8, 5, 30, tzinfo=UTC)) == date(2026, 3, 8)  # 00:30 EST
    assert day(datetime(2026, 3, 9, 3, 30, tzinfo=UTC)) == date(2026, 3, 8)  # 23:30 EDT


def test_a_zone_off_by_part_of_an_hour_gets_quarter_hours_across_a_change() -> None:
    adelaide = ZoneInfo("Australia/Adelaide")  # +10:30 in summer, +9:30 from 2026-04-05
    week = period_ending(PeriodName.WEEK, datetime(2026, 4, 8, tzinfo=UTC), adelaide)
    assert slots_for(week).width == 900
    assert (
        slots_for(period_ending(PeriodName.WEEK, datetime(2026, 6, 8, tzinfo=UTC), adelaide)).width
        == 86400
    )


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_every_instant_of_a_period_falls_in_one_of_its_days(moment: datetime) -> None:
    now = moment.replace(tzinfo=UTC)
    period = period_ending(PeriodName.MONTH, now, SHANGHAI)
    slots = slots_for(period)
    assert period.start <= now < period.end
    assert slots.day((int(now.timestamp()) + slots.offset) // slots.width) == period.last_day


def test_a_share_keeps_its_parts_and_has_no_ratio_of_nothing() -> None:
    assert Share(1, 4).ratio == 0.25
    assert Share(1, 3).percent == 33.3
    assert Share(0, 0).ratio is None
    with pytest.raises(ValueError, match="part <= whole"):
        Share(5, 4)


def test_days_of_cover_divide_stock_by_average_daily_sales() -> None:
    assert days_of_cover(300, 60, 30) == 150.0
    assert days_of_cover(300, 0, 30) is None


@pytest.mark.parametrize(
    ("short", "carried", "band"),
    [
        (0, 0, HealthBand.EMPTY),
        (4, 100, HealthBand.GOOD),
        (5, 100, HealthBand.WATCH),
        (14, 100, HealthBand.WATCH),
        (15, 100, HealthBand.POOR),
    ],
)
def test_a_nodes_health_band_follows_its_share_of_short_skus(
    short: int, carried: int, band: HealthBand
) -> None:
    assert health_band(short, carried) is band

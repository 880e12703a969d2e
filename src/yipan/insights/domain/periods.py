"""Reporting periods: today, the last 7 or the last 30 business days, in the tenant's time zone.

A business day runs from local midnight to local midnight (Asia/Shanghai by default), so a sale
at 23:30 UTC on the 1st belongs to the 2nd. A period always ends with the business day that
contains `now` and covers it whole; nothing is placed after now, so the rest of today is empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class PeriodName(StrEnum):
    TODAY = "today"
    WEEK = "7d"
    MONTH = "30d"


PERIOD_DAYS: dict[PeriodName, int] = {PeriodName.TODAY: 1, PeriodName.WEEK: 7, PeriodName.MONTH: 30}
DEFAULT_PERIOD = PeriodName.WEEK
# Days of cover divide stock by the average daily sales of this many business days.
COVER_DAYS = 30


class UnknownPeriod(ValueError):
    """A period name that is not today, 7d or 30d."""


def parse_period(raw: str | None) -> PeriodName:
    """The period a query string names; the default when it names none."""
    text = (raw or "").strip()
    if not text:
        return DEFAULT_PERIOD
    try:
        return PeriodName(text)
    except ValueError:
        raise UnknownPeriod(text) from None


@dataclass(frozen=True)
class Period:
    """Whole business days `days` (oldest first); `start` ≤ placed_at < `end`, both in UTC."""

    name: PeriodName
    days: tuple[date, ...]
    start: datetime
    end: datetime
    zone: str

    @property
    def first_day(self) -> date:
        return self.days[0]

    @property
    def last_day(self) -> date:
        return self.days[-1]


def business_day(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant at which `day` begins in `zone`."""
    return datetime.combine(day, time(), zone).astimezone(UTC)


def period_ending(
    name: PeriodName, now: datetime, zone: ZoneInfo, days: int | None = None
) -> Period:
    """The `name` period (or the last `days` business days) ending with the business day of `now`."""
    count = days if days is not None else PERIOD_DAYS[name]
    last = business_day(now, zone)
    span = tuple(last - timedelta(days=back) for back in range(count - 1, -1, -1))
    return Period(
        name=name,
        days=span,
        start=local_midnight(span[0], zone),
        end=local_midnight(last + timedelta(days=1), zone),
        zone=zone.key,
    )


@dataclass(frozen=True)
class Slots:
    """How SQL buckets timestamps before Python folds the buckets into business days: slot =
    (seconds since the epoch + `offset`) // `width`.

    Where the zone keeps one UTC offset over the whole period (Asia/Shanghai always does), a slot
    is a business day: `offset` is the zone's and `width` a day. Across a daylight-saving change
    the slots are UTC hours (quarter hours for a zone off by part of an hour), each of which lies
    in one business day. Either way the SQL is the same on SQLite, which knows no time zones, and
    PostgreSQL.
    """

    width: int
    offset: int
    zone: str

    def day(self, slot: int) -> date:
        """The business day a slot falls in."""
        if self.width == DAY_SECONDS:
            return EPOCH_DAY + timedelta(days=slot)
        instant = datetime.fromtimestamp(slot * self.width - self.offset, UTC)
        return instant.astimezone(ZoneInfo(self.zone)).date()


DAY_SECONDS = 86400
EPOCH_DAY = date(1970, 1, 1)


def slots_for(period: Period) -> Slots:
    zone = ZoneInfo(period.zone)
    # A daylight-saving change inside the period shows as two offsets among these instants.
    instants = [local_midnight(day, zone) for day in period.days]
    instants += [datetime.combine(day, time(12), zone) for day in period.days]
    instants.append(period.end - timedelta(microseconds=1))
    offsets = {_offset_seconds(instant, zone) for instant in instants}
    if len(offsets) == 1:
        return Slots(DAY_SECONDS, offsets.pop(), period.zone)
    whole_hours = all(offset % 3600 == 0 for offset in offsets)
    return Slots(3600 if whole_hours else 900, 0, period.zone)


def _offset_seconds(instant: datetime, zone: ZoneInfo) -> int:
    offset = instant.astimezone(zone).utcoffset() or timedelta()
    return int(offset.total_seconds())

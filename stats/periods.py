"""The date range a figure covers, in the hospital's time zone (CHARTVAULT_TIMEZONE).

The databases store UTC. PostgreSQL turns a moment into local time itself; SQLite knows no
time zones, so for it the zone's UTC offsets over the period (and the instants daylight
saving time changes them) are worked out here, in Python, and stats.sql turns them into one
CASE expression: every count stays one set-based aggregate in the database, grouped by the
local day or month of each row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from archive.errors import BadRequest
from archive.params import parse_date

# Two years of days: enough for a year-on-year report, small enough that the table of day
# boundaries the queries join stays a few hundred rows.
MAX_DAYS = 731
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Period:
    """The local days ``first`` to ``last``, both included, in ``zone``."""

    first: date
    last: date
    zone: ZoneInfo

    def local_midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), self.zone).astimezone(UTC)

    @property
    def starts(self) -> datetime:
        return self.local_midnight(self.first)

    @property
    def ends(self) -> datetime:
        """The first instant after the period (the next day's local midnight)."""
        return self.local_midnight(self.last + timedelta(days=1))

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def months(self) -> list[date]:
        """The first day of each month the period touches."""
        month, months = self.first.replace(day=1), []
        while month <= self.last:
            months.append(month)
            month = next_month(month)
        return months

    def offsets(self) -> tuple[int, list[tuple[datetime, int]]]:
        """The zone's UTC offset in seconds at the period's start, and each change of it
        within the period as (the UTC instant it takes effect, the new offset)."""
        changes, offset = [], _offset(self.zone, self.starts)
        for day in self.days():
            after = _offset(self.zone, self.local_midnight(day + timedelta(days=1)))
            if after != offset:
                changes.append((_change_between(self.zone, self.local_midnight(day),
                                                self.local_midnight(day + timedelta(days=1))),
                                after))
                offset = after
        return _offset(self.zone, self.starts), changes


def _offset(zone: ZoneInfo, moment: datetime) -> int:
    return int(moment.astimezone(zone).utcoffset().total_seconds())


def _change_between(zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The first whole second whose offset is that of ``after`` (bisection on seconds)."""
    target, low, high = _offset(zone, after), int(before.timestamp()), int(after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(zone, datetime.fromtimestamp(middle, UTC)) == target:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def today_in(zone: ZoneInfo) -> date:
    return datetime.now(zone).date()


def period_of(raw_from: str | None, raw_to: str | None, zone: ZoneInfo) -> Period:
    """The period a form or a query asks for: ``to`` defaults to today, ``from`` to 29 days
    before ``to``; a 400 naming the problem for a reversed or too long range."""
    last = parse_date(raw_to, "to") or today_in(zone)
    first = parse_date(raw_from, "from") or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise BadRequest(f"from ({first}) is after to ({last}): give the earlier date as from.")
    if (last - first).days + 1 > MAX_DAYS:
        raise BadRequest(f"The range {first} to {last} is longer than {MAX_DAYS} days: ask for "
                         "a shorter one (run several for a longer report).")
    return Period(first, last, zone)

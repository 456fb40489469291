"""The date range a figure covers, in the hospital's time zone (CHARTVAULT_TIMEZONE).

The databases store UTC and SQLite knows no time zones, so the day and month boundaries are
worked out here, in Python, as the UTC instants of each local midnight (daylight saving time
makes some local days 23 or 25 hours long); the queries join their rows against that small
table of boundaries, and every count stays one set-based aggregate in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Date, String, column, values

from archive.errors import BadRequest
from archive.models import UTCDateTime
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

    def day_table(self, name: str = "day_bounds"):
        """WITH name (label, starts, ends) AS (VALUES ...): each local day with its UTC
        instants (a CTE, since SQLite does not name the columns of VALUES in FROM)."""
        rows = [(day.isoformat(), self.local_midnight(day),
                 self.local_midnight(day + timedelta(days=1))) for day in self.days()]
        return _bounds(name, rows)

    def month_table(self, name: str = "month_bounds"):
        """VALUES (label, starts, ends, first_day, next_first_day): each month the period
        touches, clipped to the period, as UTC instants and as dates."""
        rows = []
        for month in self.months():
            first = max(month, self.first)
            after = min(next_month(month), self.last + timedelta(days=1))
            rows.append((month.isoformat()[:7], self.local_midnight(first),
                         self.local_midnight(after), first, after))
        return values(column("label", String), column("starts", UTCDateTime()),
                      column("ends", UTCDateTime()), column("first_day", Date()),
                      column("next_first_day", Date()), name=name).data(rows).cte(name)


def _bounds(name: str, rows: list[tuple]):
    return values(column("label", String), column("starts", UTCDateTime()),
                  column("ends", UTCDateTime()), name=name).data(rows).cte(name)


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

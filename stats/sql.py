"""The few SQL expressions SQLite and PostgreSQL spell differently, and the portable
percentile.

Percentiles are the nearest-rank kind (the smallest value at or above which lies the given
share of the values): a window function numbers the values in order (ROW_NUMBER) and counts
them (COUNT(*) OVER), and the percentile is the least value whose rank r satisfies
r * 100 >= p * n. That is integer arithmetic on standard window functions, so both databases
run the same query, where PERCENTILE_CONT exists on PostgreSQL only.
"""

from __future__ import annotations

from sqlalchemy import Date, Float, String, case, cast, func, literal, select
from sqlalchemy.orm import Session

from archive.models import UTCDateTime
from stats.periods import Period


def _sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def local_day(session: Session, moment, period: Period):
    """The hospital's date (as text, YYYY-MM-DD) of the UTC timestamp column ``moment``."""
    if _sqlite(session):
        return func.date(moment, _sqlite_offset(moment, period))
    return cast(cast(func.timezone(period.zone.key, moment), Date), String)


def local_month(session: Session, moment, period: Period):
    """The hospital's month (YYYY-MM) of the UTC timestamp column ``moment``."""
    if _sqlite(session):
        return func.strftime("%Y-%m", moment, _sqlite_offset(moment, period))
    return func.to_char(func.timezone(period.zone.key, moment), "YYYY-MM")


def date_month(session: Session, day):
    """The month (YYYY-MM) of the date column ``day``."""
    if _sqlite(session):
        return func.strftime("%Y-%m", day)
    return func.to_char(day, "YYYY-MM")


def _sqlite_offset(moment, period: Period):
    """SQLite's date modifier ('-21600 seconds') that takes ``moment`` to local time: the
    offset in force at that instant, one CASE branch per change within the period."""
    first, changes = period.offsets()
    if not changes:
        return literal(f"{first:+d} seconds")
    branches, offset = [], first
    for instant, after in changes:
        branches.append((moment < literal(instant, UTCDateTime()), f"{offset:+d} seconds"))
        offset = after
    return case(*branches, else_=f"{offset:+d} seconds")


def seconds_between(session: Session, start, end):
    """Whole seconds from ``start`` to ``end`` (two timestamp columns)."""
    if _sqlite(session):
        # SQLite keeps the UTC times as text; julianday reads them as fractional days.
        return func.round((func.julianday(end) - func.julianday(start)) * 86400.0)
    return func.round(cast(func.extract("epoch", end - start), Float))


def days_between(session: Session, start, end):
    """Whole days from the date ``start`` to the date ``end``."""
    if _sqlite(session):
        return cast(func.julianday(end) - func.julianday(start), Float)
    return cast(end - start, Float)


def ranked(values, value_column, group_column=None):
    """``values`` (a subquery) with each row's rank in order of ``value_column`` and the number
    of values, both within ``group_column`` when given."""
    partition = {"partition_by": group_column} if group_column is not None else {}
    columns = [value_column.label("value"),
               func.row_number().over(order_by=value_column, **partition).label("rank"),
               func.count().over(**partition).label("n")]
    if group_column is not None:
        columns.insert(0, group_column.label("grp"))
    return select(*columns).select_from(values).subquery("ranked")


def nearest_rank(ranked_rows, percent: int):
    """The aggregate giving the ``percent``-th percentile of a ``ranked`` subquery's values."""
    qualifies = ranked_rows.c.rank * 100 >= percent * ranked_rows.c.n
    return func.min(case((qualifies, ranked_rows.c.value)))

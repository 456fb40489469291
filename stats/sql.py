"""The few SQL expressions SQLite and PostgreSQL spell differently, and the portable
percentile.

Percentiles are the nearest-rank kind (the smallest value at or above which lies the given
share of the values): a window function numbers the values in order (ROW_NUMBER) and counts
them (COUNT(*) OVER), and the percentile is the least value whose rank r satisfies
r * 100 >= p * n. That is integer arithmetic on standard window functions, so both databases
run the same query, where PERCENTILE_CONT exists on PostgreSQL only.
"""

from __future__ import annotations

from sqlalchemy import Float, case, cast, func, select
from sqlalchemy.orm import Session


def seconds_between(session: Session, start, end):
    """Whole seconds from ``start`` to ``end`` (two timestamp columns)."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLite keeps the UTC times as text; julianday reads them as fractional days.
        return func.round((func.julianday(end) - func.julianday(start)) * 86400.0)
    return func.round(cast(func.extract("epoch", end - start), Float))


def days_between(session: Session, start, end):
    """Whole days from the date ``start`` to the date ``end``."""
    if session.get_bind().dialect.name == "sqlite":
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

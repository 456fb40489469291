"""The retention clocks of retention.clocks, as SQL expressions, so the nightly sweep dates a
million documents in a few statements instead of a Python loop over rows.

The rules are the same, clock for clock, and tests compare this with retention.clocks on the
same patients (29 February included) on SQLite and PostgreSQL. Each construct compiles for
both databases:

- ``add_years``: SQLite's date modifiers already roll 29 February over to 1 March in a year
  without one; PostgreSQL's interval arithmetic gives 28 February, so it gets a day added.
- ``utc_date``: the UTC calendar day of a timestamp (SQLite keeps UTC timestamps as text).
- ``latest``: the latest of some dates, ignoring NULLs (a clock that does not apply);
  PostgreSQL's GREATEST does that, SQLite's scalar max() would return NULL instead.
- ``add_days``: ``day`` plus a whole number of days (the age floor after filing).
- ``not_before``: a date moved forward to an earliest day, NULL (keep) staying NULL, with
  the date expression written once (it is the costly part of the sweep). SQLite's scalar
  max() is NULL when an argument is; PostgreSQL's GREATEST skips NULLs, so there a NULL
  stands in as 'infinity' and is turned back.

The floors of retention.floors apply here as in retention.policies.disposition_for: the
clocks raised to the year floor, and the date never before the age floor after filing.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, case, literal_column, null
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from retention.clocks import Rules
from retention.floors import Floors

# SQLite compares dates as 'YYYY-MM-DD' text: this stands for "no date" inside max().
_NO_DATE = "'0001-01-01'"


class add_years(FunctionElement):  # noqa: N801 - reads as the SQL function it renders
    """``day`` plus a whole number of years; 29 February + N years is 1 March when the
    target year has no 29 February (as retention.clocks.add_years)."""

    type = Date()
    inherit_cache = True

    def __init__(self, day: ColumnElement, years: int):
        # The years are policy constants, rendered as integer literals.
        super().__init__(day, literal_column(str(int(years))))


@compiles(add_years, "sqlite")
def _add_years_sqlite(element: add_years, compiler, **kw) -> str:
    day, years = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"date({day}, '+{years} years')"


@compiles(add_years, "postgresql")
def _add_years_postgresql(element: add_years, compiler, **kw) -> str:
    day, years = (compiler.process(clause, **kw) for clause in element.clauses)
    shifted = f"(({day}) + make_interval(years => {years}))::date"
    leap_day = f"(extract(month from {day}) = 2 AND extract(day from {day}) = 29)"
    rolled_back = f"extract(day from {shifted}) = 28"
    return f"({shifted} + CASE WHEN {leap_day} AND {rolled_back} THEN 1 ELSE 0 END)"


class add_days(FunctionElement):  # noqa: N801
    type = Date()
    inherit_cache = True

    def __init__(self, day: ColumnElement, days: int):
        super().__init__(day, literal_column(str(int(days))))


@compiles(add_days, "sqlite")
def _add_days_sqlite(element: add_days, compiler, **kw) -> str:
    day, days = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"date({day}, '+{days} days')"


@compiles(add_days, "postgresql")
def _add_days_postgresql(element: add_days, compiler, **kw) -> str:
    day, days = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(({day}) + {days})"


class utc_date(FunctionElement):  # noqa: N801
    type = Date()
    inherit_cache = True


@compiles(utc_date, "sqlite")
def _utc_date_sqlite(element: utc_date, compiler, **kw) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(utc_date, "postgresql")
def _utc_date_postgresql(element: utc_date, compiler, **kw) -> str:
    return f"(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC')::date"


class latest(FunctionElement):  # noqa: N801
    type = Date()
    inherit_cache = True


@compiles(latest, "sqlite")
def _latest_sqlite(element: latest, compiler, **kw) -> str:
    dates = [compiler.process(clause, **kw) for clause in element.clauses]
    if len(dates) == 1:
        return dates[0]  # max() of one argument is SQLite's aggregate, not the scalar
    padded = ", ".join(f"coalesce({day}, {_NO_DATE})" for day in dates)
    return f"nullif(max({padded}), {_NO_DATE})"


@compiles(latest, "postgresql")
def _latest_postgresql(element: latest, compiler, **kw) -> str:
    return f"GREATEST({compiler.process(element.clauses, **kw)})"


class not_before(FunctionElement):  # noqa: N801
    type = Date()
    inherit_cache = True


@compiles(not_before, "sqlite")
def _not_before_sqlite(element: not_before, compiler, **kw) -> str:
    day, earliest = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"max({day}, {earliest})"


@compiles(not_before, "postgresql")
def _not_before_postgresql(element: not_before, compiler, **kw) -> str:
    day, earliest = (compiler.process(clause, **kw) for clause in element.clauses)
    infinity = "'infinity'::date"
    return f"NULLIF(GREATEST(COALESCE({day}, {infinity}), {earliest}), {infinity})"


def disposition_date_sql(
    rules: Rules,
    *,
    dob: ColumnElement[date],
    last_encounter: ColumnElement[date],
    date_of_death: ColumnElement[date],
    filed_on: ColumnElement[date],
    floors: Floors,
) -> ColumnElement[date]:
    """The disposition date (NULL: keep), as retention.policies.disposition_for computes
    it, for the patient and filing-date columns given."""
    if rules.permanent:
        return null()
    when = _clocks_sql(floors.raised(rules), dob=dob, last_encounter=last_encounter,
                       date_of_death=date_of_death)
    return not_before(when, add_days(filed_on, floors.min_age_days))


def _clocks_sql(
    rules: Rules,
    *,
    dob: ColumnElement[date],
    last_encounter: ColumnElement[date],
    date_of_death: ColumnElement[date],
) -> ColumnElement[date]:
    clocks = []
    if rules.after_last_encounter_years is not None:
        clocks.append(add_years(last_encounter, rules.after_last_encounter_years))
    if rules.after_majority_years is not None:
        was_minor = last_encounter < add_years(dob, rules.age_of_majority)
        clocks.append(
            case(
                (was_minor, add_years(dob, rules.age_of_majority + rules.after_majority_years)),
                else_=null(),
            )
        )
    if rules.after_death_years is not None:
        # NULL for a living patient: the clock does not apply.
        clocks.append(add_years(date_of_death, rules.after_death_years))
    return latest(*clocks)

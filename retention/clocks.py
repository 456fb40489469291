"""Retention clocks: the day a document's retention period ends, from its patient's dates.

Pure functions, no database. A policy's ``Rules`` combine clocks; every clock that applies to
the patient gives a date, and the disposition date is the LATEST of them, so no clock is ever
cut short ("keep every record exactly as long as the law requires, and not one day less").

The rules, precisely:

- The disposition date is the first day on which the document may be disposed of. A period
  of N years counted from day D is complete at the start of D's Nth anniversary.
- Years after the last encounter: last encounter + N years. The last encounter is the
  latest encounter date over all the patient's documents; a document without a date of
  service counts as an encounter on the day it was filed (``last_encounter``).
- Years after majority: for a patient who was a minor at the last encounter, i.e. younger
  than the age of majority on that date (on the birthday itself they are no longer a minor),
  the date of birth + (age of majority + N) years. For an adult the clock does not apply.
- Years after death: date of death + N years, when a date of death is known.
- Adding years to 29 February lands on 1 March in a year without one (``add_years``). The
  same rule decides when a patient born on 29 February comes of age.
- ``None`` means no date: keep the document. Either the policy is permanent, or none of its
  clocks applies to this patient yet (a policy with only a death clock, for a living patient):
  nothing is ever disposed of without a clock that says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import date

from archive.errors import BadRequest

YEARS_ALLOWED = range(0, 101)
AGE_OF_MAJORITY_ALLOWED = range(16, 26)

# How each setting is named in error messages, which a compliance officer reads.
LABELS = {
    "after_last_encounter_years": "Years after the last encounter",
    "after_majority_years": "Years after majority",
    "age_of_majority": "The age of majority",
    "after_death_years": "Years after death",
    "permanent": "Permanent",
}


class InvalidRules(BadRequest):
    code = "invalid_retention_rules"


@dataclass(frozen=True)
class Rules:
    """The clocks of one retention policy version; a clock left at None is not used."""

    after_last_encounter_years: int | None = None
    after_majority_years: int | None = None
    age_of_majority: int = 18
    after_death_years: int | None = None
    permanent: bool = False

    def __post_init__(self) -> None:
        _check_values(self)
        _check_combination(self)

    def to_json(self) -> dict:
        """A JSON-ready dict, the form kept in ``RetentionPolicy.rules``."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> Rules:
        if not isinstance(data, dict):
            raise InvalidRules("Retention rules must be a JSON object of clock settings.")
        # A misspelt clock must not be dropped silently: the policy would keep records
        # for less time than its author meant.
        unknown = sorted(set(data) - set(LABELS))
        if unknown:
            raise InvalidRules(
                f"Unknown retention setting(s): {', '.join(unknown)}. "
                f"The settings are: {', '.join(LABELS)}."
            )
        return cls(**data)


def _check_values(rules: Rules) -> None:
    for field in fields(rules):
        value = getattr(rules, field.name)
        if field.name == "permanent":
            if not isinstance(value, bool):
                raise InvalidRules(f"{LABELS['permanent']} must be true or false, not {value!r}.")
        elif field.name == "age_of_majority":
            _check_whole_number(field.name, value, AGE_OF_MAJORITY_ALLOWED)
        elif value is not None:
            _check_whole_number(field.name, value, YEARS_ALLOWED)


def _check_whole_number(name: str, value: object, allowed: range) -> None:
    # bool is an int in Python, but "true years" is a mistake, not a number.
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise InvalidRules(
            f"{LABELS[name]} must be a whole number from {allowed.start} to "
            f"{allowed.stop - 1}, not {value!r}."
        )


def _check_combination(rules: Rules) -> None:
    clocks = (rules.after_last_encounter_years, rules.after_majority_years,
              rules.after_death_years)
    has_clock = any(years is not None for years in clocks)
    if rules.permanent and has_clock:
        raise InvalidRules(
            "A permanent policy keeps records forever, so it takes no years: clear the "
            "year clocks or make the policy not permanent."
        )
    if not rules.permanent and not has_clock:
        raise InvalidRules(
            "Choose at least one clock (years after the last encounter, after majority or "
            "after death), or make the policy permanent."
        )


def add_years(day: date, years: int) -> date:
    """The same day and month, ``years`` later; 29 February becomes 1 March in a year
    without it."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        # Only 29 February fails. On 28 February the N years are not complete yet (the
        # anniversary has not come), so ending the period then would dispose of a record a
        # day early; 1 March is the first day they are. For a birthday it keeps the
        # patient a minor one day longer, which can only add a clock, never remove one.
        return date(day.year + years, 3, 1)


def is_minor(dob: date, on: date, age_of_majority: int) -> bool:
    """Was the patient younger than the age of majority on that day?"""
    return on < add_years(dob, age_of_majority)


def last_encounter(documents: Iterable[tuple[date | None, date]]) -> date:
    """The patient's last encounter, from the (date of service, filing date) of each of
    their documents (at least one).

    A document without a date of service documents an encounter on or before the day it
    was filed, so its filing date stands in: that can keep a record longer than needed
    but never shorter. Ignoring such a document instead could date the last encounter
    years too early, and the QC queue already flags the missing date for a clerk to fix.
    """
    return max(date_of_service or filed_on for date_of_service, filed_on in documents)


def disposition_date(
    rules: Rules, *, dob: date, last_encounter: date, date_of_death: date | None
) -> date | None:
    """The first day the document may be disposed of: the latest date any applicable
    clock gives; None to keep it (see the module docstring)."""
    if rules.permanent:
        return None
    clocks = clock_dates(rules, dob=dob, last_encounter=last_encounter,
                         date_of_death=date_of_death)
    return max((when for _label, when in clocks), default=None)


def clock_dates(
    rules: Rules, *, dob: date, last_encounter: date, date_of_death: date | None
) -> list[tuple[str, date]]:
    """Each applicable clock, described for a compliance officer, with the date it gives:
    the "why" behind a disposition date."""
    dates = []
    if rules.after_last_encounter_years is not None:
        dates.append((
            f"{rules.after_last_encounter_years} years after the last encounter "
            f"({last_encounter.isoformat()})",
            add_years(last_encounter, rules.after_last_encounter_years),
        ))
    if rules.after_majority_years is not None and is_minor(
        dob, last_encounter, rules.age_of_majority
    ):
        # One step from the date of birth (the birthday itself), rather than majority first
        # and then the years, so a 29 February birthday falls on 29 February when it can.
        dates.append((
            f"a minor at the last encounter: {rules.after_majority_years} years after "
            f"turning {rules.age_of_majority} (born {dob.isoformat()})",
            add_years(dob, rules.age_of_majority + rules.after_majority_years),
        ))
    if rules.after_death_years is not None and date_of_death is not None:
        dates.append((
            f"{rules.after_death_years} years after death ({date_of_death.isoformat()})",
            add_years(date_of_death, rules.after_death_years),
        ))
    return dates

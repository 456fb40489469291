"""Retention clocks and presets: pure date arithmetic, no database."""

from __future__ import annotations

import json
from datetime import date

import pytest

from archive.errors import NotFound
from retention.clocks import (
    InvalidRules,
    Rules,
    add_years,
    disposition_date,
    is_minor,
    last_encounter,
)
from retention.presets import PRESETS, find_preset

AHIMA = find_preset("ahima").rules
TEXAS = find_preset("texas_physicians").rules
NEW_YORK = find_preset("new_york_hospitals").rules
PERMANENT = find_preset("permanent").rules


def dispose(rules, *, dob, last, death=None):
    return disposition_date(rules, dob=dob, last_encounter=last, date_of_death=death)


# --- adult, minor, deceased, permanent -------------------------------------------------------


def test_adult_is_kept_ten_years_after_the_last_encounter_under_ahima():
    assert dispose(AHIMA, dob=date(1970, 1, 2), last=date(2015, 3, 10)) == date(2025, 3, 10)


def test_minor_is_kept_to_majority_plus_ten_under_ahima():
    # Seen at 9: ten years after the visit (2030) comes before the 28th birthday (2038).
    assert dispose(AHIMA, dob=date(2010, 6, 1), last=date(2020, 1, 15)) == date(2038, 6, 1)


@pytest.mark.parametrize(
    ("dob", "last", "expected"),
    [
        # Last treated at 1: the 21st birthday is later than seven years after.
        (date(2015, 1, 1), date(2016, 1, 1), date(2036, 1, 1)),
        # Last treated at 17: seven years after treatment is later than the 21st birthday.
        (date(2000, 1, 1), date(2017, 6, 1), date(2024, 6, 1)),
        # An adult: seven years after the last treatment.
        (date(1980, 5, 5), date(2019, 8, 20), date(2026, 8, 20)),
    ],
)
def test_texas_keeps_minors_to_the_later_of_age_21_or_seven_years(dob, last, expected):
    assert dispose(TEXAS, dob=dob, last=last) == expected


def test_deceased_patient_is_kept_six_years_after_death_in_new_york():
    assert dispose(NEW_YORK, dob=date(1950, 4, 4), last=date(2020, 2, 1),
                   death=date(2022, 7, 15)) == date(2028, 7, 15)


def test_death_clock_does_not_apply_to_a_living_patient():
    assert dispose(NEW_YORK, dob=date(1950, 4, 4), last=date(2020, 2, 1)) == date(2026, 2, 1)


def test_permanent_policy_keeps_forever_even_after_death():
    assert dispose(PERMANENT, dob=date(1950, 4, 4), last=date(2000, 1, 1),
                   death=date(2001, 1, 1)) is None


def test_policy_whose_only_clock_does_not_apply_keeps_the_record():
    death_only = Rules(after_death_years=10)
    assert dispose(death_only, dob=date(1950, 4, 4), last=date(2000, 1, 1)) is None


def test_majority_clock_does_not_apply_to_an_adult():
    minors_only = Rules(after_majority_years=3)
    assert dispose(minors_only, dob=date(1950, 4, 4), last=date(2000, 1, 1)) is None


# --- who is a minor ---------------------------------------------------------------------------


def test_a_patient_is_a_minor_until_the_birthday_of_majority():
    dob = date(2000, 5, 10)
    assert is_minor(dob, date(2018, 5, 9), 18)
    assert not is_minor(dob, date(2018, 5, 10), 18)


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        (date(2018, 5, 9), date(2021, 5, 10)),  # the day before 18: the majority clock applies
        (date(2018, 5, 10), date(2019, 5, 10)),  # the 18th birthday: an adult, one year after
    ],
)
def test_majority_clock_applies_only_to_a_minor_at_the_last_encounter(last, expected):
    rules = Rules(after_last_encounter_years=1, age_of_majority=18, after_majority_years=3)
    assert dispose(rules, dob=date(2000, 5, 10), last=last) == expected


def test_age_of_majority_is_the_policys_own():
    rules = Rules(after_majority_years=0, age_of_majority=21)
    assert dispose(rules, dob=date(2000, 5, 10), last=date(2020, 1, 1)) == date(2021, 5, 10)


# --- 29 February ------------------------------------------------------------------------------


def test_adding_years_to_29_february_lands_on_1_march_in_a_common_year():
    assert add_years(date(2024, 2, 29), 10) == date(2034, 3, 1)
    assert add_years(date(2024, 2, 29), 4) == date(2028, 2, 29)


def test_born_on_29_february_is_still_a_minor_on_28_february_of_a_common_year():
    majority_only = Rules(after_majority_years=0, age_of_majority=18)
    dob = date(2008, 2, 29)  # 18 in 2026, a common year
    assert dispose(majority_only, dob=dob, last=date(2026, 2, 28)) == date(2026, 3, 1)
    assert dispose(majority_only, dob=dob, last=date(2026, 3, 1)) is None


def test_born_on_29_february_reaches_majority_plus_years_on_29_february_when_it_exists():
    # 18 in 2026 (a common year) but 28 in 2036, a leap year: one step from the birth date.
    assert dispose(AHIMA, dob=date(2008, 2, 29), last=date(2020, 1, 1)) == date(2036, 2, 29)


# --- the latest clock wins --------------------------------------------------------------------

DISAGREEING = Rules(after_last_encounter_years=10, age_of_majority=18, after_majority_years=3,
                    after_death_years=2)


@pytest.mark.parametrize(
    ("dob", "last", "death", "expected", "winner"),
    [
        (date(1950, 1, 1), date(2010, 3, 3), date(2011, 1, 1), date(2020, 3, 3), "encounter"),
        (date(1950, 1, 1), date(2010, 3, 3), date(2019, 6, 6), date(2021, 6, 6), "death"),
        (date(2005, 9, 9), date(2006, 3, 3), None, date(2026, 9, 9), "majority"),
    ],
)
def test_when_clocks_disagree_the_latest_date_wins(dob, last, death, expected, winner):
    assert dispose(DISAGREEING, dob=dob, last=last, death=death) == expected, winner


# --- last encounter ---------------------------------------------------------------------------


def test_last_encounter_is_the_latest_date_of_service():
    documents = [(date(2019, 1, 1), date(2024, 1, 1)), (date(2021, 5, 5), date(2024, 1, 1))]
    assert last_encounter(documents) == date(2021, 5, 5)


def test_a_document_without_a_date_of_service_counts_as_filed_that_day():
    documents = [(date(2019, 1, 1), date(2019, 2, 1)), (None, date(2023, 7, 7))]
    assert last_encounter(documents) == date(2023, 7, 7)


# --- rules: JSON and validation ---------------------------------------------------------------


@pytest.mark.parametrize("rules", [preset.rules for preset in PRESETS])
def test_rules_survive_a_json_round_trip(rules):
    assert Rules.from_json(json.loads(json.dumps(rules.to_json()))) == rules


def test_settings_left_out_of_the_json_take_their_defaults():
    assert Rules.from_json({"after_death_years": 6}) == Rules(
        after_death_years=6, age_of_majority=18, permanent=False
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"after_last_encounter_years": 101}, "Years after the last encounter must be a whole "
                                              "number from 0 to 100, not 101"),
        ({"after_last_encounter_years": -1}, "from 0 to 100, not -1"),
        ({"after_death_years": 7.5}, "Years after death must be a whole number"),
        ({"after_death_years": "7"}, "Years after death must be a whole number"),
        ({"after_majority_years": True}, "Years after majority must be a whole number"),
        ({"after_majority_years": 3, "age_of_majority": 15}, "from 16 to 25, not 15"),
        ({"after_majority_years": 3, "age_of_majority": 26}, "from 16 to 25, not 26"),
        ({"permanent": "yes"}, "Permanent must be true or false"),
        ({"permanent": True, "after_death_years": 6}, "A permanent policy keeps records forever"),
        ({}, "Choose at least one clock"),
        ({"after_death_years": None, "permanent": False}, "Choose at least one clock"),
        ({"after_last_encounter_yrs": 10}, "Unknown retention setting.*after_last_encounter_yrs"),
        ([10], "must be a JSON object"),
    ],
)
def test_invalid_rules_are_refused_with_a_clear_message(data, message):
    with pytest.raises(InvalidRules, match=message):
        Rules.from_json(data)


def test_rules_built_in_code_are_validated_too():
    with pytest.raises(InvalidRules, match="from 0 to 100"):
        Rules(after_last_encounter_years=500)


# --- presets ----------------------------------------------------------------------------------


def test_every_preset_names_its_source():
    assert [preset.key for preset in PRESETS] == [
        "ahima", "texas_physicians", "new_york_hospitals", "permanent"
    ]
    for preset in PRESETS:
        assert preset.name and len(preset.source) > 80, preset.key
    assert "165.1" in find_preset("texas_physicians").source
    assert "405.10" in find_preset("new_york_hospitals").source
    assert "AHIMA" in find_preset("ahima").source


def test_an_unknown_preset_is_refused_listing_the_known_ones():
    with pytest.raises(NotFound, match="The presets are: ahima, texas_physicians"):
        find_preset("florida")

"""Retention presets: common schedules as data, each naming the law or guidance it follows.

A preset is a starting point, not legal advice: applying one saves it as a policy version
(``retention.policies.apply_preset``), and the compliance officer stays responsible for
checking it against the law that binds the hospital. Each source says how far its figures
could be verified when the preset was written.
"""

from __future__ import annotations

from dataclasses import dataclass

from archive.errors import NotFound
from retention.clocks import Rules


@dataclass(frozen=True)
class Preset:
    key: str
    name: str
    rules: Rules
    source: str


PRESETS: tuple[Preset, ...] = (
    Preset(
        key="ahima",
        name="AHIMA recommendation",
        rules=Rules(after_last_encounter_years=10, age_of_majority=18, after_majority_years=10),
        source=(
            "AHIMA practice brief 'Retention and Destruction of Health Information' "
            "(https://library.ahima.org/PB/RetentionDestruction), recommended retention "
            "standards: patient health/medical records of adults, 10 years after the most "
            "recent encounter; of minors, age of majority plus the statute of limitations. "
            "The brief's table could not be read directly; these figures are as quoted by "
            "secondary sources (e.g. treatmentok.com 'Hospital Records Retention Policy', "
            "2018). AHIMA names no number for the statute of limitations, which is each "
            "state's: this preset assumes majority at 18 plus 10 years (age 28), the same 10 "
            "years AHIMA gives for adults, so a minor's chart is kept at least as long past "
            "majority as an adult's past the last visit. Replace the 10 with your state's "
            "statute of limitations for minors before relying on it."
        ),
    ),
    Preset(
        key="texas_physicians",
        name="Texas physicians (22 TAC 165.1)",
        # Texas counts "younger than 18 years of age when last treated", which is this
        # module's definition of a minor with majority at 18; 18 + 3 is the age of 21.
        rules=Rules(after_last_encounter_years=7, age_of_majority=18, after_majority_years=3),
        source=(
            "Texas Medical Board rule, 22 Tex. Admin. Code 165.1(b): a minimum of seven "
            "years from the anniversary date of the last treatment; if the patient was "
            "younger than 18 when last treated, until the patient reaches age 21 or seven "
            "years from the last treatment, whichever is longer. Verified as quoted by the "
            "Texas Medical Association (https://www.texmed.org/template.aspx?id=1556, "
            "updated 2020-09-29) and healthinfolaw.org; the rule does not address death. "
            "The rule also forbids destroying records tied to an unresolved proceeding: "
            "that is what legal holds are for."
        ),
    ),
    Preset(
        key="new_york_hospitals",
        name="New York hospitals (10 NYCRR 405.10)",
        # The three-years-past-18 clock can only outlast six years from discharge for a
        # patient discharged before 15, so limiting it to minors changes no date.
        rules=Rules(
            after_last_encounter_years=6,
            age_of_majority=18,
            after_majority_years=3,
            after_death_years=6,
        ),
        source=(
            "New York, 10 NYCRR 405.10(a)(4): medical records retained at least six years "
            "from the date of discharge or three years after the patient's age of majority "
            "(18 years), whichever is longer, or at least six years after death. Verified "
            "as quoted by secondary pages citing the regulation and by legalclarity.org "
            "('How Long Do Hospitals Keep Medical Records in New York?', citing Cornell "
            "LII). The rule's 'or ... after death' is read conservatively: for a deceased "
            "patient the latest of all three clocks applies, which is never shorter than "
            "any reading of it."
        ),
    ),
    Preset(
        key="permanent",
        name="Permanent",
        rules=Rules(permanent=True),
        source=(
            "Kept forever, never offered for disposition. AHIMA recommends permanent "
            "retention for the master patient index and the registers of births, deaths "
            "and surgical procedures (as quoted by secondary sources; see the AHIMA preset)."
        ),
    ),
)


def find_preset(key: str) -> Preset:
    for preset in PRESETS:
        if preset.key == key:
            return preset
    known = ", ".join(preset.key for preset in PRESETS)
    raise NotFound(f"There is no retention preset {key!r}. The presets are: {known}.")

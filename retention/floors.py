"""The destruction safeguards' floors: however a retention policy is written, no clock runs
shorter than ``CHARTVAULT_RETENTION_MIN_YEARS`` (default 1), and no document filed less than
``CHARTVAULT_DISPOSITION_MIN_AGE_DAYS`` ago (default 90) is ever due.

They exist because a "0 years after the last encounter" policy was once accepted, and a
document filed minutes earlier was destroyed. A new policy below the year floor is refused
(``check``); a policy stored before the floor existed still counts as at least that long
(``raised``), so an upgrade never leaves a short clock in force. The age floor is applied to
every computed disposition date (``not_before``), in Python and in the sweep's SQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date, timedelta

from archive.config import Settings
from retention.clocks import LABELS, InvalidRules, Rules

YEAR_CLOCKS = ("after_last_encounter_years", "after_majority_years", "after_death_years")


class PolicyBelowFloor(InvalidRules):
    """A policy clock shorter than the archive allows: well-formed, but refused."""

    http_status = 422
    code = "retention_below_floor"


@dataclass(frozen=True)
class Floors:
    min_years: int = 1
    min_age_days: int = 90

    def __post_init__(self) -> None:
        for field in fields(self):
            if getattr(self, field.name) < 0:
                raise ValueError(f"{field.name} must not be negative")

    @classmethod
    def of(cls, settings: Settings) -> Floors:
        return cls(settings.retention_min_years, settings.disposition_min_age_days)

    def check(self, rules: Rules) -> None:
        """Refuse rules with any clock shorter than the year floor (a permanent policy has
        none, so it always passes)."""
        short = [name for name in YEAR_CLOCKS
                 if getattr(rules, name) is not None and getattr(rules, name) < self.min_years]
        if not short:
            return
        named = "; ".join(f"{LABELS[name]} is {getattr(rules, name)}" for name in short)
        unit = "year" if self.min_years == 1 else "years"
        raise PolicyBelowFloor(
            f"No retention clock may be shorter than {self.min_years} {unit} ({named}). "
            f"The floor is the archive setting CHARTVAULT_RETENTION_MIN_YEARS; it keeps a "
            f"mistyped policy from destroying records the law still requires. Give each "
            f"clock at least {self.min_years} {unit}, or make the policy permanent."
        )

    def raised(self, rules: Rules) -> Rules:
        """The rules with every clock at least the year floor: how a policy stored before
        the floor (or under a lower one) is applied."""
        changes = {name: self.min_years for name in YEAR_CLOCKS
                   if getattr(rules, name) is not None and getattr(rules, name) < self.min_years}
        return replace(rules, **changes) if changes else rules

    def earliest(self, filed_on: date) -> date:
        """The first day a document filed on ``filed_on`` (UTC date) may be disposed of."""
        return filed_on + timedelta(days=self.min_age_days)

    def not_before(self, when: date | None, filed_on: date) -> date | None:
        """A disposition date moved to the age floor if it falls earlier; None (keep) stays."""
        return None if when is None else max(when, self.earliest(filed_on))

    def age_refusal(self, filed_on: date, today: date) -> str:
        """Why a document filed on ``filed_on`` must not be destroyed ``today``; "" when
        the age floor allows it."""
        if today >= self.earliest(filed_on):
            return ""
        return (f"Filed on {filed_on.isoformat()}, less than {self.min_age_days} days ago: no "
                "document is destroyed that young (CHARTVAULT_DISPOSITION_MIN_AGE_DAYS). It "
                f"can be due from {self.earliest(filed_on).isoformat()}.")

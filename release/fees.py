"""Fee schedules of release of information: what a copy of records costs, by who asks.

Every amount is in integer cents, never a float, so that no total is ever a cent off. Each
requester kind has a schedule (a flat fee, a fee per page, a fee per medium); payers and
providers pay nothing by default, as they ask for treatment and payment. A request under the
patient's right of access is capped at the cost cap whatever the schedule says. A hospital
sets its own schedules and cap in ``app.config["RELEASE_FEES"]`` and
``app.config["RELEASE_ACCESS_FEE_CAP"]`` (``init_app`` puts the defaults there).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from archive.errors import BadRequest
from release.terms import REQUESTER_KINDS

MEDIA = ("paper", "cd", "electronic")
RIGHT_OF_ACCESS = "right_of_access"

# 45 CFR 164.524(c)(4) allows the patient only a reasonable, cost-based fee. HHS lets a
# hospital charge a flat fee of up to $6.50 for electronic copies instead of working out its
# actual costs, which is what most do; a hospital that has calculated its real costs (or
# whose state law sets a lower figure) configures its own cap.
DEFAULT_ACCESS_FEE_CAP = 650


@dataclass(frozen=True)
class FeeSchedule:
    """What one kind of requester is charged: ``flat`` once, ``per_page`` for every page of
    the packet, and the fee of the medium the copy goes out on."""

    flat: int = 0
    per_page: int = 0
    media: Mapping[str, int] = field(default_factory=dict)

    def media_fee(self, medium: str) -> int:
        return self.media.get(medium, 0)


FREE = FeeSchedule()
_COPY_SERVICE = FeeSchedule(flat=2500, per_page=100, media={"cd": 1000, "electronic": 500})
_PATIENT = FeeSchedule(per_page=25, media={"cd": 500})

DEFAULT_FEE_SCHEDULE: dict[str, FeeSchedule] = {
    "patient": _PATIENT,
    "representative": _PATIENT,
    # Treatment and payment: no fee, so that care and claims are not held up.
    "provider": FREE,
    "payer": FREE,
    "public_health": FREE,
    "law_enforcement": FREE,
    "attorney": _COPY_SERVICE,
    "court": FeeSchedule(flat=1500, per_page=50, media={"cd": 1000}),
    "other": _COPY_SERVICE,
}


@dataclass(frozen=True)
class Line:
    """One line of an invoice; ``amount`` is ``quantity * unit`` except for the cap's line,
    which takes off what goes beyond the cap."""

    description: str
    quantity: int
    unit: int
    amount: int

    def as_json(self) -> dict:
        return {"description": self.description, "quantity": self.quantity,
                "unit_cents": self.unit, "amount_cents": self.amount}


def schedule_for(schedules: Mapping[str, FeeSchedule], requester_kind: str) -> FeeSchedule:
    """The kind's schedule; a kind the hospital left out of its configuration pays nothing
    rather than an amount nobody decided."""
    if requester_kind not in REQUESTER_KINDS:
        raise BadRequest(f"requester kind must be one of {', '.join(REQUESTER_KINDS)}, not "
                         f"{requester_kind!r}.")
    return schedules.get(requester_kind, FREE)


def fee_lines(schedule: FeeSchedule, *, pages: int, medium: str, legal_basis: str,
              access_cap: int) -> list[Line]:
    """The invoice's lines for a packet of ``pages`` pages sent on ``medium``; zero-amount
    lines are left out, and a right-of-access request gets a line taking it down to the cap."""
    if medium not in MEDIA:
        raise BadRequest(f"media must be one of {', '.join(MEDIA)}, not {medium!r}.")
    if pages < 0:
        raise BadRequest("pages must not be negative.")
    lines = [Line("Search and handling", 1, schedule.flat, schedule.flat),
             Line("Copies, per page", pages, schedule.per_page, pages * schedule.per_page),
             Line(f"Medium: {medium}", 1, schedule.media_fee(medium),
                  schedule.media_fee(medium))]
    lines = [line for line in lines if line.amount]
    subtotal = sum(line.amount for line in lines)
    if legal_basis == RIGHT_OF_ACCESS and subtotal > access_cap:
        lines.append(Line(f"Right-of-access fee cap ({money(access_cap)}, 45 CFR "
                          "164.524(c)(4))", 1, access_cap - subtotal, access_cap - subtotal))
    return lines


def money(cents: int) -> str:
    """Cents as dollars for people: 1250 -> "$12.50", -300 -> "-$3.00"."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


_DOLLARS = re.compile(r"([0-9]{1,9})?(?:\.([0-9]{1,2}))?")


def parse_money(text: str, field_name: str) -> int:
    """Dollars as a clerk types them ("12.50", "$1,200", "7", ".50") as cents, exactly."""
    cleaned = text.strip().removeprefix("$").replace(",", "")
    # ASCII digits only: "²".isdigit() is true, but int() refuses it.
    found = _DOLLARS.fullmatch(cleaned)
    if found is None or not any(found.groups()):
        raise BadRequest(f"{field_name}: write an amount in dollars with at most two digits "
                         "after the point (cents), such as 12.50.")
    whole, cents = found.group(1) or "0", (found.group(2) or "").ljust(2, "0")
    return int(whole) * 100 + int(cents)


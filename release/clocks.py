"""The legal clocks of a request: when it is due, and whether (and how far) it may be extended.

HIPAA counts calendar days, so weekends and holidays are not special: a request received on a
Friday is due 30 days later whatever day that is. The defaults are the HIPAA rules; a hospital
whose state law is stricter gives its own ``Clock`` per request type (``init_app`` keeps them in
``app.config["RELEASE_CLOCKS"]``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from archive.errors import Conflict

# What a request asks for; each has its own clock.
REQUEST_TYPES = ("records", "accounting", "amendment")
# The clock names: a records request under the right of access runs on the patient's clock;
# any other records request (authorization, court order, ...) on the hospital's own target.
RIGHT_OF_ACCESS, DISCLOSURE = "right_of_access", "disclosure"


class ExtensionRefused(Conflict):
    """The rules allow no (further) extension of this request's due date."""

    code = "extension_refused"


@dataclass(frozen=True)
class Clock:
    days: int  # from the date received to the due date
    extension_days: int  # 0: the due date cannot be extended
    rule: str  # where the numbers come from, shown to the clerk


DEFAULT_CLOCKS: dict[str, Clock] = {
    RIGHT_OF_ACCESS: Clock(30, 30, "45 CFR 164.524(b)(2): 30 days, one 30-day extension "
                                   "with a written notice inside the first 30"),
    "accounting": Clock(60, 30, "45 CFR 164.528(c)(1): 60 days, one 30-day extension"),
    "amendment": Clock(60, 30, "45 CFR 164.526(b)(2): 60 days, one 30-day extension"),
    # No federal deadline; the hospital's own service target, so the queue still orders them.
    DISCLOSURE: Clock(30, 30, "hospital policy: 30 days, one 30-day extension"),
}


def clock_name(request_type: str, legal_basis: str) -> str:
    if request_type != "records":
        return request_type
    return RIGHT_OF_ACCESS if legal_basis == RIGHT_OF_ACCESS else DISCLOSURE


def due_date(received: date, clock: Clock) -> date:
    """The first due date; also the last day on which the extension notice may be sent."""
    return received + timedelta(days=clock.days)


def extended_due_date(received: date, clock: Clock, *, already_extended: bool,
                      notice_sent: date) -> date:
    """The due date after the one extension the rules allow, given the date the written
    notice went to the requester. Refused when the clock has no extension, when the request
    was extended before, or when the notice was not sent within the first period."""
    if clock.extension_days <= 0:
        raise ExtensionRefused(f"This kind of request cannot be extended ({clock.rule}).")
    if already_extended:
        raise ExtensionRefused(
            f"This request was extended already; the rules allow one extension ({clock.rule}).")
    deadline = due_date(received, clock)
    if not received <= notice_sent <= deadline:
        raise ExtensionRefused(
            f"The extension notice must be sent to the requester between the date received "
            f"({received.isoformat()}) and the first due date ({deadline.isoformat()}); it was "
            f"sent on {notice_sent.isoformat()}, so the request stays due on "
            f"{deadline.isoformat()}.")
    return deadline + timedelta(days=clock.extension_days)


# 45 CFR 164.528(a)(1): a patient's accounting covers the six years before the request.
ACCOUNTING_YEARS = 6


def accounting_window_start(today: date) -> date:
    """The first day an accounting produced on ``today`` covers (29 February falls back to
    the 28th in a year that has none)."""
    year = today.year - ACCOUNTING_YEARS
    try:
        return today.replace(year=year)
    except ValueError:
        return today.replace(year=year, day=28)

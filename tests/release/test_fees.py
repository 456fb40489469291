"""Fee schedules (release.fees), as pure functions: payers and providers free, an attorney's
flat fee plus pages plus medium, the right-of-access cap, and money kept in whole cents."""

from __future__ import annotations

import pytest

from archive.errors import BadRequest
from release.fees import (
    DEFAULT_ACCESS_FEE_CAP,
    DEFAULT_FEE_SCHEDULE,
    FREE,
    FeeSchedule,
    fee_lines,
    money,
    parse_money,
    schedule_for,
)


def total(kind: str, pages: int, medium: str = "paper", legal_basis: str = "authorization",
          cap: int = DEFAULT_ACCESS_FEE_CAP, schedules=DEFAULT_FEE_SCHEDULE) -> int:
    lines = fee_lines(schedule_for(schedules, kind), pages=pages, medium=medium,
                      legal_basis=legal_basis, access_cap=cap)
    return sum(line.amount for line in lines)


@pytest.mark.parametrize("kind", ["payer", "provider"])
@pytest.mark.parametrize("medium", ["paper", "cd", "electronic"])
def test_payers_and_providers_pay_nothing_by_default(kind, medium):
    assert fee_lines(schedule_for(DEFAULT_FEE_SCHEDULE, kind), pages=400, medium=medium,
                     legal_basis="tpo", access_cap=DEFAULT_ACCESS_FEE_CAP) == []


def test_an_attorney_pays_the_flat_fee_each_page_and_the_medium():
    lines = fee_lines(DEFAULT_FEE_SCHEDULE["attorney"], pages=12, medium="cd",
                      legal_basis="authorization", access_cap=DEFAULT_ACCESS_FEE_CAP)
    assert [(line.description, line.quantity, line.unit, line.amount) for line in lines] == [
        ("Search and handling", 1, 2500, 2500),
        ("Copies, per page", 12, 100, 1200),
        ("Medium: cd", 1, 1000, 1000)]
    assert total("attorney", 12, "paper") == 3700


def test_the_right_of_access_fee_is_capped_at_cost():
    assert total("patient", 10, "paper") == 250  # under an authorization: the schedule
    assert total("patient", 10, "paper", legal_basis="right_of_access") == 250  # under the cap
    lines = fee_lines(DEFAULT_FEE_SCHEDULE["patient"], pages=300, medium="cd",
                      legal_basis="right_of_access", access_cap=650)
    assert sum(line.amount for line in lines) == 650
    assert lines[-1].description.startswith("Right-of-access fee cap ($6.50")
    assert lines[-1].amount == 650 - (300 * 25 + 500)
    # An attorney sent by the patient under the right of access is capped too.
    assert total("attorney", 50, legal_basis="right_of_access") == 650
    assert total("attorney", 50, legal_basis="right_of_access", cap=2000) == 2000


def test_a_hospitals_own_schedule_replaces_the_default():
    schedules = {**DEFAULT_FEE_SCHEDULE, "payer": FeeSchedule(flat=1000),
                 "court": FeeSchedule(per_page=10, media={"electronic": 300})}
    assert total("payer", 99, schedules=schedules) == 1000
    assert total("court", 7, "electronic", schedules=schedules) == 370
    assert schedule_for({"attorney": FREE}, "patient") == FREE  # left out: free


def test_unknown_media_and_kinds_are_refused_by_name():
    with pytest.raises(BadRequest, match="media must be one of paper, cd, electronic"):
        total("attorney", 1, "fax")
    with pytest.raises(BadRequest, match="requester kind must be one of"):
        schedule_for(DEFAULT_FEE_SCHEDULE, "stranger")


def test_money_is_whole_cents_both_ways():
    assert [money(c) for c in (0, 5, 1250, 123456, -300)] == [
        "$0.00", "$0.05", "$12.50", "$1,234.56", "-$3.00"]
    assert [parse_money(t, "amount") for t in ("12.50", "$1,200", "7", "0.1", ".05")] == [
        1250, 120000, 700, 10, 5]
    for bad in ("", ".", "abc", "1.234", "-5", "1e3", "1.2.3", "9" * 12, "²", "٣"):
        with pytest.raises(BadRequest, match="amount"):
            parse_money(bad, "amount")

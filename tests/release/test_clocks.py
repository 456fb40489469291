"""The legal clocks: due dates by request type, calendar days, and the one extension with its
written notice inside the first period. The pure rules first, then through the API on both
databases."""

from __future__ import annotations

from datetime import date

import pytest

from release.clocks import (
    DEFAULT_CLOCKS,
    Clock,
    ExtensionRefused,
    clock_name,
    due_date,
    extended_due_date,
)
from tests.release.conftest import audit_events

FRIDAY = date(2026, 5, 1)


def test_right_of_access_is_due_30_calendar_days_after_receipt_even_from_a_friday():
    assert FRIDAY.weekday() == 4
    due = due_date(FRIDAY, DEFAULT_CLOCKS[clock_name("records", "right_of_access")])
    assert due == date(2026, 5, 31)  # a Sunday: weekends are not special
    assert due.weekday() == 6


@pytest.mark.parametrize("request_type", ["accounting", "amendment"])
def test_accounting_and_amendment_run_60_days_plus_30(request_type):
    clock = DEFAULT_CLOCKS[clock_name(request_type, "right_of_access")]
    assert due_date(FRIDAY, clock) == date(2026, 6, 30)
    assert extended_due_date(FRIDAY, clock, already_extended=False,
                             notice_sent=date(2026, 6, 30)) == date(2026, 7, 30)


def test_an_extension_needs_its_notice_inside_the_first_30_days():
    clock = DEFAULT_CLOCKS["right_of_access"]
    assert extended_due_date(FRIDAY, clock, already_extended=False,
                             notice_sent=date(2026, 5, 31)) == date(2026, 6, 30)
    for late_or_early in (date(2026, 6, 1), date(2026, 4, 30)):
        with pytest.raises(ExtensionRefused, match="2026-05-31"):
            extended_due_date(FRIDAY, clock, already_extended=False, notice_sent=late_or_early)


def test_only_one_extension_and_none_where_the_clock_has_none():
    with pytest.raises(ExtensionRefused, match="one extension"):
        extended_due_date(FRIDAY, DEFAULT_CLOCKS["right_of_access"], already_extended=True,
                          notice_sent=FRIDAY)
    with pytest.raises(ExtensionRefused, match="cannot be extended"):
        extended_due_date(FRIDAY, Clock(10, 0, "state law"), already_extended=False,
                          notice_sent=FRIDAY)


def test_the_due_date_of_a_logged_request_follows_its_type(log_request, filed):
    access = log_request()
    assert access.status_code == 201, access.json
    assert access.json["due"] == "2026-05-31"
    assert access.json["notice_deadline"] == "2026-05-31"
    accounting = log_request(request_type="accounting")
    assert accounting.json["due"] == "2026-06-30"
    amendment = log_request(request_type="amendment",
                            documents={"document_ids": [filed().document_id]})
    assert amendment.json["due"] == "2026-06-30"


def test_a_hospital_sets_its_own_clock(app, log_request):
    app.config["RELEASE_CLOCKS"] = {**DEFAULT_CLOCKS, "right_of_access": Clock(15, 0, "state")}
    assert log_request().json["due"] == "2026-05-16"


def test_extending_through_the_api_moves_the_due_date_once(client, people, ext, log_request):
    request_id = log_request().json["id"]
    url = f"/api/v1/requests/{request_id}/extend"
    staff = people.headers("staff")
    late = client.post(url, json={"notice_sent": "2026-06-01", "reason": "archived offsite"},
                       headers=staff)
    assert late.status_code == 409
    assert late.json["error"]["code"] == "extension_refused"
    extended = client.post(url, json={"notice_sent": "2026-05-20",
                                      "reason": "records stored offsite"}, headers=staff)
    assert extended.status_code == 200, extended.json
    assert extended.json["due"] == "2026-06-30"
    assert extended.json["extension_notice_sent"] == "2026-05-20"
    again = client.post(url, json={"notice_sent": "2026-05-21", "reason": "more time"},
                        headers=staff)
    assert again.status_code == 409
    assert client.get(f"/api/v1/requests/{request_id}", headers=staff).json["due"] == "2026-06-30"
    [event] = audit_events(ext, "request.extend", request_id)
    assert event.details["to"] == "2026-06-30"
    assert event.reason == "records stored offsite"


def test_an_extension_needs_a_reason(client, people, log_request):
    request_id = log_request().json["id"]
    response = client.post(f"/api/v1/requests/{request_id}/extend",
                           json={"notice_sent": "2026-05-20", "reason": " "},
                           headers=people.headers("staff"))
    assert response.status_code == 400
    assert "reason" in response.json["error"]["message"]

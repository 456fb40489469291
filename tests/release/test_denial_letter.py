"""The denial letter (GET /api/v1/requests/<id>/letter.pdf and the request page's link), on
both databases: its text read back with pdftotext — request number, date, reason, and for a
right-of-access request the review right and the complaints to the hospital and to the
Secretary of HHS — a 409 for a request that is not denied, and every download audited."""

from __future__ import annotations

import subprocess

import pytest

from tests.release.conftest import audit_events
from tests.release.test_queue import logged_in

REASON = "The records asked for were compiled for a pending lawsuit."


@pytest.fixture
def deny(log_request, move):
    def denied(**changes):
        request_id = log_request(**changes).json["id"]
        assert move(request_id, "in_review").status_code == 200
        assert move(request_id, "denied", REASON).status_code == 200
        return request_id

    return denied


def letter(client, people, request_id, role="staff"):
    return client.get(f"/api/v1/requests/{request_id}/letter.pdf", headers=people.headers(role))


def text_of(pdf: bytes) -> str:
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True,
                         check=True).stdout.decode()
    return " ".join(out.split())


def test_a_right_of_access_denial_states_the_reason_and_the_rights(client, people, ext, deny):
    request_id = deny()
    response = letter(client, people, request_id)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].endswith(f'request-{request_id}-denial.pdf"')
    text = text_of(response.data)
    shown = client.get(f"/api/v1/requests/{request_id}", headers=people.headers("staff")).json
    assert f"Request number {request_id}" in text
    assert f"Date {shown['updated_at'][:10]}" in text
    assert "Request received 2026-05-01" in text
    assert "Dear DOE, JANE" in text and "1 Main St, Springfield" in text
    assert REASON in text
    assert "Your right to have this denial reviewed" in text
    assert "licensed health care professional" in text
    assert "How to complain to the hospital" in text
    assert "the Privacy Officer, Health Information Management Department" in text
    assert "Secretary of the U.S. Department of Health and Human Services" in text
    assert "www.hhs.gov/ocr/complaints" in text
    [event] = audit_events(ext, "request.denial_letter", request_id)
    assert (event.actor, event.patient_mrn) == ("staff1", "MRN-1001")


def test_another_denial_names_whom_to_ask_without_the_access_rights(client, people, deny):
    request_id = deny(legal_basis="authorization",
                      requester={"kind": "attorney", "name": "Law Office"})
    text = text_of(letter(client, people, request_id).data)
    assert REASON in text and "Dear Law Office" in text
    assert f"quoting request number {request_id}" in text
    assert "right to have this denial reviewed" not in text and "Secretary" not in text


def test_a_request_that_is_not_denied_has_no_letter(client, people, ext, log_request):
    request_id = log_request().json["id"]
    refused = letter(client, people, request_id)
    assert refused.status_code == 409
    assert "not denied" in refused.json["error"]["message"]
    assert audit_events(ext, "request.denial_letter", request_id) == []
    assert letter(client, people, 999).status_code == 404


def test_who_may_download_the_letter(client, people, deny):
    request_id = deny()
    assert letter(client, people, request_id, role="compliance").status_code == 200
    for role in ("clerk", "admin"):
        assert letter(client, people, request_id, role=role).status_code == 403


def test_the_request_page_links_the_letter_of_a_denied_request(app, ext, deny, log_request):
    request_id = deny()
    officer = logged_in(app, "compliance1")
    html = officer.get(f"/requests/{request_id}").get_data(as_text=True)
    assert f'href="/requests/{request_id}/letter.pdf"' in html
    downloaded = officer.get(f"/requests/{request_id}/letter.pdf")
    assert downloaded.status_code == 200 and REASON in text_of(downloaded.data)
    assert [e.actor for e in audit_events(ext, "request.denial_letter", request_id)] == [
        "compliance1"]
    open_request = log_request().json["id"]
    assert "letter.pdf" not in officer.get(f"/requests/{open_request}").get_data(as_text=True)

"""The "New request" page (/requests/new, posting to /requests), on both databases: staff log a
request through the same shape and service as POST /api/v1/requests; a refused form comes back
as typed with each problem named against its field, and stores nothing; CSRF and roles."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from release.models import ReleaseRequest
from tests.conftest import csrf_token_of, login
from tests.release.conftest import audit_events


@pytest.fixture
def staff(app, people):
    browser = app.test_client()
    assert login(browser, "staff1").status_code == 302
    return browser


@pytest.fixture
def token(staff):
    return csrf_token_of(staff.get("/requests/new").get_data(as_text=True))


def form(mrn: str, **changes) -> dict:
    fields = {"mrn": mrn, "request_type": "records", "legal_basis": "right_of_access",
              "received": date.today().isoformat(), "purpose": "my own records",
              "requester_kind": "patient", "requester_name": "DOE, JANE",
              "requester_address": "1 Main St\r\nSpringfield", "requester_contact": "555-0100",
              "claim_number": "", "complete_chart": "yes", "types": "", "from": "", "to": "",
              "document_ids": "", "assignee": ""}
    return {**fields, **changes}


def request_count(ext) -> int:
    with ext.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(ReleaseRequest))


def test_the_queue_links_to_the_form_with_its_defaults(staff):
    assert 'href="/requests/new">New request</a>' in staff.get("/requests").get_data(as_text=True)
    page = staff.get("/requests/new").get_data(as_text=True)
    assert 'action="/requests"' in page and 'name="csrf_token"' in page
    assert f'value="{date.today().isoformat()}"' in page  # received today
    assert 'name="complete_chart" type="checkbox" value="yes" checked' in page
    assert '<option value="staff1">staff1</option>' in page  # someone to assign it to


def test_logging_a_request_through_the_form(staff, token, client, people, ext, patient):
    received = date.today() - timedelta(days=3)
    answer = staff.post("/requests", data={**form(patient, received=received.isoformat(),
                                                  assignee="staff1"), "csrf_token": token})
    assert answer.status_code == 303
    request_id = int(answer.headers["Location"].rsplit("/", 1)[1])
    shown = client.get(f"/api/v1/requests/{request_id}", headers=people.headers("staff")).json
    assert shown["status"] == "logged"
    assert shown["due"] == (received + timedelta(days=30)).isoformat()  # right of access
    assert shown["requester"] == {"kind": "patient", "name": "DOE, JANE",
                                  "address": "1 Main St\r\nSpringfield",
                                  "contact": "555-0100", "claim_number": ""}
    assert (shown["mrns"], shown["legal_basis"], shown["assignee"]) == (
        [patient], "right_of_access", "staff1")
    assert shown["documents"]["complete_chart"] is True
    [logged] = audit_events(ext, "request.log", request_id)
    assert (logged.actor, logged.patient_mrn) == ("staff1", patient)
    page = staff.get(f"/requests/{request_id}").get_data(as_text=True)
    assert f"Request #{request_id} logged; due {shown['due']}." in page


def test_what_is_asked_by_type_date_and_document(staff, token, client, people, patient, filed):
    document = filed().document_id
    answer = staff.post("/requests", data={**form(
        patient, complete_chart="", types="discharge_summary, progress_note",
        document_ids=f"{document}", legal_basis="court_order", requester_kind="court",
        requester_name="COUNTY COURT", **{"from": "2025-01-01", "to": "2025-12-31"}),
        "csrf_token": token})
    assert answer.status_code == 303, answer.get_data(as_text=True)
    request_id = int(answer.headers["Location"].rsplit("/", 1)[1])
    shown = client.get(f"/api/v1/requests/{request_id}", headers=people.headers("staff")).json
    assert shown["documents"] == {"complete_chart": False,
                                  "types": ["discharge_summary", "progress_note"],
                                  "from": "2025-01-01", "to": "2025-12-31",
                                  "document_ids": [document]}


def test_problems_are_named_against_their_fields_and_nothing_is_stored(staff, token, ext,
                                                                       patient):
    before = request_count(ext)
    refused = staff.post("/requests", data={**form(
        "MRN 1001!", requester_name="", complete_chart="", document_ids="12, twelve",
        types="Discharge Summary"), "csrf_token": token})
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "The request was not logged" in page
    for field, said in (("mrn", "MRN: must be 1-32 letters, digits or dashes"),
                        ("requester_name", "Requester&#39;s name: is required"),
                        ("document_ids", "Document numbers: &#39;twelve&#39; is not a document"),
                        ("types", "Document types: must be document types")):
        assert f'id="{field}-error"' in page and said in page, field
        assert f'aria-describedby="{field}-error"' in page
    assert 'value="MRN 1001!"' in page and 'value="12, twelve"' in page  # kept as typed
    assert request_count(ext) == before


def test_nothing_asked_for_is_refused(staff, token, ext, patient):
    refused = staff.post("/requests", data={**form(patient, complete_chart=""),
                                            "csrf_token": token})
    assert refused.status_code == 400
    assert "Say what is asked for" in refused.get_data(as_text=True)
    assert request_count(ext) == 0


def test_the_service_refusals_come_back_on_the_form(staff, token, ext, patient, filed):
    unknown = staff.post("/requests", data={**form("MRN-9999"), "csrf_token": token})
    assert unknown.status_code == 404
    assert "No patient with MRN MRN-9999 is registered." in unknown.get_data(as_text=True)
    future = (date.today() + timedelta(days=2)).isoformat()
    early = staff.post("/requests", data={**form(patient, received=future), "csrf_token": token})
    assert early.status_code == 400
    assert f"received ({future}) is in the future" in early.get_data(as_text=True)
    first, second = filed().document_id, filed(lines=("OPERATIVE REPORT",)).document_id
    amendment = staff.post("/requests", data={**form(
        patient, request_type="amendment", complete_chart="",
        document_ids=f"{first}, {second}"), "csrf_token": token})
    assert amendment.status_code == 400
    assert "names the one document the patient asks to amend" in amendment.get_data(
        as_text=True)
    assert request_count(ext) == 0


def test_csrf_and_roles(app, staff, ext, people, patient):
    assert staff.post("/requests", data=form(patient)).status_code == 400  # no token
    for role in ("compliance", "clerk", "admin"):
        other = app.test_client()
        assert login(other, f"{role}1").status_code == 302
        assert other.get("/requests/new").status_code == 403, role
        token = csrf_token_of(other.get("/").get_data(as_text=True))
        assert other.post("/requests", data={**form(patient),
                                             "csrf_token": token}).status_code == 403, role
    assert app.test_client().get("/requests/new").status_code in (302, 401)
    assert request_count(ext) == 0

"""Recording a release (POST /api/v1/requests/<id>/fulfil) and the patient's accounting of
disclosures (GET /api/v1/patients/<mrn>/disclosures), on both databases: only an approved
request is fulfilled, each legal basis gives an exempt or accountable disclosure, and the
accounting covers six years, newest first, for those who may see it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from archive.models import AuditEvent, Patient
from release.models import Disclosure
from tests.release.conftest import audit_events

FIELDS = {"date", "recipient", "description", "purpose", "legal_basis", "exempt"}


@pytest.fixture
def approved(log_request, move, authorize):
    """Log a request (with changes to its body) and approve it, with its signed authorization
    attached when it is made under one (release.authorizations); returns its id."""

    def approve(**changes):
        response = log_request(**changes)
        assert response.status_code == 201, response.json
        request_id = response.json["id"]
        for status in ("in_review", "approved"):
            assert move(request_id, status).status_code == 200
        if changes.get("legal_basis") == "authorization":
            authorize(request_id)
        return request_id

    return approve


def accounting(client, people, mrn="MRN-1001", role="compliance", **query):
    return client.get(f"/api/v1/patients/{mrn}/disclosures", query_string=query,
                      headers=people.headers(role))


def test_only_an_approved_request_can_be_fulfilled(ext, log_request, move, fulfil):
    request_id = log_request().json["id"]
    for status in (None, "in_review", "on_hold"):
        if status:
            assert move(request_id, status, reason="waiting for payment").status_code == 200
        refused = fulfil(request_id)
        assert refused.status_code == 409, status
        assert refused.json["error"]["code"] == "transition_refused"
    with ext.db.transaction() as session:
        assert session.scalars(select(Disclosure)).all() == []
    assert audit_events(ext, "request.fulfil", request_id) == []


def test_fulfilling_records_one_disclosure_per_patient_and_is_audited(
        client, people, ext, approved, fulfil):
    client.post("/api/v1/patients", json={"mrn": "MRN-2002", "name": "DOE, JOHN",
                                          "dob": "1972-03-04"}, headers=people.headers("clerk"))
    request_id = approved(mrns=["MRN-2002"], legal_basis="court_order", purpose="litigation",
                          requester={"kind": "court", "name": "County Court",
                                     "address": "2 Court Sq"})
    response = fulfil(request_id, released="2026-06-02", description="complete chart")
    assert response.status_code == 200, response.json
    assert response.json["status"] == "fulfilled"
    for mrn in ("MRN-1001", "MRN-2002"):
        [entry] = accounting(client, people, mrn).json["disclosures"]
        assert set(entry) >= FIELDS
        assert entry == {**entry, "date": "2026-06-02", "recipient": "County Court",
                         "recipient_address": "2 Court Sq", "description": "complete chart",
                         "purpose": "litigation", "legal_basis": "court_order",
                         "exempt": False}
    [event] = audit_events(ext, "request.fulfil", request_id)
    assert (event.actor, event.details["released"]) == ("staff1", "2026-06-02")


@pytest.mark.parametrize(("kind", "basis", "exempt"), [
    ("patient", "right_of_access", True),
    ("representative", "right_of_access", True),
    ("provider", "tpo", True),
    ("payer", "tpo", True),
    ("attorney", "authorization", True),
    ("patient", "court_order", True),  # to the patient, whatever the basis
    ("court", "court_order", False),
    ("attorney", "court_order", False),
    ("public_health", "required_by_law", False),
    ("law_enforcement", "required_by_law", False),
])
def test_exempt_versus_accountable_by_requester_and_legal_basis(client, people, approved,
                                                                fulfil, kind, basis, exempt):
    request_id = approved(legal_basis=basis, requester={"kind": kind, "name": "R"})
    assert fulfil(request_id).status_code == 200
    [entry] = accounting(client, people).json["disclosures"]
    assert (entry["legal_basis"], entry["exempt"]) == (basis, exempt)
    assert entry["date"] == date.today().isoformat()


def test_the_recipient_may_differ_from_the_requester(client, people, approved, fulfil):
    request_id = approved(legal_basis="authorization",
                          requester={"kind": "attorney", "name": "Hale LLP"})
    response = fulfil(request_id, recipient={"name": "Dr <b>Who</b>", "address": "3 Elm"})
    assert response.status_code == 200, response.json
    [entry] = accounting(client, people).json["disclosures"]
    assert (entry["recipient"], entry["recipient_address"]) == ("Dr <b>Who</b>", "3 Elm")


def test_a_release_needs_a_description_and_a_sensible_date(approved, fulfil):
    request_id = approved()
    assert fulfil(request_id, description=" ").status_code == 400
    assert "description" in fulfil(request_id, description="").json["error"]["message"]
    for bad in ("2999-01-01", "2026-04-30", "June"):  # future, before received, not a date
        response = fulfil(request_id, released=bad)
        assert response.status_code == 400, bad
        assert response.json["error"]["message"].startswith("released"), bad
    assert fulfil(request_id, released="2026-05-01").status_code == 200


def add_disclosure(ext, request_id: int, on: date, description: str) -> None:
    """A disclosure written directly, for dates no request received this year could have."""
    with ext.db.transaction() as session:
        patient = session.scalar(select(Patient).where(Patient.mrn == "MRN-1001"))
        session.add(Disclosure(patient_id=patient.id, request_id=request_id, disclosed_on=on,
                               recipient_name="Old Co", recipient_address="", purpose="",
                               description=description, legal_basis="court_order",
                               exempt=False, recorded_by="tests"))


def test_the_accounting_covers_six_years_newest_first(client, people, ext, approved, fulfil):
    request_id = approved()
    assert fulfil(request_id, released="2026-05-05").status_code == 200
    today = date.today()
    add_disclosure(ext, request_id, today - timedelta(days=7 * 366), "seven years ago")
    add_disclosure(ext, request_id, today - timedelta(days=5 * 365), "five years ago")
    listed = accounting(client, people).json["disclosures"]
    assert [e["description"] for e in listed] == ["discharge summary, 2 pages",
                                                  "five years ago"]
    older = accounting(client, people, **{"from": "2000-01-01", "to": "2025-01-01"})
    assert [e["description"] for e in older.json["disclosures"]] == [
        "five years ago", "seven years ago"]


def test_viewing_the_accounting_is_audited_as_a_view_of_the_patient(client, people, ext,
                                                                    patient):
    assert accounting(client, people, role="staff").status_code == 200
    with ext.db.transaction() as session:
        [event] = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "disclosures.view")).all()
        assert (event.actor, event.patient_mrn) == ("staff1", patient)


def test_who_may_fulfil_and_read_the_accounting(client, people, patient, approved, fulfil):
    assert accounting(client, people, mrn="MRN-9999").status_code == 404
    url = "/api/v1/patients/MRN-1001/disclosures"
    assert client.get(url).status_code == 401
    for role in ("clerk", "admin"):
        assert accounting(client, people, role=role).status_code == 403, role
    request_id = approved()
    fulfil_url = f"/api/v1/requests/{request_id}/fulfil"
    body = {"description": "x"}
    assert client.post(fulfil_url, json=body).status_code == 401
    for role in ("clerk", "admin", "compliance"):
        refused = client.post(fulfil_url, json=body, headers=people.headers(role))
        assert refused.status_code == 403, role
    assert accounting(client, people).json["disclosures"] == []

"""Registering and correcting patients on the web (clerks and admins), audited, refused
under a legal hold; the patient API's JSON is checked before anything is stored."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select

from archive.models import AuditEvent, Patient
from tests.conftest import csrf_token_of, login


def logged_in(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def post(client, path, **data):
    token = csrf_token_of(client.get("/").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def patient_row(ext, mrn) -> Patient | None:
    with ext.db.transaction() as session:
        return session.scalar(select(Patient).where(Patient.mrn == mrn))


def test_a_clerk_registers_a_patient_and_lands_on_the_chart(app, people, ext):
    clerk = logged_in(app, "clerk1")
    assert "Register a patient" in clerk.get("/").get_data(as_text=True)
    response = post(clerk, "/register/patient", mrn="MRN-5005", name="ROE, RICHARD",
                    dob="1981-07-04", restricted="yes")
    assert response.status_code == 303 and response.headers["Location"] == "/patients/MRN-5005"
    saved = patient_row(ext, "MRN-5005")
    assert (saved.name, saved.dob, saved.restricted) == ("ROE, RICHARD", date(1981, 7, 4), True)


@pytest.mark.parametrize("fields, says", [
    ({"mrn": "MRN 1", "name": "A, B", "dob": "1990-01-01"}, "An MRN is"),
    ({"mrn": "MRN-2", "name": "A\x00B", "dob": "1990-01-01"}, "control characters"),
    ({"mrn": "MRN-3", "name": "X" * 201, "dob": "1990-01-01"}, "at most 200"),
    ({"mrn": "MRN-4", "name": "A, B", "dob": "01/02/1990"}, "YYYY-MM-DD"),
    ({"mrn": "MRN-5", "name": "A, B", "dob": "2999-01-01"}, "future"),
])
def test_a_bad_registration_comes_back_with_the_reason(app, people, ext, fields, says):
    response = post(logged_in(app, "clerk1"), "/register/patient", **fields)
    assert response.status_code == 400
    assert says in response.get_data(as_text=True)
    assert patient_row(ext, fields["mrn"]) is None


def test_a_correction_is_audited_with_before_and_after(app, people, ext, patient):
    clerk = logged_in(app, "clerk1")
    form = clerk.get(f"/patients/{patient}/edit").get_data(as_text=True)
    assert 'value="DOE, JANE"' in form
    response = post(clerk, f"/patients/{patient}/edit", name="DOE, JANET", dob="1970-01-02",
                    reason="name misread from the face sheet")
    assert response.status_code == 303
    assert patient_row(ext, patient).name == "DOE, JANET"
    with ext.db.transaction() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "patient.edit"))
    assert event.reason == "name misread from the face sheet"
    assert (event.details["before"]["name"], event.details["after"]["name"]) == (
        "DOE, JANE", "DOE, JANET")


def test_a_correction_needs_a_reason(app, people, ext, patient):
    response = post(logged_in(app, "clerk1"), f"/patients/{patient}/edit", name="X, Y",
                    dob="1970-01-02", reason="")
    assert response.status_code == 400
    assert patient_row(ext, patient).name == "DOE, JANE"


def test_an_admin_registers_but_does_not_open_the_chart(app, people, ext):
    admin = logged_in(app, "admin1")
    response = post(admin, "/register/patient", mrn="MRN-6006", name="ADMIN, ADDED",
                    dob="2000-02-02")
    assert response.headers["Location"] == "/register/patient"
    assert admin.get("/patients/MRN-6006").status_code == 403


@pytest.mark.parametrize("body, status", [
    ({"mrn": "MRN-9", "name": "A, B", "dob": 12345}, 400),
    ({"mrn": "MRN-9", "name": "A, B", "dob": "1990-01-01", "date_of_death": [1]}, 400),
    ({"mrn": "MRN-9", "name": "A\u0000B", "dob": "1990-01-01"}, 400),
    ({"mrn": "MRN-9", "name": "N" * 50_000_000, "dob": "1990-01-01"}, 413),
])
def test_the_patient_api_refuses_bad_json_without_a_crash(client, people, ext, body, status):
    response = client.post("/api/v1/patients", data=json.dumps(body),
                           content_type="application/json", headers=people.headers("clerk"))
    assert response.status_code == status
    assert response.json["error"]["message"]
    assert patient_row(ext, "MRN-9") is None


@pytest.mark.parametrize("raw", [
    '{"mrn": NaN, "name": "A, B", "dob": "1990-01-01"}',
    '{"mrn": "MRN-9", "name": Infinity, "dob": "1990-01-01"}',
    '{"mrn": "MRN-9", "name": "A", "dob": "1990-01-01", "x": ' + "[" * 1000 + "]" * 1000
    + "}",
    '{"mrn": "MRN-9", ',
    '["MRN-9"]',
])
def test_non_json_constants_deep_nesting_and_broken_json_are_400(client, people, ext, raw):
    response = client.post("/api/v1/patients", data=raw, content_type="application/json",
                           headers=people.headers("clerk"))
    assert response.status_code in (400, 413)
    assert patient_row(ext, "MRN-9") is None


def test_the_patient_page_links_to_the_correction_for_those_who_may_edit(app, people, patient):
    link = f'href="/patients/{patient}/edit"'
    assert link in logged_in(app, "clerk1").get(f"/patients/{patient}").get_data(as_text=True)
    assert link not in logged_in(app, "staff1").get(f"/patients/{patient}").get_data(as_text=True)

"""The request page's authorization section and its forms (attach a scan, record a
revocation), on both databases: shown only for requests made under an authorization, the
forms guarded by their CSRF token and by release.manage, the values escaped, refusals shown
on the page with their status."""

from __future__ import annotations

import io
from datetime import date, timedelta

from sqlalchemy import select

from release.authorization_models import ReleaseAuthorization
from tests.release.conftest import audit_events
from tests.release.test_queue import SCRIPT, logged_in
from tests.samples import pdf_bytes

NEXT_YEAR = (date.today() + timedelta(days=365)).isoformat()


def authorization_request(log_request) -> int:
    response = log_request(legal_basis="authorization",
                           requester={"kind": "provider", "name": "DR WHO",
                                      "address": "4 Clinic Rd"})
    assert response.status_code == 201, response.json
    return response.json["id"]


def attach_form(staff, request_id: int, **fields):
    data = {"csrf_token": staff.token, "expires": NEXT_YEAR, "signed": "",
            "file": (io.BytesIO(pdf_bytes(["AUTHORIZATION"])), "signed.pdf"), **fields}
    return staff.post(f"/requests/{request_id}/authorization", data=data,
                      content_type="multipart/form-data")


def test_the_page_attaches_shows_and_revokes_the_authorization(ext, app, log_request):
    request_id = authorization_request(log_request)
    staff = logged_in(app, "staff1")
    url = f"/requests/{request_id}"
    html = staff.get(url).get_data(as_text=True)
    assert "No signed authorization is on file" in html
    assert f'action="{url}/authorization"' in html and 'enctype="multipart/form-data"' in html
    assert attach_form(staff, request_id).status_code == 303
    with ext.db.transaction() as session:
        document_id = session.scalars(select(ReleaseAuthorization.document_id)).one()
    html = staff.get(url).get_data(as_text=True)
    assert f'href="/documents/{document_id}"' in html and NEXT_YEAR in html
    assert f'action="{url}/authorization/revoke"' in html
    revoked = staff.post(f"{url}/authorization/revoke",
                         data={"csrf_token": staff.token, "revoked_on": date.today().isoformat(),
                               "reason": SCRIPT})
    assert revoked.status_code == 303
    html = staff.get(url).get_data(as_text=True)
    assert f'data-revoked="{date.today().isoformat()}"' in html
    assert SCRIPT not in html and "&lt;script&gt;" in html
    assert f'action="{url}/authorization/revoke"' not in html  # revoked once only
    [event] = audit_events(ext, "request.authorization_revoke", request_id)
    assert event.actor == "staff1"


def test_a_refused_attachment_is_shown_on_the_page(ext, app, log_request):
    request_id = authorization_request(log_request)
    staff = logged_in(app, "staff1")
    refused = attach_form(staff, request_id, expires="")
    assert refused.status_code == 400
    assert "expires is required" in refused.get_data(as_text=True)
    wrong = attach_form(staff, request_id,
                        file=(io.BytesIO(b"plain words"), "notes.txt"))
    assert wrong.status_code == 415
    with ext.db.transaction() as session:
        assert session.scalars(select(ReleaseAuthorization)).all() == []


def test_the_forms_need_their_csrf_token_and_release_manage(ext, app, log_request):
    request_id = authorization_request(log_request)
    staff = logged_in(app, "staff1")
    assert attach_form(staff, request_id, csrf_token="").status_code == 400
    officer = logged_in(app, "compliance1")
    assert attach_form(officer, request_id).status_code == 403
    html = officer.get(f"/requests/{request_id}").get_data(as_text=True)
    assert "Authorization" in html and f'action="/requests/{request_id}/authorization"' not in html
    with ext.db.transaction() as session:
        assert session.scalars(select(ReleaseAuthorization)).all() == []


def test_other_requests_show_no_authorization_section(app, log_request):
    request_id = log_request().json["id"]
    html = logged_in(app, "staff1").get(f"/requests/{request_id}").get_data(as_text=True)
    assert 'id="authorization-title"' not in html


def test_a_family_request_shows_each_patients_authorization(ext, app, client, people,
                                                            log_request):
    client.post("/api/v1/patients", json={"mrn": "MRN-2002", "name": "DOE, JOHN",
                                          "dob": "1972-03-04"}, headers=people.headers("clerk"))
    request_id = authorization_request(lambda **c: log_request(mrns=["MRN-2002"], **c))
    staff = logged_in(app, "staff1")
    assert attach_form(staff, request_id, mrn="MRN-2002").status_code == 303
    html = staff.get(f"/requests/{request_id}").get_data(as_text=True)
    assert 'data-authorization="MRN-2002"' in html
    assert "No signed authorization of MRN-1001 is on file" in html
    assert '<option value="MRN-1001">' in html and 'name="mrn" value="MRN-2002"' in html
    revoked = staff.post(f"/requests/{request_id}/authorization/revoke",
                         data={"csrf_token": staff.token, "mrn": "MRN-2002",
                               "revoked_on": date.today().isoformat(), "reason": "letter"})
    assert revoked.status_code == 303
    [event] = audit_events(ext, "request.authorization_revoke", request_id)
    assert event.details["patient"] == "MRN-2002"

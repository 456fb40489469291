"""Restricted charts on the web and the API: every read path refuses without a grant (the
web with the break-the-glass form, the API with JSON), breaking the glass opens them, a
clerk still files scans, and compliance reviews each emergency access on its own page."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from archive.auth.restricted import REVIEW_PAGE_SIZE
from archive.models import AccessGrant, AuditEvent, Document, utcnow
from ingest.models import Derivative
from tests.archive.conftest import REASON, VIP, grant
from tests.conftest import add_user, csrf_token_of, login
from tests.samples import pdf_bytes


def searchable_pdf_of(ext, version) -> bytes:
    """Store a searchable PDF for the version as OCR would, without running OCR."""
    data = pdf_bytes(["SEARCHABLE COPY"])
    stored = ext.store.put(f"documents/test-{version.document_id}/searchable.pdf",
                           io.BytesIO(data), media_type="application/pdf")
    with ext.db.transaction() as session:
        session.add(Derivative(version_id=version.id, kind="searchable_pdf", page_number=0,
                               object_key=stored.key, store_version_id=stored.version_id,
                               sha256=stored.sha256, size=stored.size,
                               media_type="application/pdf"))
    return data


@pytest.fixture
def vip_scan(ext, filed, restricted):
    """A document filed for the restricted patient: (id, original sha256, searchable PDF)."""
    version = filed(("CONSULTATION NOTE",), mrn=VIP, doc_type="consultation_note")
    return version.document_id, version.sha256, searchable_pdf_of(ext, version)


def reads(document_id) -> list[str]:
    return [f"/patients/{VIP}", f"/documents/{document_id}",
            f"/documents/{document_id}/versions/1/original",
            f"/documents/{document_id}/versions/1/searchable.pdf"]


def api_reads(document_id) -> list[str]:
    return [f"/api/v1/patients/{VIP}", f"/api/v1/documents/{document_id}",
            f"/api/v1/documents/{document_id}/versions/1/original",
            f"/api/v1/documents/{document_id}/versions/1/searchable.pdf"]


def logged_in(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    client.token = csrf_token_of(client.get("/").get_data(as_text=True))
    return client


def audited(ext, action):
    with ext.db.transaction() as session:
        return session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        ).all()


def break_glass_form(html: str) -> bool:
    return f'action="/patients/{VIP}/break-glass"' in html and 'name="reason"' in html


def html_of(response) -> str:
    return response.get_data(as_text=True)


# --- refused without a grant ------------------------------------------------------------------


def test_staff_without_a_grant_meets_the_break_glass_form_on_every_read(app, ext, people,
                                                                       vip_scan):
    staff = logged_in(app, "staff1")
    document_id = vip_scan[0]
    for url in reads(document_id):
        response = staff.get(url)
        html = html_of(response)
        assert response.status_code == 403, url
        assert break_glass_form(html) and 'name="csrf_token"' in html, url
        assert f'name="next" value="{url}"' in html, url
        assert "VIP, VERA" not in html  # not even the name leaks
    status = staff.get(f"/documents/{document_id}/status.json")
    assert (status.status_code, status.json["error"]["code"]) == (403, "restricted_record")
    refusals = audited(ext, "chart.restricted_refused")
    assert [(e.actor, e.outcome, e.patient_mrn, e.document_id) for e in refusals] == [
        ("staff1", "refused", VIP, None)] + [("staff1", "refused", VIP, document_id)] * 4
    for action in ("patient.view", "document.view", "document.download"):
        assert audited(ext, action) == [], action


def test_the_api_refuses_with_restricted_record_and_audits_it(client, ext, people, vip_scan):
    for url in api_reads(vip_scan[0]):
        response = client.get(url, headers=people.headers("compliance"))
        assert response.status_code == 403, url
        assert response.json["error"]["code"] == "restricted_record", url
        assert "break the glass" in response.json["error"]["message"]
    refusals = audited(ext, "chart.restricted_refused")
    assert [(e.actor, e.patient_mrn) for e in refusals] == [("compliance1", VIP)] * 4
    assert audited(ext, "document.download") == []


# --- breaking the glass -----------------------------------------------------------------------


def test_breaking_the_glass_on_the_web_needs_a_real_reason(app, ext, people, vip_scan):
    staff = logged_in(app, "staff1")
    back = f"/documents/{vip_scan[0]}"
    response = staff.post(f"/patients/{VIP}/break-glass",
                          data={"csrf_token": staff.token, "reason": "  urgent  ", "next": back})
    html = html_of(response)
    assert response.status_code == 400
    assert "at least 10 characters" in html and 'aria-invalid="true"' in html
    assert ">  urgent  </textarea>" in html and f'name="next" value="{back}"' in html
    forged = staff.post(f"/patients/{VIP}/break-glass", data={"reason": REASON, "next": back})
    assert forged.status_code == 400  # no CSRF token
    with ext.db.transaction() as session:
        assert session.scalars(select(AccessGrant)).all() == []
    assert audited(ext, "patient.break_glass") == []


def test_breaking_the_glass_on_the_web_opens_the_record_and_goes_back(app, ext, people,
                                                                     vip_scan):
    document_id, original_sha256, searchable = vip_scan
    staff = logged_in(app, "staff1")
    response = staff.post(f"/patients/{VIP}/break-glass",
                          data={"csrf_token": staff.token, "reason": REASON,
                                "next": f"/documents/{document_id}"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/documents/{document_id}"
    with ext.db.transaction() as session:
        made = session.scalars(select(AccessGrant)).one()
    assert made.expires_at - made.granted_at == timedelta(minutes=60)
    notice = f"Emergency access until\n      <time datetime=\"{made.expires_at.isoformat()}\">" \
             f"{made.expires_at:%H:%M}</time> UTC</strong>\n    — reason: “{REASON}”."
    for url in reads(document_id)[:2]:
        page = staff.get(url)
        assert page.status_code == 200 and notice in html_of(page), url
    original = staff.get(f"/documents/{document_id}/versions/1/original")
    assert hashlib.sha256(original.data).hexdigest() == original_sha256
    assert staff.get(f"/documents/{document_id}/versions/1/searchable.pdf").data == searchable
    assert staff.get(f"/documents/{document_id}/status.json").status_code == 200
    [event] = audited(ext, "patient.break_glass")
    assert (event.actor, event.patient_mrn, event.reason) == ("staff1", VIP, REASON)
    assert event.details["expires_at"] == made.expires_at.isoformat()
    assert len(audited(ext, "document.download")) == 2
    assert audited(ext, "chart.restricted_refused") == []


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example", "https://evil.example/"])
def test_after_breaking_the_glass_next_only_leads_within_the_site(app, people, vip_scan, target):
    staff = logged_in(app, "staff1")
    response = staff.post(f"/patients/{VIP}/break-glass",
                          data={"csrf_token": staff.token, "reason": REASON, "next": target})
    assert response.headers["Location"] == f"/patients/{VIP}"


def test_breaking_the_glass_through_the_api(client, ext, people, vip_scan, patient):
    ext.settings.break_glass_minutes = 15
    url = f"/api/v1/patients/{VIP}/break-glass"
    staff = people.headers("staff")
    for body, says in (({"reason": "urgent"}, "reason: String should have at least 10 characters"),
                       ({"reason": 12345678901234}, "reason: must be text"),
                       ({}, "reason: is required")):
        refused = client.post(url, headers=staff, json=body)
        assert refused.status_code == 400 and refused.json["error"]["code"] == "bad_request"
        assert refused.json["error"]["message"] == says + "."
    clerk = client.post(url, headers=people.headers("clerk"), json={"reason": REASON})
    assert (clerk.status_code, clerk.json["error"]["code"]) == (403, "permission_denied")
    open_chart = client.post(f"/api/v1/patients/{patient}/break-glass", headers=staff,
                             json={"reason": REASON})
    assert open_chart.status_code == 400 and "not restricted" in open_chart.json["error"]["message"]
    granted = client.post(url, headers=staff, json={"reason": REASON})
    assert granted.status_code == 201
    body = granted.json
    assert (body["mrn"], body["reason"]) == (VIP, REASON)
    lasts = datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(body["granted_at"])
    assert lasts == timedelta(minutes=15)
    for read in api_reads(vip_scan[0]):
        assert client.get(read, headers=staff).status_code == 200, read


def test_an_expired_grant_no_longer_opens_the_record(app, ext, people, vip_scan):
    grant(ext, people.principal("staff"), at=utcnow() - timedelta(minutes=61), minutes=60)
    staff = logged_in(app, "staff1")
    page = staff.get(f"/patients/{VIP}")
    assert page.status_code == 403 and "Emergency access until" not in html_of(page)
    api = app.test_client().get(f"/api/v1/documents/{vip_scan[0]}", headers=people.headers("staff"))
    assert api.json["error"]["code"] == "restricted_record"


def test_a_grant_for_one_patient_does_not_open_another(app, ext, people, vip_scan, filed):
    other = filed(("LAB RESULTS",), mrn="MRN-8008", doc_type="lab_report").document_id
    grant(ext, people.principal("staff"), VIP)
    staff = logged_in(app, "staff1")
    assert staff.get(f"/documents/{vip_scan[0]}").status_code == 200
    assert staff.get(f"/documents/{other}").status_code == 403
    assert staff.get("/patients/MRN-8008").status_code == 403


# --- clerks file but do not read ---------------------------------------------------------------


def test_a_clerk_files_scans_for_a_restricted_patient_but_cannot_open_them(app, ext, people,
                                                                         restricted):
    clerk = logged_in(app, "clerk1")
    summary = clerk.get(f"/patients/{VIP}/summary.json")
    assert summary.json == {"mrn": VIP, "name": "VIP, VERA", "dob": "1960-05-06"}
    upload = clerk.post("/upload", content_type="multipart/form-data", data={
        "csrf_token": clerk.token, "mrn": VIP, "doc_type": "discharge_summary",
        "files": [(io.BytesIO(pdf_bytes(["DISCHARGE SUMMARY"])), "web.pdf")]})
    assert upload.status_code == 200 and "Accepted" in html_of(upload)
    api = app.test_client().post(
        "/api/v1/documents", headers=people.headers("clerk"),
        data={"mrn": VIP, "type": "operative_report",
              "file": (io.BytesIO(pdf_bytes(["OPERATIVE REPORT"])), "api.pdf")})
    assert api.status_code == 202
    with ext.db.transaction() as session:
        web_id, api_id = session.scalars(select(Document.id).order_by(Document.id)).all()
    assert [e.patient_mrn for e in audited(ext, "document.create")] == [VIP, VIP]

    # The clerk who filed it follows it through OCR, but the chart stays closed to them.
    assert clerk.get(f"/documents/{web_id}/status.json").json["status"] == "queued"
    for url in (f"/patients/{VIP}", f"/documents/{web_id}"):
        refused = clerk.get(url)
        html = html_of(refused)
        assert refused.status_code == 403 and "record is restricted" in html, url
        assert not break_glass_form(html) and "Your role cannot open restricted records" in html
    opened = app.test_client().get(f"/api/v1/documents/{api_id}", headers=people.headers("clerk"))
    assert opened.json["error"]["code"] == "restricted_record"

    add_user(ext, "clerk2", "clerk")
    colleague = logged_in(app, "clerk2")
    status = colleague.get(f"/documents/{web_id}/status.json")
    assert (status.status_code, status.json["error"]["code"]) == (403, "restricted_record")


# --- compliance review ------------------------------------------------------------------------


def test_compliance_reviews_emergency_access_on_its_page(app, ext, people, vip_scan):
    made = grant(ext, people.principal("staff"))
    assert logged_in(app, "staff1").get("/break-glass/reviews").status_code == 403
    officer = logged_in(app, "compliance1")
    assert 'href="/break-glass/reviews"' in html_of(officer.get("/"))
    listing = html_of(officer.get("/break-glass/reviews"))
    row = listing[listing.index(f'data-grant="{made.id}"'):]
    for shown in ("staff1", VIP, REASON, "In force", f'action="/break-glass/reviews/{made.id}"'):
        assert shown in row, shown

    empty = officer.post(f"/break-glass/reviews/{made.id}",
                         data={"csrf_token": officer.token, "comment": " ", "page": "1"})
    assert empty.status_code == 400 and "Say what you checked" in html_of(empty)
    done = officer.post(f"/break-glass/reviews/{made.id}",
                        data={"csrf_token": officer.token, "comment": "Matches the ED roster",
                              "page": "1"})
    assert done.status_code == 303 and done.headers["Location"] == "/break-glass/reviews?page=1"
    listing = html_of(officer.get("/break-glass/reviews"))
    assert "Reviewed by compliance1" in listing and "Matches the ED roster" in listing
    assert f'action="/break-glass/reviews/{made.id}"' not in listing
    [event] = audited(ext, "break_glass.review")
    assert (event.actor, event.reason, event.patient_mrn) == (
        "compliance1", "Matches the ED roster", VIP)


def test_the_review_list_pages_through_many_grants(app, ext, people, restricted):
    for minutes in range(REVIEW_PAGE_SIZE + 1):
        grant(ext, people.principal("staff"), at=utcnow() - timedelta(minutes=minutes))
    officer = logged_in(app, "compliance1")
    first = html_of(officer.get("/break-glass/reviews"))
    assert len(re.findall(r'data-grant="\d+"', first)) == REVIEW_PAGE_SIZE
    assert 'href="/break-glass/reviews?page=2"' in first
    second = html_of(officer.get("/break-glass/reviews?page=2"))
    assert len(re.findall(r'data-grant="\d+"', second)) == 1

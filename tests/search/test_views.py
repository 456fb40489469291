"""Search as people use it: the API and the search page (audited, restricted charts left
out until the glass is broken, OCR text escaped), the page viewer with its boxes and hit
links, the patient lookup, and the admin's index page."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from archive.auth.restricted import break_glass
from archive.models import AuditEvent, DocumentVersion, utcnow
from archive.records.patients import register_patient
from search.models import ReconcileRun
from tests.conftest import SYSTEM, csrf_token_of, login
from tests.search.library import CARDIOLOGY, DISCHARGE, OPERATIVE, file_chart

VIP = "MRN-7007"
HOSTILE = "Patient wrote <script>alert('x')</script> on the intake form."


@pytest.fixture
def library(app, ext, people, patient):
    """Charts of MRN-1001, one of them two pages, and one chart of a restricted patient."""
    with ext.db.transaction() as session:
        register_patient(session, SYSTEM, mrn=VIP, name="VIP, VERA", dob=date(1960, 5, 6),
                         restricted=True)
    clerk = people.principal("clerk")
    return {
        "discharge": file_chart(app, clerk, patient, DISCHARGE, [HOSTILE, "pneumonia resolved"],
                                date_of_service=date(2026, 3, 4), department="Medicine"),
        "operative": file_chart(app, clerk, patient, OPERATIVE, doc_type="operative_report"),
        "vip": file_chart(app, clerk, VIP, CARDIOLOGY, ["pneumonia ruled out"],
                          doc_type="consultation"),
    }


def logged_in(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def audit_events(ext, action):
    with ext.db.transaction() as session:
        return session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


# --- the API -----------------------------------------------------------------------------------


def test_api_search_answers_with_documents_pages_and_highlights(client, people, library):
    response = client.get("/api/v1/search?q=pneumonia&type=discharge_summary",
                          headers=people.headers("staff"))
    assert response.status_code == 200
    body = response.json
    assert body["total"] == 1
    [hit] = body["results"]
    assert (hit["document_id"], hit["mrn"], hit["type"]) == (library["discharge"], "MRN-1001",
                                                            "discharge_summary")
    assert sorted(page["page"] for page in hit["pages"]) == [1, 2]
    for page in hit["pages"]:
        assert [page["snippet"][start:end].lower() for start, end in page["highlights"]] == [
            "pneumonia"
        ]


def test_api_search_filters_by_date_and_department(client, people, library):
    def total(query):
        return client.get(f"/api/v1/search?{query}", headers=people.headers("staff")).json["total"]

    assert total("q=pneumonia&from=2026-03-01&to=2026-03-31") == 1
    assert total("q=pneumonia&from=2026-04-01") == 0
    assert total("department=medicine") == 1


def test_a_malformed_query_is_a_400_that_says_what_to_fix(client, people, library):
    response = client.get('/api/v1/search?q="unclosed', headers=people.headers("staff"))
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_query"
    assert "quote" in response.json["error"]["message"]
    bad_date = client.get("/api/v1/search?q=x&from=March", headers=people.headers("staff"))
    assert bad_date.status_code == 400 and "YYYY-MM-DD" in bad_date.json["error"]["message"]


def test_clerks_cannot_search_clinical_text(client, people, library):
    response = client.get("/api/v1/search?q=pneumonia", headers=people.headers("clerk"))
    assert response.status_code == 403


def test_every_search_is_audited_with_query_filters_and_count(ext, client, people, library):
    client.get("/api/v1/search?q=pneumonia&mrn=MRN-1001", headers=people.headers("compliance"))
    [event] = audit_events(ext, "search.run")
    assert event.actor == "compliance1"
    assert event.details["query"] == "pneumonia"
    assert event.details["filters"] == {"mrn": "MRN-1001"}
    assert event.details["results"] == 1


def test_restricted_charts_are_left_out_until_the_glass_is_broken(ext, client, people, library):
    def found():
        body = client.get("/api/v1/search?q=pneumonia", headers=people.headers("staff")).json
        return sorted(hit["document_id"] for hit in body["results"])

    assert found() == [library["discharge"]]
    with ext.db.transaction() as session:
        break_glass(session, people.principal("staff"), VIP, "ED admission, unconscious",
                    minutes=60)
    assert found() == sorted([library["discharge"], library["vip"]])
    # Another user's grant opens nothing for this one.
    compliance = client.get("/api/v1/search?q=pneumonia", headers=people.headers("compliance"))
    assert [hit["document_id"] for hit in compliance.json["results"]] == [library["discharge"]]


# --- the search page ---------------------------------------------------------------------------


def test_the_search_page_marks_the_words_and_escapes_the_ocr_text(app, library):
    staff = logged_in(app, "staff1")
    html = staff.get("/search?q=script OR intake").get_data(as_text=True)
    assert "<script>alert" not in html
    assert "&lt;<mark>script</mark>&gt;alert(&#39;x&#39;)&lt;/<mark>script</mark>&gt;" in html
    assert "1 document" in html
    # The thumbnail is of the matching page, and it is served (audited like every image).
    thumbnail = f"/documents/{library['discharge']}/versions/1/pages/2/thumbnail"
    assert f'src="{thumbnail}"' in html
    assert staff.get(thumbnail).data[:3] == b"\xff\xd8\xff"


def test_admins_see_no_clinical_text_not_even_search_snippets(app, client, people, library):
    admin = logged_in(app, "admin1")
    assert admin.get("/search?q=pneumonia").status_code == 403
    assert client.get("/api/v1/search?q=pneumonia", headers=people.headers("admin")
                      ).status_code == 403
    assert 'role="search"' not in admin.get("/").get_data(as_text=True).split("lookup")[0]
    assert admin.get(f"/documents/{library['discharge']}/read").status_code == 403


def test_the_search_page_shows_a_malformed_query_beside_the_form(app, library):
    staff = logged_in(app, "staff1")
    response = staff.get("/search?q=cardio* AND")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="q-problem"' in html and "AND" in html


def test_search_results_paginate_with_a_correct_total(app, ext, people, patient, library):
    clerk = people.principal("clerk")
    for number in range(3):
        file_chart(app, clerk, patient, [f"Progress note {number}: wound healing well."],
                   doc_type="progress_note")
    staff = logged_in(app, "staff1")
    first = staff.get("/search?q=wound&per_page=2").get_data(as_text=True)
    assert "3 documents · page 1 of 2" in first
    second = staff.get("/search?q=wound&per_page=2&page=2").get_data(as_text=True)
    assert "3 documents · page 2 of 2" in second
    assert len(re.findall(r'class="hit"', first)) == 2
    assert len(re.findall(r'class="hit"', second)) == 1


def test_the_navigation_offers_search_to_those_who_may_search(app, people):
    assert 'href="/search"' in logged_in(app, "staff1").get("/").get_data(as_text=True)
    assert 'href="/search"' not in logged_in(app, "clerk1").get("/").get_data(as_text=True)


# --- the page viewer ---------------------------------------------------------------------------


def test_the_viewer_opens_the_first_hit_with_the_words_boxed(app, ext, library):
    staff = logged_in(app, "staff1")
    html = staff.get(f"/documents/{library['discharge']}/read?q=pneumonia").get_data(as_text=True)
    assert "page 1 of 2" in html
    assert 'rel="next"' in html and "Next hit (page 2)" in html
    boxes = re.findall(r'<rect class="hit-box" x="(\d+)" y="(\d+)" width="(\d+)" height="(\d+)"',
                       html)
    assert len(boxes) == 1  # "pneumonia" once on page 1
    x, y, width, height = map(int, boxes[0])
    assert width > 0 and height > 0
    image_url = f"/documents/{library['discharge']}/versions/1/pages/1/image"
    assert image_url in html
    image = staff.get(image_url)
    assert image.status_code == 200 and image.data[:3] == b"\xff\xd8\xff"  # a JPEG
    [download] = [e for e in audit_events(ext, "document.download")
                  if e.details.get("kind") == "page_image"]
    assert download.details["page"] == 1


def test_the_viewer_shows_the_ocr_text_escaped_and_marked(app, library):
    staff = logged_in(app, "staff1")
    html = staff.get(f"/documents/{library['discharge']}/read?page=2&q=script").get_data(
        as_text=True)
    assert "<script>alert" not in html
    assert "&lt;<mark>script</mark>&gt;" in html
    assert "Previous hit" not in html  # page 2 is the only hit


def test_the_viewer_refuses_a_restricted_chart_without_a_grant(app, library):
    staff = logged_in(app, "staff1")
    response = staff.get(f"/documents/{library['vip']}/read?q=pneumonia")
    assert response.status_code == 403
    assert "break the glass" in response.get_data(as_text=True).lower()
    image = staff.get(f"/documents/{library['vip']}/versions/1/pages/1/image")
    assert image.status_code == 403


def test_the_viewer_names_a_page_that_does_not_exist(app, library):
    staff = logged_in(app, "staff1")
    response = staff.get(f"/documents/{library['operative']}/read?page=7")
    assert response.status_code == 404
    assert "pages 1 to 1" in response.get_data(as_text=True)


# --- the patient lookup ------------------------------------------------------------------------


def test_the_patient_lookup_answers_by_mrn_or_name_prefix(app, ext, people, patient):
    with ext.db.transaction() as session:
        register_patient(session, SYSTEM, mrn="MRN-2002", name="DOERING, MAX",
                         dob=date(1950, 1, 1))
    clerk = logged_in(app, "clerk1")
    by_name = clerk.get("/patients/lookup.json?q=doe").json["patients"]
    assert [p["mrn"] for p in by_name] == ["MRN-1001", "MRN-2002"]  # DOE, JANE; DOERING, MAX
    assert [p["mrn"] for p in clerk.get("/patients/lookup.json?q=mrn-20").json["patients"]] == [
        "MRN-2002"
    ]
    assert clerk.get("/patients/lookup.json?q=%25").status_code == 400  # too short
    assert clerk.get("/patients/lookup.json?q=a%25").json["patients"] == []  # % is literal
    [event, *_] = audit_events(ext, "patient.lookup")
    assert event.details == {"query": "doe", "results": 2}


# --- the admin's index page --------------------------------------------------------------------


def test_admins_see_the_index_and_can_ask_for_a_reconcile(app, ext, library):
    admin = logged_in(app, "admin1")
    page = admin.get("/admin/index")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "tantivy" in html
    response = admin.post("/admin/index/reconcile", data={"csrf_token": csrf_token_of(html)})
    assert response.status_code == 303
    with ext.db.transaction() as session:
        [run] = session.scalars(select(ReconcileRun)).all()
        assert (run.status, run.requested_by) == ("requested", "admin1")
    assert "admin1" in admin.get("/admin/index").get_data(as_text=True)
    assert logged_in(app, "staff1").get("/admin/index").status_code == 403


def test_the_document_page_leads_readers_to_the_page_viewer(app, ext, client, people, library):
    link = f'href="/documents/{library["discharge"]}/read"'
    staff_page = logged_in(app, "staff1").get(f"/documents/{library['discharge']}")
    assert link in staff_page.get_data(as_text=True) and "Read the 2 pages" in staff_page.get_data(
        as_text=True)
    clerk = logged_in(app, "clerk1")
    assert link in clerk.get(f"/documents/{library['discharge']}").get_data(as_text=True)
    out_of_work(ext, library["discharge"], days=8)  # clerks read only what is in their work
    assert link not in clerk.get(f"/documents/{library['discharge']}").get_data(as_text=True)
    api = client.get(f"/api/v1/documents/{library['discharge']}", headers=people.headers("staff"))
    assert "reading" not in api.json  # a page link, not part of the API's document


@pytest.mark.parametrize("args, named", [
    ("page=1000000000", "page"),
    ("page=501", "page"),  # 501 × 20 is past the 10,000-hit window
    ("page=100&per_page=101", "per_page"),
    ("page=0", "page"),
    ("page=%D9%A3", "page"),  # an Arabic-Indic digit: isdigit() says yes, we say no
    ("page=" + "9" * 5000, "page"),
    ("per_page=-1", "per_page"),
])
def test_out_of_range_paging_is_a_400_that_names_the_parameter(client, people, library,
                                                              args, named):
    response = client.get(f"/api/v1/search?q=pneumonia&{args}", headers=people.headers("staff"))
    assert response.status_code == 400
    assert response.json["error"]["message"].startswith(named)
    assert client.get("/api/v1/health").status_code == 200


def test_the_deepest_allowed_page_answers(client, people, library):
    response = client.get("/api/v1/search?q=pneumonia&page=100&per_page=100",
                          headers=people.headers("staff"))
    assert response.status_code == 200 and response.json["results"] == []


# --- clerks read the pages of the documents in their work only ---------------------------------


def out_of_work(ext, document_id: int, days: int) -> None:
    """Filed ``days`` ago, its QC flags (OCR raises some on these charts) all reviewed."""
    from ingest.models import QcFlag

    with ext.db.transaction() as session:
        for version in session.scalars(select(DocumentVersion).where(
                DocumentVersion.document_id == document_id)):
            version.created_at = utcnow() - timedelta(days=days)
        for flag in session.scalars(select(QcFlag).where(QcFlag.document_id == document_id)):
            flag.status = "reviewed"


def image_of(document_id: int) -> str:
    return f"/documents/{document_id}/versions/1/pages/1/image"


def test_a_clerk_reads_the_pages_they_filed_this_week_audited(app, ext, library):
    clerk = logged_in(app, "clerk1")  # the library's charts were filed as clerk1
    document_id = library["operative"]
    viewer = clerk.get(f"/documents/{document_id}/read")
    assert viewer.status_code == 200 and "cholecystectomy" in viewer.get_data(as_text=True)
    assert clerk.get(image_of(document_id)).status_code == 200
    assert "Laparoscopic" in clerk.get(f"/documents/{document_id}").get_data(as_text=True)
    downloads = audit_events(ext, "document.download")
    assert [(e.actor, e.document_id, e.details["kind"]) for e in downloads] == [
        ("clerk1", document_id, "page_image")]
    assert clerk.get("/search?q=cholecystectomy").status_code == 403  # still no searching


def test_a_clerk_cannot_read_older_filings(app, ext, library):
    document_id = library["operative"]
    out_of_work(ext, document_id, days=8)
    clerk = logged_in(app, "clerk1")
    assert clerk.get(f"/documents/{document_id}/read").status_code == 403
    assert clerk.get(image_of(document_id)).status_code == 403
    page = clerk.get(f"/documents/{document_id}")
    assert page.status_code == 200  # the metadata, as before
    assert "Laparoscopic" not in page.get_data(as_text=True)
    refusals = [e for e in audit_events(ext, "access.denied") if e.document_id == document_id]
    assert refusals and refusals[0].details["why"] == "not in the clerk's work"


def test_an_open_qc_flag_puts_a_document_in_every_clerks_work(app, ext, library):
    from ingest.models import QcFlag

    document_id = library["operative"]
    out_of_work(ext, document_id, days=30)
    with ext.db.transaction() as session:
        version = session.scalar(select(DocumentVersion).where(
            DocumentVersion.document_id == document_id))
        flag = QcFlag(document_id=document_id, version_number=version.number, kind="missing_date",
                      detail="No date of service found.", status="open")
        session.add(flag)
    clerk = logged_in(app, "clerk1")
    assert clerk.get(f"/documents/{document_id}/read").status_code == 200
    assert clerk.get(image_of(document_id)).status_code == 200
    with ext.db.transaction() as session:
        session.get(QcFlag, flag.id).status = "reviewed"
    assert clerk.get(image_of(document_id)).status_code == 403

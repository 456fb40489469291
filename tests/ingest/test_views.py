"""The clerk's web pages: upload (form and JSON), live status, the QC queue, and the
corrections made from a document's page. Real files, real validation, both databases."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from archive.models import AuditEvent, Document, DocumentVersion, utcnow
from archive.records.patients import register_patient
from ingest.models import Job, QcFlag
from tests.conftest import SYSTEM, csrf_token_of, login
from tests.samples import pdf_bytes, png_bytes

JSON = {"Accept": "application/json"}


@pytest.fixture
def clerk(client, people, patient):
    """A logged-in clerk's client; ``clerk.token`` is its CSRF token."""
    assert login(client, "clerk1").status_code == 302
    client.token = csrf_token_of(client.get("/upload").get_data(as_text=True))
    return client


def upload_form(token, files, mrn="MRN-1001", **fields):
    return {
        "csrf_token": token,
        "mrn": mrn,
        "doc_type": "discharge_summary",
        "files": [(io.BytesIO(data), name) for name, data in files],
        **fields,
    }


def count(ext, model, *where):
    with ext.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def audit_events(ext, action):
    with ext.db.transaction() as session:
        return session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        ).all()


def post_json(client, data):
    return client.post("/upload", data=data, content_type="multipart/form-data",
                       headers={**JSON, "X-CSRFToken": client.token})


def html_of(response) -> str:
    return response.get_data(as_text=True)


# --- upload -------------------------------------------------------------------------------


def test_upload_page_offers_types_patient_lookup_and_a_multiple_file_input(clerk):
    html = html_of(clerk.get("/upload?mrn=MRN-1001"))
    assert 'name="files"' in html and "multiple" in html
    assert '<option value="discharge_summary"' in html and 'value="other"' in html
    assert 'data-summary-url="/patients/__MRN__/summary.json"' in html
    assert 'value="MRN-1001"' in html
    assert "/static/upload.js" in html and "<script>" not in html


def test_form_upload_of_two_files_files_two_documents_and_queues_two_jobs(clerk, ext):
    response = clerk.post("/upload", content_type="multipart/form-data", data=upload_form(
        clerk.token, [("first.pdf", pdf_bytes(["PAGE ONE"])), ("second.png", png_bytes())],
        date_of_service="2024-03-05", department="Cardiology"))
    assert response.status_code == 200
    html = html_of(response)
    assert "2 filed" in html and "first.pdf" in html and "second.png" in html
    with ext.db.transaction() as session:
        documents = session.scalars(select(Document).order_by(Document.id)).all()
        assert [(d.doc_type, d.date_of_service, d.department) for d in documents] == [
            ("discharge_summary", date(2024, 3, 5), "Cardiology")] * 2
        jobs = session.scalars(select(Job)).all()
        assert sorted(j.document_id for j in jobs) == [d.id for d in documents]
        assert {j.status for j in jobs} == {"queued"}
    for document in documents:
        assert f'href="/documents/{document.id}"' in html


def test_json_upload_answers_per_file_with_links_to_follow(clerk, ext):
    response = post_json(clerk, upload_form(clerk.token, [("scan.pdf", pdf_bytes())],
                                            doc_type="other", doc_type_other="Nursing note"))
    assert response.status_code == 202
    body = response.json
    assert body["status"] == "accepted" and body["duplicate_of"] is None
    assert body["error"] is None
    assert body["url"] == f"/documents/{body['id']}"
    assert body["status_url"] == f"/documents/{body['id']}/status.json"
    with ext.db.transaction() as session:
        assert session.get(Document, body["id"]).doc_type == "nursing_note"


def test_a_refused_file_shows_its_message_and_the_others_are_still_filed(clerk, ext):
    response = clerk.post("/upload", content_type="multipart/form-data", data=upload_form(
        clerk.token, [("empty.pdf", b""), ("good.pdf", pdf_bytes()), ("notes.txt", b"hello")]))
    assert response.status_code == 200
    html = html_of(response)
    assert "1 filed" in html and "2 refused" in html
    assert "The file empty.pdf is empty (0 bytes)" in html
    assert "not a PDF, TIFF, PNG or JPEG" in html
    assert count(ext, Document) == 1 and count(ext, Job) == 1
    # JSON: the refusal's own status and code.
    refused = post_json(clerk, upload_form(clerk.token, [("empty.pdf", b"")]))
    assert refused.status_code == 400
    assert refused.json["status"] == "refused" and refused.json["id"] is None
    assert refused.json["error"]["code"] == "empty_file"


def test_the_same_file_again_is_shown_as_a_duplicate(clerk, ext):
    data = pdf_bytes(["OPERATIVE REPORT"])
    first = post_json(clerk, upload_form(clerk.token, [("a.pdf", data)]))
    again = clerk.post("/upload", content_type="multipart/form-data",
                       data=upload_form(clerk.token, [("a-again.pdf", data)]))
    assert again.status_code == 200
    original = first.json["id"]
    link = f'Duplicate of <a href="/documents/{original}">document #{original}</a>'
    assert link in html_of(again)
    as_json = post_json(clerk, upload_form(clerk.token, [("a.pdf", data)]))
    assert as_json.status_code == 200
    assert (as_json.json["status"], as_json.json["duplicate_of"]) == ("duplicate", first.json["id"])
    assert count(ext, Document) == 1 and count(ext, Job) == 1


def test_problems_of_the_whole_batch_are_shown_at_their_fields_and_nothing_is_filed(clerk, ext):
    response = clerk.post("/upload", content_type="multipart/form-data", data=upload_form(
        clerk.token, [("a.pdf", pdf_bytes())], mrn="MRN-9999", date_of_service="05/03/2024"))
    assert response.status_code == 422
    html = html_of(response)
    assert "No patient with MRN MRN-9999 is registered" in html
    assert "date of service must be a date written YYYY-MM-DD" in html
    assert 'aria-invalid="true"' in html and 'value="MRN-9999"' in html
    no_files = clerk.post("/upload", content_type="multipart/form-data",
                          data=upload_form(clerk.token, []))
    assert no_files.status_code == 400 and "Choose at least one" in html_of(no_files)
    as_json = post_json(clerk, upload_form(clerk.token, [("a.pdf", pdf_bytes())], doc_type=""))
    assert as_json.status_code == 400
    assert as_json.json["error"]["field"] == "doc_type"
    assert count(ext, Document) == 0


def test_upload_without_a_csrf_token_is_refused(clerk, ext):
    data = upload_form("", [("a.pdf", pdf_bytes())])
    assert clerk.post("/upload", data=data, content_type="multipart/form-data").status_code == 400
    assert count(ext, Document) == 0


# --- status and patient summary ---------------------------------------------------------------


def test_status_json_follows_the_job(clerk, ext, filed):
    document_id = filed().document_id
    assert clerk.get(f"/documents/{document_id}/status.json").json == {
        "id": document_id, "status": "queued", "pages_done": 0, "pages_total": None,
        "error": "", "job_id": 1}
    with ext.db.transaction() as session:
        session.get(Document, document_id).status = "processing"
        job = session.scalar(select(Job).where(Job.document_id == document_id))
        job.status, job.progress_done, job.progress_total = "running", 3, 12
    body = clerk.get(f"/documents/{document_id}/status.json").json
    assert (body["status"], body["pages_done"], body["pages_total"]) == ("processing", 3, 12)
    page = html_of(clerk.get(f"/documents/{document_id}"))
    assert "OCR 3 of 12 pages" in page
    assert f'data-status-url="/documents/{document_id}/status.json"' in page
    missing = clerk.get("/documents/999/status.json")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"


def test_patient_summary_confirms_name_and_birth_date_and_is_audited(clerk, ext, patient):
    response = clerk.get(f"/patients/{patient}/summary.json")
    assert response.json == {"mrn": patient, "name": "DOE, JANE", "dob": "1970-01-02"}
    missing = clerk.get("/patients/MRN-0000/summary.json")
    assert missing.status_code == 404 and "MRN-0000" in missing.json["error"]["message"]
    events = audit_events(ext, "patient.lookup")
    assert [(e.actor, e.patient_mrn, e.outcome) for e in events] == [
        ("clerk1", patient, "success"), ("clerk1", "MRN-0000", "failure")]


# --- the QC queue -------------------------------------------------------------------------------


def add_flag(ext, document_id, kind, age_minutes, detail="", status="open"):
    with ext.db.transaction() as session:
        flag = QcFlag(document_id=document_id, kind=kind, detail=detail, status=status,
                      comment="", created_at=utcnow() - timedelta(minutes=age_minutes))
        session.add(flag)
        session.flush()
        return flag.id


def test_qc_queue_lists_open_flags_oldest_first(clerk, ext, filed):
    document_id = filed().document_id
    newer = add_flag(ext, document_id, "missing_date_of_service", 5, "No date found.")
    older = add_flag(ext, document_id, "no_mrn", 3 * 24 * 60, "No MRN was found on the pages.")
    add_flag(ext, document_id, "blank_page", 10, status="reviewed")
    response = clerk.get("/qc")
    assert response.status_code == 200
    html = html_of(response)
    rows = re.findall(r'data-flag="(\d+)"', html)
    assert rows == [str(older), str(newer)]
    assert "No MRN found on the pages" in html and "No MRN was found on the pages." in html
    assert "3 days ago" in html and "5 min ago" in html
    assert "DOE, JANE" in html and f'href="/documents/{document_id}"' in html
    assert "2 open flags" in html


def test_reviewing_a_flag_needs_a_comment_and_records_the_reviewer(clerk, ext, filed):
    document_id = filed().document_id
    flag_id = add_flag(ext, document_id, "no_mrn", 30)
    refused = clerk.post(f"/qc/{flag_id}/review",
                         data={"csrf_token": clerk.token, "comment": "  ", "next": "/qc"})
    assert refused.status_code == 400
    assert "Say what you checked or fixed" in html_of(refused)
    done = clerk.post(f"/qc/{flag_id}/review", data={
        "csrf_token": clerk.token, "comment": "MRN checked against the face sheet",
        "next": "https://elsewhere.example/qc"})
    assert done.status_code == 303 and done.headers["Location"] == "/qc"
    with ext.db.transaction() as session:
        flag = session.get(QcFlag, flag_id)
        assert (flag.status, flag.reviewed_by) == ("reviewed", "clerk1")
        assert flag.comment == "MRN checked against the face sheet"
    assert "The queue is empty" in html_of(clerk.get("/qc"))
    page = html_of(clerk.get(f"/documents/{document_id}"))
    assert "reviewed by <strong>clerk1</strong>" in page
    assert "MRN checked against the face sheet" in page
    again = clerk.post(f"/qc/{flag_id}/review", data={"csrf_token": clerk.token, "comment": "x"})
    assert again.status_code == 409


def test_review_from_the_document_page_goes_back_there(clerk, ext, filed):
    document_id = filed().document_id
    flag_id = add_flag(ext, document_id, "no_mrn", 30)
    page = html_of(clerk.get(f"/documents/{document_id}"))
    assert f'action="/qc/{flag_id}/review"' in page
    back = f"/documents/{document_id}"
    refused = clerk.post(f"/qc/{flag_id}/review",
                         data={"csrf_token": clerk.token, "comment": "", "next": back})
    assert refused.status_code == 400 and "Correct this filing" in html_of(refused)
    done = clerk.post(f"/qc/{flag_id}/review",
                      data={"csrf_token": clerk.token, "comment": "ok", "next": back})
    assert done.headers["Location"] == back


# --- corrections from the document page ----------------------------------------------------------


def fail_document(ext, document_id, error="The PDF could not be read."):
    with ext.db.transaction() as session:
        session.get(Document, document_id).status = "failed"
        job = session.scalar(select(Job).where(Job.document_id == document_id))
        job.status, job.attempts, job.last_error = "failed", 3, error


def test_retry_of_a_failed_document_requeues_its_job(clerk, ext, filed):
    document_id = filed().document_id
    refused = clerk.post(f"/documents/{document_id}/retry", data={"csrf_token": clerk.token})
    assert refused.status_code == 409 and "has not failed" in html_of(refused)
    fail_document(ext, document_id)
    page = html_of(clerk.get(f"/documents/{document_id}"))
    assert "The PDF could not be read." in page and "Retry processing" in page
    response = clerk.post(f"/documents/{document_id}/retry", data={"csrf_token": clerk.token})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/documents/{document_id}"
    with ext.db.transaction() as session:
        job = session.scalar(select(Job).where(Job.document_id == document_id))
        assert (job.status, session.get(Document, document_id).status) == ("queued", "queued")
    assert "queued to be processed again" in html_of(clerk.get(f"/documents/{document_id}"))


def test_reassign_needs_a_reason_and_moves_the_document(clerk, ext, filed):
    document_id = filed().document_id
    with ext.db.transaction() as session:
        register_patient(session, SYSTEM, mrn="MRN-2002", name="ROE, R", dob=date(1960, 1, 1))
    url = f"/documents/{document_id}/reassign"
    refused = clerk.post(url, data={"csrf_token": clerk.token, "mrn": "MRN-2002", "reason": ""})
    assert refused.status_code == 400
    assert "Give the reason" in html_of(refused) and 'value="MRN-2002"' in html_of(refused)
    unknown = clerk.post(url, data={"csrf_token": clerk.token, "mrn": "MRN-7", "reason": "x"})
    assert unknown.status_code == 422
    done = clerk.post(url, data={"csrf_token": clerk.token, "mrn": "MRN-2002",
                                 "reason": "MRN on page 1 is Roe's"})
    assert done.status_code == 303
    with ext.db.transaction() as session:
        assert session.get(Document, document_id).patient.mrn == "MRN-2002"
    [event] = audit_events(ext, "document.reassign")
    assert event.reason == "MRN on page 1 is Roe's"


def test_metadata_correction_needs_a_reason_and_saves(clerk, ext, filed):
    document_id = filed().document_id
    url = f"/documents/{document_id}/metadata"
    fields = {"csrf_token": clerk.token, "doc_type": "other", "doc_type_other": "Consent form",
              "date_of_service": "2024-01-31", "department": "Oncology"}
    refused = clerk.post(url, data={**fields, "reason": ""})
    assert refused.status_code == 400 and 'value="Consent form"' in html_of(refused)
    bad_date = clerk.post(url, data={**fields, "date_of_service": "31.01.2024", "reason": "x"})
    assert bad_date.status_code == 400
    done = clerk.post(url, data={**fields, "reason": "Typed from the cover sheet"})
    assert done.status_code == 303
    with ext.db.transaction() as session:
        document = session.get(Document, document_id)
        assert (document.doc_type, document.date_of_service, document.department) == (
            "consent_form", date(2024, 1, 31), "Oncology")


def test_a_rescan_becomes_a_new_version_and_needs_a_reason(clerk, ext, filed):
    document_id = filed().document_id
    url = f"/documents/{document_id}/versions"
    rescan = pdf_bytes(["DISCHARGE SUMMARY", "page rescanned"])
    refused = clerk.post(url, content_type="multipart/form-data", data={
        "csrf_token": clerk.token, "reason": "", "file": (io.BytesIO(rescan), "rescan.pdf")})
    assert refused.status_code == 400
    no_file = clerk.post(url, data={"csrf_token": clerk.token, "reason": "rescan"})
    assert no_file.status_code == 400 and "Choose the rescanned file" in html_of(no_file)
    done = clerk.post(url, content_type="multipart/form-data", data={
        "csrf_token": clerk.token, "reason": "Page 2 was cut off",
        "file": (io.BytesIO(rescan), "rescan.pdf")})
    assert done.status_code == 303
    assert count(ext, DocumentVersion, DocumentVersion.document_id == document_id) == 2
    assert count(ext, Job, Job.document_id == document_id) == 2


# --- who may do what --------------------------------------------------------------------------


def test_document_page_shows_corrections_to_clerks_only(client, ext, people, filed):
    document_id = filed().document_id
    add_flag(ext, document_id, "no_mrn", 1)
    login(client, "clerk1")
    clerk_page = html_of(client.get(f"/documents/{document_id}"))
    assert "Correct this filing" in clerk_page and "Mark reviewed" in clerk_page
    assert 'href="/upload"' in clerk_page and 'href="/qc"' in clerk_page  # navigation
    client.post("/logout", data={"csrf_token": csrf_token_of(clerk_page)})
    login(client, "staff1")
    staff_page = html_of(client.get(f"/documents/{document_id}"))
    assert "No MRN found on the pages" in staff_page  # staff see the flags...
    assert "Correct this filing" not in staff_page and "Mark reviewed" not in staff_page
    assert 'href="/upload"' not in staff_page


def test_clerk_only_routes_refuse_staff(client, ext, people, filed):
    document_id = filed().document_id
    login(client, "staff1")
    token = csrf_token_of(html_of(client.get("/")))
    assert client.get("/upload").status_code == 403
    assert client.get("/qc").status_code == 403
    for path in ("retry", "reassign", "metadata", "versions"):
        response = client.post(f"/documents/{document_id}/{path}",
                               data={"csrf_token": token, "reason": "x", "mrn": "MRN-1001"})
        assert response.status_code == 403, path
    assert client.post("/qc/1/review", data={"csrf_token": token, "comment": "x"}).status_code \
        == 403
    # What staff may use: the live status and the patient confirmation.
    assert client.get(f"/documents/{document_id}/status.json").status_code == 200
    assert client.get("/patients/MRN-1001/summary.json").status_code == 200

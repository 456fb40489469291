"""The clerk's batch pages: the cover sheet printed from the patient's page (a real PDF whose
QR code reads back, the print audited), the batch upload form (CSRF required) and the batch
page listing each part."""

from __future__ import annotations

import io

import pikepdf
import pytest
from pdf2image import convert_from_bytes
from sqlalchemy import select

from archive.models import AuditEvent
from ingest.batches import codes
from ingest.batches.splitting import read_page
from ingest.worker import Worker
from tests.conftest import csrf_token_of, login
from tests.ingest.batches.stacks import cover, multipart, pdf_of, report, scanned


@pytest.fixture
def clerk(client, people, patient):
    assert login(client, "clerk1").status_code == 302
    return client


def test_the_patient_page_offers_a_cover_sheet_whose_code_reads_back(ext, clerk, patient):
    page = clerk.get(f"/patients/{patient}").get_data(as_text=True)
    assert f"/patients/{patient}/cover-sheet" in page
    form = clerk.get(f"/patients/{patient}/cover-sheet").get_data(as_text=True)
    assert 'name="type"' in form and 'name="encounter"' in form
    answer = clerk.get(f"/patients/{patient}/cover-sheet.pdf?type=progress_note&encounter=E-5")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    with pikepdf.open(io.BytesIO(answer.data)) as pdf:
        assert len(pdf.pages) == 1
    image = convert_from_bytes(answer.data, dpi=100, grayscale=True)[0]
    assert read_page(image, 1).sheet == codes.patient_code(patient, "progress_note", "E-5")
    with ext.db.transaction() as session:
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "batch.cover_sheet")).one()
        assert event.patient_mrn == patient


def test_a_cover_sheet_for_a_bad_type_or_unknown_patient_is_refused(clerk, people, patient):
    bad = clerk.get(f"/api/v1/patients/{patient}/cover-sheet.pdf?type=Bad|Type",
                    headers=people.headers("clerk"))
    assert bad.status_code == 400
    unknown = clerk.get("/api/v1/patients/MRN-4040/cover-sheet.pdf?type=progress_note",
                        headers=people.headers("clerk"))
    assert unknown.status_code == 404 and "MRN-4040" in unknown.get_json()["error"]["message"]
    staff = clerk.get(f"/api/v1/patients/{patient}/cover-sheet.pdf?type=progress_note",
                      headers=people.headers("staff"))
    assert staff.status_code == 403


def test_a_batch_uploaded_from_the_web_form_shows_its_parts(ext, clerk, patient):
    stack = pdf_of([(scanned(cover(patient, "progress_note"), 1), 200),
                    (scanned(report("PROGRESS NOTE"), 2), 200)])
    form = clerk.get("/batches/upload").get_data(as_text=True)
    refused = clerk.post("/batches", **multipart(stack, "stack.pdf"))
    assert refused.status_code == 400  # no CSRF token
    answer = clerk.post("/batches", **multipart(stack, "stack.pdf",
                                                 csrf_token=csrf_token_of(form)))
    assert answer.status_code == 303
    assert Worker(ext, worker_id="w1")._split_next_batch()
    page = clerk.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Filed documents (1)" in page and patient in page and "progress_note" in page
    assert "Unidentified parts (0)" in page


def test_an_unidentified_part_is_listed_in_qc_and_filed_when_a_clerk_assigns_it(
        ext, clerk, patient):
    stack = pdf_of([(scanned(cover("MRN-9999", "progress_note"), 1), 200),
                    (scanned(report("NOTE OF SOMEONE"), 2), 200)])
    form = clerk.get("/batches/upload").get_data(as_text=True)
    answer = clerk.post("/batches", **multipart(stack, "stack.pdf",
                                                 csrf_token=csrf_token_of(form)))
    assert Worker(ext, worker_id="w1")._split_next_batch()
    queue = clerk.get("/qc").get_data(as_text=True)
    assert "Unidentified batch parts (1)" in queue and "MRN-9999" in queue
    page = clerk.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Filed documents (0)" in page
    action = page[page.index('action="/batches/parts/'):].split('"')[1]
    filed = clerk.post(action, data={"mrn": patient, "doc_type": "progress_note",
                                     "csrf_token": csrf_token_of(page)})
    assert filed.status_code == 303
    assert "Unidentified batch parts (0)" in clerk.get("/qc").get_data(as_text=True)
    again = clerk.post(action, data={"mrn": patient, "doc_type": "progress_note",
                                     "csrf_token": csrf_token_of(page)})
    assert again.status_code == 409
    with ext.db.transaction() as session:
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "batch.assign")).one()
        assert event.patient_mrn == patient and event.document_id is not None

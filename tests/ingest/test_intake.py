"""Ingestion's part in filing: content validation wired into every way in, and a file
filed under two patients flagged on both."""

from __future__ import annotations

import io

import pikepdf
from sqlalchemy import select

from archive.models import AuditEvent, Document
from ingest.models import QcFlag
from tests.samples import pdf_bytes


def encrypted_pdf() -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(612, 792))
    buffer = io.BytesIO()
    pdf.save(buffer, encryption=pikepdf.Encryption(user="secret", owner="secret"))
    return buffer.getvalue()


def post(client, people, data, mrn="MRN-1001"):
    return client.post("/api/v1/documents", headers=people.headers("clerk"),
                       content_type="multipart/form-data",
                       data={"mrn": mrn, "type": "note", "file": (io.BytesIO(data), "x.pdf")})


def test_password_protected_pdf_is_refused_through_the_api_and_audited(client, people,
                                                                        patient, ext):
    response = post(client, people, encrypted_pdf())
    assert response.status_code == 422
    assert response.json["error"] == {
        "code": "password_protected",
        "message": "This PDF is password-protected; remove the password and upload again."}
    with ext.db.transaction() as session:
        assert session.scalars(select(Document)).all() == []
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "document.reject"))
        assert event.details["code"] == "password_protected"


def test_truncated_pdf_is_refused(client, people, patient):
    data = pdf_bytes(["OPERATIVE REPORT"])
    response = post(client, people, data[: len(data) // 2])
    assert response.status_code == 422 and response.json["error"]["code"] == "corrupt_file"


def test_same_file_under_another_patient_flags_both_documents(client, people, patient, ext):
    client.post("/api/v1/patients", headers=people.headers("clerk"),
                json={"mrn": "MRN-2002", "name": "ROE, R", "dob": "1960-01-01"})
    data = pdf_bytes(["CONSULTATION"])
    first = post(client, people, data).json["id"]
    second = post(client, people, data, mrn="MRN-2002").json["id"]
    with ext.db.transaction() as session:
        flags = {(f.document_id, f.kind): f.detail for f in session.scalars(select(QcFlag))}
    assert set(flags) == {(first, "filed_under_other_patient"),
                          (second, "filed_under_other_patient")}
    assert "MRN-2002" in flags[(first, "filed_under_other_patient")]
    assert "MRN-1001" in flags[(second, "filed_under_other_patient")]
    detail = client.get(f"/api/v1/documents/{first}", headers=people.headers("staff")).json
    assert [f["kind"] for f in detail["qc_flags"]] == ["filed_under_other_patient"]

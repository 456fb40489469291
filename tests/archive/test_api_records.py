"""REST API for patients and documents: the happy path and every way of getting it wrong."""

from __future__ import annotations

import base64
import hashlib
import io

from sqlalchemy import func, select

from archive.models import AuditEvent, Document, DocumentVersion, Patient
from tests.samples import pdf_bytes, png_bytes


def upload(client, headers, mrn="MRN-1001", data=None, **fields):
    body = {"mrn": mrn, "type": "discharge_summary", **fields}
    if data is not None:
        body["file"] = (io.BytesIO(data), "scan.pdf")
    return client.post(
        "/api/v1/documents", data=body, headers=headers, content_type="multipart/form-data"
    )


def count(ext, model) -> int:
    with ext.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model))


def audit_actions(ext) -> list[tuple[str, str]]:
    with ext.db.transaction() as session:
        return [
            (e.action, e.outcome)
            for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))
        ]


def test_health_answers_when_database_and_store_answer(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "storage": "ok"}


def test_register_and_read_patient(client, people):
    response = client.post(
        "/api/v1/patients",
        headers=people.headers("clerk"),
        json={"mrn": "MRN-2002", "name": "ROE, RICHARD", "dob": "1955-03-04", "restricted": True},
    )
    assert response.status_code == 201
    # A restricted chart opens only once the reader has broken the glass.
    refused = client.get("/api/v1/patients/MRN-2002", headers=people.headers("staff"))
    assert refused.json["error"]["code"] == "restricted_record"
    client.post("/api/v1/patients/MRN-2002/break-glass", headers=people.headers("staff"),
                json={"reason": "Admitted through ED, unconscious"})
    got = client.get("/api/v1/patients/MRN-2002", headers=people.headers("staff"))
    assert got.status_code == 200
    assert got.json["name"] == "ROE, RICHARD"
    assert got.json["restricted"] is True
    assert got.json["documents"] == []


def test_duplicate_mrn_is_refused_and_first_patient_kept(client, people, patient, ext):
    response = client.post(
        "/api/v1/patients",
        headers=people.headers("clerk"),
        json={"mrn": patient, "name": "SOMEONE, ELSE", "dob": "1980-01-01"},
    )
    assert response.status_code == 409
    assert response.json["error"]["code"] == "duplicate_mrn"
    assert patient in response.json["error"]["message"]
    with ext.db.transaction() as session:
        assert session.scalar(select(Patient.name).where(Patient.mrn == patient)) == "DOE, JANE"


def test_patient_with_bad_date_gets_a_clear_400(client, people):
    response = client.post(
        "/api/v1/patients",
        headers=people.headers("clerk"),
        json={"mrn": "MRN-3", "name": "X, Y", "dob": "03/04/1955"},
    )
    assert response.status_code == 400
    assert "YYYY-MM-DD" in response.json["error"]["message"]


def test_unknown_patient_is_404(client, people):
    response = client.get("/api/v1/patients/NOPE-1", headers=people.headers("staff"))
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_upload_then_read_metadata_and_download_with_digest(client, people, patient, ext):
    data = pdf_bytes(["DISCHARGE SUMMARY", "Patient: DOE, JANE"])
    response = upload(client, people.headers("clerk"), data=data, date_of_service="2024-05-06")
    assert response.status_code == 202
    body = response.json
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["version"] == 1 and body["status"] == "queued"

    meta = client.get(f"/api/v1/documents/{body['id']}", headers=people.headers("staff")).json
    assert meta["mrn"] == patient and meta["type"] == "discharge_summary"
    assert meta["date_of_service"] == "2024-05-06"
    assert [v["sha256"] for v in meta["versions"]] == [body["sha256"]]
    assert meta["versions"][0]["created_by"] == "clerk1"

    download = client.get(
        f"/api/v1/documents/{body['id']}/versions/1/original", headers=people.headers("staff")
    )
    assert download.status_code == 200
    assert download.data == data
    expected = base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert download.headers["Digest"] == f"sha-256={expected}"
    assert download.mimetype == "application/pdf"
    assert ("document.download", "success") in audit_actions(ext)


def test_new_version_keeps_the_old_one_readable(client, people, patient):
    first, second = pdf_bytes(["FIRST SCAN"]), png_bytes(["RESCAN"])
    document_id = upload(client, people.headers("clerk"), data=first).json["id"]
    response = client.post(
        f"/api/v1/documents/{document_id}/versions",
        data={"file": (io.BytesIO(second), "rescan.png"), "reason": "page 2 was cut off"},
        headers=people.headers("clerk"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 202
    assert response.json["version"] == 2
    meta = client.get(f"/api/v1/documents/{document_id}", headers=people.headers("staff")).json
    assert [v["number"] for v in meta["versions"]] == [1, 2]
    assert meta["versions"][1]["reason"] == "page 2 was cut off"
    for number, data in ((1, first), (2, second)):
        got = client.get(
            f"/api/v1/documents/{document_id}/versions/{number}/original",
            headers=people.headers("staff"),
        )
        assert got.data == data


def test_new_version_needs_a_reason(client, people, patient, ext):
    document_id = upload(client, people.headers("clerk"), data=pdf_bytes()).json["id"]
    response = client.post(
        f"/api/v1/documents/{document_id}/versions",
        data={"file": (io.BytesIO(png_bytes()), "x.png")},
        headers=people.headers("clerk"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "reason" in response.json["error"]["message"]
    assert count(ext, DocumentVersion) == 1


def test_upload_for_unknown_mrn_is_refused_and_nothing_stored(client, people, ext):
    response = upload(client, people.headers("clerk"), mrn="MRN-404", data=pdf_bytes())
    assert response.status_code == 422
    assert response.json["error"]["code"] == "unknown_mrn"
    assert "Register the patient first" in response.json["error"]["message"]
    assert ("document.reject", "refused") in audit_actions(ext)
    assert count(ext, Document) == 0
    assert not list((ext.settings.objects_dir).rglob("*original*"))


def test_upload_without_file_is_400(client, people, patient, ext):
    response = upload(client, people.headers("clerk"))
    assert response.status_code == 400
    assert response.json["error"]["code"] == "missing_file"
    assert count(ext, Document) == 0


def test_empty_file_is_refused_and_nothing_stored(client, people, patient, ext):
    response = upload(client, people.headers("clerk"), data=b"")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "empty_file"
    assert count(ext, Document) == 0 and count(ext, DocumentVersion) == 0


def test_file_that_is_not_a_scan_is_415(client, people, patient, ext):
    response = upload(client, people.headers("clerk"), data=b"MZ\x90\x00 not a scan at all")
    assert response.status_code == 415
    assert "PDF, TIFF, PNG or JPEG" in response.json["error"]["message"]
    assert count(ext, Document) == 0


def test_bad_json_body_is_400_not_500(client, people):
    response = client.post(
        "/api/v1/patients",
        headers=people.headers("clerk"),
        data="not json",
        content_type="text/plain",
    )
    assert response.status_code == 400
    assert "JSON" in response.json["error"]["message"]


def test_download_of_bytes_changed_on_disk_fails_and_is_audited(client, people, patient, ext):
    data = pdf_bytes(["LAB REPORT"])
    document_id = upload(client, people.headers("clerk"), data=data).json["id"]
    stored = [
        p for p in ext.settings.objects_dir.rglob("*") if p.is_file() and p.read_bytes() == data
    ]
    assert len(stored) == 1
    stored[0].chmod(0o644)
    corrupted = bytearray(data)
    corrupted[len(corrupted) // 2] ^= 0xFF
    stored[0].write_bytes(bytes(corrupted))

    response = client.get(
        f"/api/v1/documents/{document_id}/versions/1/original", headers=people.headers("staff")
    )
    assert response.status_code == 500
    assert response.json["error"]["code"] == "integrity_error"
    assert ("document.download", "integrity_failure") in audit_actions(ext)


def test_every_document_gets_its_own_object_key(client, people, patient, ext):
    for n in range(2):
        assert (
            upload(client, people.headers("clerk"), data=pdf_bytes([f"SCAN {n}"])).status_code
            == 202
        )
    with ext.db.transaction() as session:
        rows = session.execute(
            select(Document.uid, DocumentVersion.object_key).join(DocumentVersion)
        ).all()
    assert len({key for _uid, key in rows}) == 2
    assert all(uid and uid in key for uid, key in rows)


def test_same_bytes_for_same_patient_return_the_existing_document(client, people, patient, ext):
    data = pdf_bytes(["CONSULTATION"])
    first = upload(client, people.headers("clerk"), data=data)
    again = upload(client, people.headers("clerk"), data=data)
    assert again.status_code == 200
    assert again.json["duplicate_of"] == first.json["id"] == again.json["id"]
    assert count(ext, Document) == 1 and count(ext, DocumentVersion) == 1
    assert ("document.duplicate", "success") in audit_actions(ext)


def test_same_bytes_for_another_patient_are_filed_for_both(client, people, patient, ext):
    client.post("/api/v1/patients", headers=people.headers("clerk"),
                json={"mrn": "MRN-2002", "name": "ROE, R", "dob": "1960-01-01"})
    data = pdf_bytes(["CONSULTATION"])
    assert upload(client, people.headers("clerk"), data=data).status_code == 202
    assert upload(client, people.headers("clerk"), mrn="MRN-2002", data=data).status_code == 202
    assert count(ext, Document) == 2


def test_refused_upload_is_audited_with_its_reason(client, people, patient, ext):
    upload(client, people.headers("clerk"), data=b"")
    with ext.db.transaction() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "document.reject"))
    assert (event.outcome, event.patient_mrn, event.details["code"]) == (
        "refused", patient, "empty_file")
    assert "empty" in event.reason

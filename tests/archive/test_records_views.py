"""Records pages: patient and document views, downloads, and who sees what."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from flask import Flask
from sqlalchemy import select

from archive.app import create_app
from archive.config import Settings
from archive.interfaces import Upload
from archive.models import AuditEvent
from archive.records.filing import add_document
from tests.conftest import login
from tests.samples import pdf_bytes


@pytest.fixture
def document(ext, people, patient, tmp_path):
    data = pdf_bytes(["OPERATIVE REPORT", "<script>alert(1)</script>"])
    path = tmp_path / "scan.pdf"
    path.write_bytes(data)
    with path.open("rb") as stream:
        version = add_document(ext, people.principal("clerk"), mrn=patient,
                               doc_type="operative_report", upload=Upload(stream, "op <1>.pdf"),
                               date_of_service=date(2024, 2, 3)).version
    return version.document_id, data


def audited(ext, action):
    with ext.db.transaction() as session:
        return session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_patient_page_lists_documents_by_type_and_is_audited(client, ext, document, patient):
    login(client, "staff1")
    page = client.get(f"/patients/{patient}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "DOE, JANE" in html and "Operative report" in html
    assert f"/documents/{document[0]}" in html
    [event] = audited(ext, "patient.view")
    assert (event.actor, event.patient_mrn) == ("staff1", patient)


def test_lookup_by_mrn_goes_to_the_patient(client, people, patient):
    login(client, "clerk1")
    response = client.get(f"/patients?mrn={patient}")
    assert response.headers["Location"] == f"/patients/{patient}"


def test_document_page_shows_versions_with_checksums(client, ext, document):
    document_id, data = document
    login(client, "staff1")
    html = client.get(f"/documents/{document_id}").get_data(as_text=True)
    assert hashlib.sha256(data).hexdigest() in html
    assert "clerk1" in html
    assert f"/documents/{document_id}/versions/1/original" in html
    assert "op <1>.pdf" not in html  # the client's file name is escaped wherever shown
    assert len(audited(ext, "document.view")) == 1


def test_staff_download_from_the_web_is_verified_and_audited(client, ext, document):
    document_id, data = document
    login(client, "staff1")
    response = client.get(f"/documents/{document_id}/versions/1/original")
    assert response.status_code == 200 and response.data == data
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert [e.actor for e in audited(ext, "document.download")] == ["staff1"]


def test_clerk_sees_metadata_but_cannot_download_content(client, ext, document):
    document_id, _data = document
    login(client, "clerk1")
    html = client.get(f"/documents/{document_id}").get_data(as_text=True)
    assert f"/documents/{document_id}/versions/1/original" not in html
    assert client.get(f"/documents/{document_id}/versions/1/original").status_code == 403
    [denied] = audited(ext, "access.denied")
    assert denied.actor == "clerk1" and denied.outcome == "refused"


def test_unknown_patient_page_is_a_404_page(client, people):
    login(client, "staff1")
    response = client.get("/patients/NOPE-9")
    assert response.status_code == 404
    assert "No patient with MRN NOPE-9" in response.get_data(as_text=True)


def test_app_refuses_to_start_without_a_secret_key_outside_testing(tmp_path):
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/x.db")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(settings)
    assert isinstance(create_app(settings, testing=True), Flask)

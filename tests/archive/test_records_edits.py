"""Correcting a filing: reassigning the patient and fixing metadata, always with a reason."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from archive.errors import BadRequest, PermissionDenied, UnknownPatient
from archive.interfaces import Upload
from archive.models import AuditEvent, Document
from archive.records.edits import correct_metadata, reassign_patient
from archive.records.filing import add_document
from archive.records.patients import register_patient
from tests.conftest import SYSTEM
from tests.samples import pdf_bytes


@pytest.fixture
def document_id(ext, people, patient, tmp_path):
    path = tmp_path / "scan.pdf"
    path.write_bytes(pdf_bytes(["PROGRESS NOTE"]))
    with path.open("rb") as stream:
        return add_document(ext, people.principal("clerk"), mrn=patient, doc_type="note",
                            upload=Upload(stream, "scan.pdf")).version.document_id


@pytest.fixture
def second_patient(ext):
    with ext.db.transaction() as session:
        register_patient(session, SYSTEM, mrn="MRN-2002", name="ROE, R", dob=date(1960, 1, 1))
    return "MRN-2002"


def last_event(ext, action) -> AuditEvent:
    with ext.db.transaction() as session:
        return session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                               .order_by(AuditEvent.seq.desc())).first()


def test_reassign_moves_the_document_and_audits_from_and_to(ext, people, document_id,
                                                             second_patient, patient):
    reassign_patient(ext, people.principal("clerk"), document_id, mrn=second_patient,
                     reason="MRN on page 1 belongs to Roe")
    with ext.db.transaction() as session:
        assert session.get(Document, document_id).patient.mrn == second_patient
    event = last_event(ext, "document.reassign")
    assert event.details == {"from": patient, "to": second_patient}
    assert event.reason == "MRN on page 1 belongs to Roe"


def test_reassign_needs_a_reason_a_known_patient_and_a_clerk(ext, people, document_id,
                                                            second_patient):
    clerk = people.principal("clerk")
    with pytest.raises(BadRequest, match="reason"):
        reassign_patient(ext, clerk, document_id, mrn=second_patient, reason=" ")
    with pytest.raises(UnknownPatient):
        reassign_patient(ext, clerk, document_id, mrn="MRN-404", reason="x")
    with pytest.raises(PermissionDenied):
        reassign_patient(ext, people.principal("staff"), document_id, mrn=second_patient,
                         reason="x")


def test_metadata_correction_records_before_and_after(ext, people, document_id):
    correct_metadata(ext, people.principal("clerk"), document_id,
                     doc_type="discharge_summary", date_of_service=date(2024, 3, 1),
                     department="Cardiology", reason="typed the wrong type at filing")
    event = last_event(ext, "document.metadata")
    assert event.details["before"] == {"type": "note", "date_of_service": None,
                                       "department": None}
    assert event.details["after"] == {"type": "discharge_summary",
                                      "date_of_service": "2024-03-01",
                                      "department": "Cardiology"}


def test_metadata_correction_that_changes_nothing_is_refused(ext, people, document_id):
    with pytest.raises(BadRequest, match="Nothing was changed"):
        correct_metadata(ext, people.principal("clerk"), document_id, doc_type="note",
                         date_of_service=None, department=None, reason="no-op")

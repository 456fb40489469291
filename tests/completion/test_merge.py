"""A patient merge (ADT A40) over MLLP, on both databases: the prior MRN's documents and
encounters move to the surviving patient, audited; under a legal hold nothing moves and
the ACK names the hold."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from archive.interfaces import Upload
from archive.models import AuditEvent, Document, Patient
from archive.records.filing import add_document
from completion.linking import encounter_of
from completion.models import Encounter
from retention.holds import place_hold
from tests.completion import adt_messages as adt
from tests.completion.adt_messages import message, with_control_id
from tests.samples import pdf_bytes


def _prior_chart(hl7_feed, people, tmp_path) -> int:
    """E0999 admitted by HL7, with one document filed during the stay."""
    admitted = [line.replace("E1001", "E0999").replace("4001234567", "4009990000")
                for line in with_control_id(adt.EPIC_A01, "EPIC-0999")]
    assert hl7_feed.send(message(admitted)).code == "AA"
    path = tmp_path / "note.pdf"
    path.write_bytes(pdf_bytes(["PROGRESS NOTE"]))
    with path.open("rb") as stream:
        return add_document(hl7_feed.ext, people.principal("clerk"), mrn="E0999",
                            doc_type="progress_note", upload=Upload(stream, path.name),
                            date_of_service=date(2026, 11, 3)).version.document_id


def _owner(ext, document_id: int) -> str:
    with ext.db.transaction() as session:
        return session.scalar(select(Patient.mrn).join(Document).where(
            Document.id == document_id))


def test_a_merge_moves_documents_and_encounters_to_the_survivor(hl7_feed, people, tmp_path):
    document_id = _prior_chart(hl7_feed, people, tmp_path)
    merged = hl7_feed.send(message(adt.EPIC_A40))
    assert merged.code == "AA", merged.reason
    assert _owner(hl7_feed.ext, document_id) == "E1001"
    with hl7_feed.ext.db.transaction() as session:
        assert encounter_of(session, document_id).number == "4009990000"  # still matched
        assert session.scalar(select(Patient.mrn).join(Encounter, Encounter.patient_id ==
                                                       Patient.id)) == "E1001"
        moved = session.scalar(select(AuditEvent).where(AuditEvent.action == "document.reassign"))
        assert (moved.document_id, moved.details) == (document_id, {"from": "E0999",
                                                                     "to": "E1001"})
        assert session.scalar(select(AuditEvent.details).where(
            AuditEvent.action == "patient.merge")) == {"prior": "E0999", "documents": 1,
                                                       "encounters": 1}


def test_a_merge_under_a_legal_hold_moves_nothing_and_names_the_hold(hl7_feed, people,
                                                                      tmp_path):
    document_id = _prior_chart(hl7_feed, people, tmp_path)
    place_hold(hl7_feed.ext, people.principal("compliance"), name="Doe v. General",
               reason="Litigation", contact="Legal, x4411", scope={"mrns": ["E0999"]})
    refused = hl7_feed.send(message(adt.EPIC_A40))
    assert refused.code == "AE" and "Doe v. General" in refused.reason
    assert _owner(hl7_feed.ext, document_id) == "E0999"
    with hl7_feed.ext.db.transaction() as session:
        assert session.scalar(select(Patient.id).where(Patient.mrn == "E1001")) is None
        assert session.scalar(select(AuditEvent.action).where(
            AuditEvent.action == "hold.refused")) == "hold.refused"


def test_a_merge_of_an_unknown_mrn_is_answered_ae(hl7_feed):
    answer = hl7_feed.send(message(adt.EPIC_A40))
    assert answer.code == "AE" and "E0999" in answer.reason

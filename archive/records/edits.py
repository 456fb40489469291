"""Corrections of a filed document: moving it to the right patient, and correcting what
was typed when it was filed. Each is audited with its reason, and may be vetoed by a
package's change guard (a legal hold)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from archive import audit
from archive.auth.permissions import Principal, require
from archive.errors import BadRequest, NotFound, UnknownPatient
from archive.models import Document
from archive.records import scans
from archive.records.changes import EDIT, REASSIGN, refuse_if_guarded, required_reason
from archive.records.formats import checked_doc_type
from archive.records.patients import find_patient
from archive.records.reading import get_document

if TYPE_CHECKING:
    from archive.extensions import Archive


def reassign_patient(
    ext: Archive, principal: Principal, document_id: int, *, mrn: str, reason: str
) -> Document:
    """Move a misfiled document to the right patient. Every version moves with it."""
    require(principal, "document.edit")
    reason = required_reason(reason)
    with ext.db.transaction() as session:
        document = get_document(session, document_id)
        refuse_if_guarded(ext, session, principal, document, REASSIGN)
        old_mrn = document.patient.mrn
        if mrn == old_mrn:
            raise BadRequest(f"Document {document_id} is already filed under {mrn}.")
        try:
            target = find_patient(session, mrn)
        except NotFound:
            raise UnknownPatient(
                f"No patient with MRN {mrn} is registered; check the number or register "
                "the patient first."
            ) from None
        scans.move(session, document, document.patient_id, target.id)
        document.patient = target
        audit.record(
            session,
            principal.actor,
            "document.reassign",
            patient_mrn=mrn,
            document_id=document_id,
            reason=reason,
            details={"from": old_mrn, "to": mrn},
        )
        _document_changed(ext, session, document)
        return document


def correct_metadata(
    ext: Archive,
    principal: Principal,
    document_id: int,
    *,
    doc_type: str,
    date_of_service: date | None,
    department: str | None,
    reason: str,
) -> Document:
    """Correct what was typed at filing (type, date of service, department)."""
    require(principal, "document.edit")
    reason = required_reason(reason)
    doc_type = checked_doc_type(doc_type)
    with ext.db.transaction() as session:
        document = get_document(session, document_id)
        refuse_if_guarded(ext, session, principal, document, EDIT)
        before = _metadata_of(document)
        document.doc_type = doc_type
        document.date_of_service = date_of_service
        document.department = (department or "").strip() or None
        after = _metadata_of(document)
        if before == after:
            raise BadRequest("Nothing was changed; edit a field before saving.")
        audit.record_about(
            session, principal.actor, "document.metadata", document,
            reason=reason,
            details={"before": before, "after": after},
        )
        _document_changed(ext, session, document)
        return document


def _metadata_of(document: Document) -> dict:
    return {
        "type": document.doc_type,
        "date_of_service": document.date_of_service.isoformat()
        if document.date_of_service
        else None,
        "department": document.department,
    }


def _document_changed(ext: Archive, session: Session, document: Document) -> None:
    for listener in ext.document_listeners:
        listener(session, document)

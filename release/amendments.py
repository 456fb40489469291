"""Amendments (45 CFR 164.526): a patient's request to amend a document is a request of type
"amendment" naming that one document. Accepted, the amendment is filed as a new document of
the patient, linked to the original; the original's bytes and versions are never touched.
Denied, a denial letter is filed the same way, then the patient's statement of disagreement
and the hospital's rebuttal. Every one of them is filed through the archive's own filing
service (checksummed, versioned, read and indexed like any scan) and linked to the original
(release.amendment_models), so the viewer shows them beside it and every later packet of the
original carries them right after it (release.packets).

Order of writes: the request is checked, the document filed (its own transaction, audited
as any filing), then the link, the request's new status and the audit event are committed
together after checking the request again. A step that loses a race to another clerk's
decision in between is refused; the document it filed stays in the patient's chart (the
archive deletes nothing), unlinked, and its filing is in the audit trail."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from archive import audit
from archive.auth.permissions import SYSTEM_ROLE, Principal, require
from archive.errors import BadRequest, Conflict
from archive.interfaces import Upload
from archive.models import Document, utcnow
from archive.records.filing import add_document
from archive.records.reading import get_document
from release import amendment_letters as letters
from release.amendment_models import AMENDMENT, DENIAL, DISAGREEMENT, REBUTTAL, AmendmentLink
from release.models import ReleaseRequest
from release.requests import MANAGE, VIEW, audit_request, check_move, get_request
from release.workflow import APPROVED, CLOSED, DENIED, IN_REVIEW

AMENDMENT_REQUEST = "amendment"
# The document type each step files under (the archive's types: lowercase and underscores).
DOC_TYPES = {AMENDMENT: "amendment", DENIAL: "amendment_denial",
             DISAGREEMENT: "statement_of_disagreement", REBUTTAL: "amendment_rebuttal"}
LABELS = {AMENDMENT: "Amendment", DENIAL: "Denial of the amendment",
          DISAGREEMENT: "Statement of disagreement", REBUTTAL: "Rebuttal"}


class AmendmentRefused(Conflict):
    """The request is not (or no longer) in a state where this step can be taken."""

    code = "amendment_refused"


@dataclass(frozen=True)
class Step:
    kind: str
    statuses: tuple[str, ...]  # the request's statuses the step may be taken in
    needs: str | None = None  # the kind that must be filed first
    excludes: str | None = None  # the kind that rules it out (accepted or denied, not both)
    decides: str | None = None  # the status the request gets


STEPS = {
    # In review: the decision is taken now. Approved or denied already (through the status
    # form): the decision stands, and its document is still to be filed.
    AMENDMENT: Step(AMENDMENT, (IN_REVIEW, APPROVED), excludes=DENIAL, decides=APPROVED),
    DENIAL: Step(DENIAL, (IN_REVIEW, DENIED), excludes=AMENDMENT, decides=DENIED),
    # The patient may disagree after the request was closed, and the hospital rebut.
    DISAGREEMENT: Step(DISAGREEMENT, (DENIED, CLOSED), needs=DENIAL),
    REBUTTAL: Step(REBUTTAL, (DENIED, CLOSED), needs=DISAGREEMENT),
}


def accept_amendment(ext, principal: Principal, request_id: int, text: str) -> AmendmentLink:
    """Accept the request: file the amendment's text as a new document linked to the
    original, and approve the request."""
    _require_text(text, "text", "the amendment as it is to be added to the record")
    return _take_step(ext, principal, request_id, AMENDMENT, "", lambda about: (
        letters.amendment_pdf(about, text, principal.username, date.today())))


def deny_amendment(ext, principal: Principal, request_id: int, basis: str,
                   contact: str) -> AmendmentLink:
    """Deny the request: file the denial letter (with the patient's rights) and deny it."""
    _require_text(basis, "reason", "the basis for the denial, which the letter states")
    return _take_step(ext, principal, request_id, DENIAL, basis.strip(), lambda about: (
        letters.denial_pdf(about, basis, contact, date.today())))


def file_disagreement(ext, principal: Principal, request_id: int, text: str) -> AmendmentLink:
    _require_text(text, "text", "the patient's statement of disagreement")
    return _take_step(ext, principal, request_id, DISAGREEMENT, "", lambda about: (
        letters.disagreement_pdf(about, text, date.today())))


def file_rebuttal(ext, principal: Principal, request_id: int, text: str) -> AmendmentLink:
    _require_text(text, "text", "the hospital's rebuttal")
    return _take_step(ext, principal, request_id, REBUTTAL, "", lambda about: (
        letters.rebuttal_pdf(about, text, principal.username, date.today())))


def _require_text(value: str, field: str, what: str) -> None:
    if not value.strip():
        raise BadRequest(f"{field} is required: {what}.")


def _take_step(ext, principal: Principal, request_id: int, kind: str, reason: str,
               render: Callable[[letters.AmendedDocument], bytes]) -> AmendmentLink:
    require(principal, MANAGE)
    step = STEPS[kind]
    with ext.db.transaction() as session:
        row = get_request(session, request_id)
        about = _about(row, _check_step(session, row, step))
    filing = add_document(
        ext, _filing_as(principal), mrn=about.mrn, doc_type=DOC_TYPES[kind],
        upload=Upload(io.BytesIO(render(about)), f"request-{request_id}-{kind}.pdf"),
        date_of_service=date.today())
    with ext.db.transaction() as session:
        row = session.get(ReleaseRequest, request_id, with_for_update=True)
        # Again: another clerk may have decided the request while the document was filed.
        original = _check_step(session, row, step)
        link = AmendmentLink(request_id=row.id, document_id=original.id,
                             linked_document_id=filing.version.document_id, kind=kind,
                             created_by=principal.username)
        session.add(link)
        session.flush()
        if step.decides:
            _decide(session, principal, row, step.decides,
                    reason or f"Amendment accepted: filed as document {link.linked_document_id}.")
        audit.record_about(session, principal.actor, f"amendment.{kind}", original,
                           reason=reason,
                           details={"request": row.id, "filed_document": link.linked_document_id,
                                    "sha256": filing.version.sha256})
        return link


def _filing_as(principal: Principal) -> Principal:
    """Who files the step's document. Filing scans is a clerk's permission, but release
    staff file these letters as part of deciding the request (MANAGE, checked before): the
    filing runs with the system's role, under the staff member's own name, so the trail
    says who filed it."""
    return Principal(principal.username, SYSTEM_ROLE, principal.user_id, principal.source)


def _check_step(session: Session, row: ReleaseRequest, step: Step) -> Document:
    """The document the request asks to amend, if the step may be taken now; otherwise a
    refusal that says why and what to do."""
    what = LABELS[step.kind].lower()
    if row.request_type != AMENDMENT_REQUEST:
        raise AmendmentRefused(f"Request {row.id} is a {row.request_type} request; only an "
                               f"amendment request has a {what}.")
    filed = {link.kind: link for link in row.amendment_links}
    if step.kind in filed:
        raise AmendmentRefused(f"Request {row.id} has its {what} already: document "
                               f"{filed[step.kind].linked_document_id}.")
    if step.excludes in filed:
        raise AmendmentRefused(f"Request {row.id} was {_decision(step.excludes)} already "
                               f"(document {filed[step.excludes].linked_document_id}); it "
                               f"cannot have a {what} too.")
    if step.needs and step.needs not in filed:
        raise AmendmentRefused(f"Request {row.id} has no {LABELS[step.needs].lower()} yet; "
                               f"file that before the {what}.")
    if row.status not in step.statuses:
        raise AmendmentRefused(f"Request {row.id} is {row.status}; a {what} is filed only "
                               f"while it is {' or '.join(step.statuses)}.")
    return _amended_document(session, row)


def _decision(kind: str) -> str:
    return "accepted" if kind == AMENDMENT else "denied"


def _amended_document(session: Session, row: ReleaseRequest) -> Document:
    ids = row.asked.get("document_ids") or []
    if len(ids) != 1:
        raise BadRequest(f"Request {row.id} does not name the one document to amend; log the "
                         "amendment request again with that document's id.")
    document = get_document(session, ids[0])
    if document.patient_id not in {patient.id for patient in row.patients}:
        raise AmendmentRefused(f"Document {document.id} no longer belongs to the patient of "
                               f"request {row.id}; log the request again for its patient.")
    return document


def _about(row: ReleaseRequest, document: Document) -> letters.AmendedDocument:
    return letters.AmendedDocument(
        request_id=row.id, received=row.received, requester=row.requester_name,
        requester_address=row.requester_address, patient=document.patient.name,
        mrn=document.patient.mrn, document=describe(document))


def describe(document: Document) -> str:
    """How letters, packets and pages name a document."""
    return (f"Document {document.id}: {document.doc_type.replace('_', ' ')}"
            + (f", {document.date_of_service.isoformat()}" if document.date_of_service else ""))


def _decide(session: Session, principal: Principal, row: ReleaseRequest, target: str,
            reason: str) -> None:
    """Move the request to the decision its step records (unless the status form did so
    already), audited as any status change so the request's history shows it."""
    if row.status == target:
        return
    check_move(row, target, reason)
    before = row.status
    row.status, row.status_reason, row.updated_at = target, reason, utcnow()
    audit_request(session, principal, row, "request.status", reason=reason,
                  details={"from": before, "to": target})


# --- reading the links: the viewer, the API, packets, destruction ---------------------------


def amendment_state(session: Session, principal: Principal, request_id: int) -> dict:
    """What an amendment request has produced so far (audited, as reading the request)."""
    require(principal, VIEW)
    row = get_request(session, request_id)
    if row.request_type != AMENDMENT_REQUEST:
        raise AmendmentRefused(f"Request {row.id} is a {row.request_type} request, not an "
                               "amendment request.")
    audit_request(session, principal, row, "amendment.view")
    ids = row.asked.get("document_ids") or []
    return {"request": row.id, "status": row.status, "document": ids[0] if ids else None,
            "materials": [link_json(link) for link in row.amendment_links]}


def link_json(link: AmendmentLink) -> dict:
    return {"kind": link.kind, "label": LABELS[link.kind], "request": link.request_id,
            "document_id": link.document_id, "filed_document": link.linked_document_id,
            "filed_at": link.created_at.isoformat(), "filed_by": link.created_by}


def document_amendments(session: Session, document: Document) -> dict:
    """A DocumentSection: what was filed about this document (its amendment, or the denial,
    disagreement and rebuttal), and which document this one was filed about, if any."""
    links = session.scalars(
        select(AmendmentLink)
        .where(or_(AmendmentLink.document_id == document.id,
                   AmendmentLink.linked_document_id == document.id))
        .order_by(AmendmentLink.id)).all()
    return {"materials": [link_json(link) for link in links if link.document_id == document.id],
            "about": [link_json(link) for link in links
                      if link.linked_document_id == document.id]}


def amendment_materials(session: Session, document_id: int) -> list[tuple[int, str]]:
    """The documents filed about a document that go with it whenever it is released, in the
    order they were filed: (document id, what it is). Only the original's patient's own:
    a document moved to another patient since leaves its links behind."""
    original_patient = select(Document.patient_id).where(Document.id == document_id)
    links = session.scalars(
        select(AmendmentLink).join(Document, Document.id == AmendmentLink.linked_document_id)
        .where(AmendmentLink.document_id == document_id,
               Document.patient_id == original_patient.scalar_subquery())
        .order_by(AmendmentLink.id)).all()
    return [(link.linked_document_id,
             f"{LABELS[link.kind].lower()} of document {document_id} (request "
             f"{link.request_id})") for link in links]


def forget_links(session: Session, document: Document) -> None:
    """An Archive.document_erasers hook: a destroyed document takes its links with it."""
    for link in session.scalars(select(AmendmentLink).where(or_(
            AmendmentLink.document_id == document.id,
            AmendmentLink.linked_document_id == document.id))):
        session.delete(link)
    session.flush()

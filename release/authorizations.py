"""Signed authorizations: the legal basis of a request made under the patient's authorization
(45 CFR 164.508). The scan is filed as a document of the patient (type "authorization")
through the records' filing path, so it is checksummed, versioned, OCRed and indexed like any
scan; ``release_authorizations`` links it to the request with its expiry and any revocation.

Packets and releases of such a request call ``require_valid_authorization``: none on file, an
expired one or a revoked one stops them with a 409 saying what to do. A revocation stops what
comes after it; releases recorded before it stand (45 CFR 164.508(b)(5))."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.auth.permissions import Principal, require
from archive.errors import BadRequest, Conflict
from archive.interfaces import Upload
from archive.models import Document, Patient, utcnow
from archive.records.filing import add_document
from release.authorization_models import ReleaseAuthorization
from release.models import ReleaseRequest
from release.requests import MANAGE, VIEW, audit_request, get_request
from release.workflow import OPEN, TransitionRefused

AUTHORIZATION = "authorization"  # the legal basis, and the document type of the scan


class AuthorizationRequired(Conflict):
    """A request made under an authorization has no valid one: none, expired or revoked."""

    code = "authorization_required"


def attach_authorization(ext, principal: Principal, request_id: int, upload: Upload, *,
                         expires: date | None, signed: date | None = None,
                         mrn: str | None = None) -> tuple[str, ReleaseAuthorization]:
    """File the signed authorization's scan for the request's patient and link it to the
    request; whose it is (the MRN) and the link. Everything is checked before the scan is
    filed, so a refusal files nothing."""
    require(principal, MANAGE)
    expires = _checked_dates(expires, signed)
    with ext.db.transaction() as session:
        mrn = _patient_to_file_for(_attachable(session, request_id), mrn)
    filing = add_document(ext, principal, mrn=mrn, doc_type=AUTHORIZATION, upload=upload,
                          date_of_service=signed, permission=MANAGE)
    with ext.db.transaction() as session:
        # Checked again: the request may have closed while the scan was being filed. The
        # scan then stays filed in the chart, a true document of the patient, but unlinked.
        row = _attachable(session, request_id)
        link = ReleaseAuthorization(
            request_id=row.id, document_id=filing.version.document_id, signed_on=signed,
            expires_on=expires, attached_by=principal.username, revoke_reason="")
        session.add(link)
        session.flush()
        audit_request(session, principal, row, "request.authorization_attach",
                      details={"authorization": link.id, "document": link.document_id,
                               "patient": mrn,
                               "expires": expires.isoformat(),
                               "signed": signed.isoformat() if signed else None,
                               "duplicate": filing.duplicate})
        return mrn, link


def revoke_authorization(db, principal: Principal, request_id: int, *,
                         revoked_on: date | None, reason: str,
                         mrn: str | None = None) -> tuple[str, ReleaseAuthorization]:
    """Record that the patient revoked their authorization in force, from ``revoked_on``
    (``mrn`` says whose, when the request concerns several patients); whose and the link."""
    require(principal, MANAGE)
    reason = (reason or "").strip()
    if revoked_on is None:
        raise BadRequest("revoked_on is required: the date the patient's written revocation "
                         "reached the hospital, YYYY-MM-DD.")
    if revoked_on > date.today():
        raise BadRequest(f"revoked_on ({revoked_on.isoformat()}) is in the future; record a "
                         "revocation once it has been received.")
    if not reason:
        raise BadRequest("reason is required: say how the revocation came (for example: "
                         "patient's signed letter of revocation).")
    with db.transaction() as session:
        row = get_request(session, request_id)
        mrn = _patient_to_file_for(row, mrn)
        link = authorizations_in_force(session, row)[mrn]
        if link is None:
            raise Conflict(f"Request {request_id} has no authorization of patient {mrn} on "
                           "file to revoke.")
        if link.revoked_on is not None:
            raise Conflict(f"The authorization of patient {mrn} on request {request_id} was "
                           f"revoked already, on {link.revoked_on.isoformat()}.")
        if link.signed_on and revoked_on < link.signed_on:
            raise BadRequest(f"revoked_on ({revoked_on.isoformat()}) is before the "
                             f"authorization was signed ({link.signed_on.isoformat()}).")
        link.revoked_on, link.revoke_reason = revoked_on, reason
        link.revoked_by, link.revoked_at = principal.username, utcnow()
        audit_request(session, principal, row, "request.authorization_revoke", reason=reason,
                      details={"authorization": link.id, "document": link.document_id,
                               "patient": mrn, "revoked_on": revoked_on.isoformat()})
        return mrn, link


def view_authorizations(session: Session, principal: Principal,
                        request_id: int) -> dict[str, ReleaseAuthorization | None]:
    """Each patient's authorization in force on the request, audited like a view of it."""
    require(principal, VIEW)
    row = get_request(session, request_id)
    links = authorizations_in_force(session, row)
    audit_request(session, principal, row, "request.authorization_view",
                  details={"authorizations": [link.id for link in links.values() if link]})
    return links


def authorizations_in_force(session: Session,
                            row: ReleaseRequest) -> dict[str, ReleaseAuthorization | None]:
    """By MRN, each of the request's patients' latest authorization attached to it (a new
    signature replaces an expired or revoked one), or None. Each patient authorizes the
    release of their own records only, so a family's request needs one from each."""
    links = session.execute(select(Patient.mrn, ReleaseAuthorization)
                            .join(Document, Document.id == ReleaseAuthorization.document_id)
                            .join(Patient, Patient.id == Document.patient_id)
                            .where(ReleaseAuthorization.request_id == row.id)
                            .order_by(ReleaseAuthorization.id)).all()
    latest = dict(links)  # the later rows of a patient replace the earlier
    return {patient.mrn: latest.get(patient.mrn) for patient in row.patients}


def require_valid_authorization(session: Session, row: ReleaseRequest, on: date) -> None:
    """Refuse (409) a packet or release on ``on`` of a request made under an authorization
    unless each of its patients' is on file: attached, not expired by then, not revoked by
    then."""
    if row.legal_basis != AUTHORIZATION:
        return
    for mrn, link in authorizations_in_force(session, row).items():
        problem = _problem(link, on)
        if problem:
            whose = f"patient {mrn}'s authorization" if len(row.patients) > 1 else \
                "the patient's authorization"
            raise AuthorizationRequired(
                f"Request {row.id} is made under {whose}, and {problem}. Attach a valid "
                f"signed authorization (POST /api/v1/requests/{row.id}/authorization, or the "
                "request's page), or put the request on hold until the patient signs one.")


def _problem(link: ReleaseAuthorization | None, on: date) -> str | None:
    if link is None:
        return "no authorization is on file"
    if link.revoked_on is not None and link.revoked_on <= on:
        return f"it was revoked on {link.revoked_on.isoformat()}"
    if link.expires_on < on:
        return f"it expired on {link.expires_on.isoformat()}"
    return None


def _checked_dates(expires: date | None, signed: date | None) -> date:
    if expires is None:
        raise BadRequest("expires is required: the date the authorization expires, as written "
                         "on it (YYYY-MM-DD).")
    today = date.today()
    if signed and signed > today:
        raise BadRequest(f"signed ({signed.isoformat()}) is in the future; give the date on "
                         "the patient's signature.")
    if signed and expires < signed:
        raise BadRequest(f"expires ({expires.isoformat()}) is before signed "
                         f"({signed.isoformat()}); check the dates on the form.")
    if expires < today:
        raise BadRequest(f"This authorization expired on {expires.isoformat()}; it cannot "
                         "authorize a release. Ask the patient to sign a new one.")
    return expires


def _attachable(session: Session, request_id: int) -> ReleaseRequest:
    row = get_request(session, request_id)
    if row.legal_basis != AUTHORIZATION:
        raise Conflict(f"Request {request_id} is made under {row.legal_basis.replace('_', ' ')}"
                       ", not under an authorization; an authorization is attached only to "
                       "requests whose legal basis is authorization.")
    if row.status not in OPEN:
        raise TransitionRefused(f"Request {request_id} is {row.status}: an authorization is "
                                "attached only while the request is open.")
    return row


def _patient_to_file_for(row: ReleaseRequest, mrn: str | None) -> str:
    """Whose chart the scan goes into: the request's patient, or the one named when the
    request concerns several (each patient signs for their own records)."""
    mrns = [patient.mrn for patient in row.patients]
    if mrn:
        if mrn not in mrns:
            raise BadRequest(f"mrn: {mrn} is not a patient of request {row.id} "
                             f"({', '.join(mrns)}).")
        return mrn
    if len(mrns) > 1:
        raise BadRequest(f"mrn is required: request {row.id} concerns several patients "
                         f"({', '.join(mrns)}); say whose signed authorization this is.")
    return mrns[0]

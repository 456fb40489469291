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
from archive.models import utcnow
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
                         mrn: str | None = None) -> ReleaseAuthorization:
    """File the signed authorization's scan for the request's patient and link it to the
    request. Everything is checked before the scan is filed, so a refusal files nothing."""
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
                               "expires": expires.isoformat(),
                               "signed": signed.isoformat() if signed else None,
                               "duplicate": filing.duplicate})
        return link


def revoke_authorization(db, principal: Principal, request_id: int, *,
                         revoked_on: date | None, reason: str) -> ReleaseAuthorization:
    """Record that the patient revoked the authorization in force, from ``revoked_on``."""
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
        link = current_authorization(session, request_id)
        if link is None:
            raise Conflict(f"Request {request_id} has no authorization on file to revoke.")
        if link.revoked_on is not None:
            raise Conflict(f"The authorization of request {request_id} was revoked already, "
                           f"on {link.revoked_on.isoformat()}.")
        if link.signed_on and revoked_on < link.signed_on:
            raise BadRequest(f"revoked_on ({revoked_on.isoformat()}) is before the "
                             f"authorization was signed ({link.signed_on.isoformat()}).")
        link.revoked_on, link.revoke_reason = revoked_on, reason
        link.revoked_by, link.revoked_at = principal.username, utcnow()
        audit_request(session, principal, row, "request.authorization_revoke", reason=reason,
                      details={"authorization": link.id, "document": link.document_id,
                               "revoked_on": revoked_on.isoformat()})
        return link


def view_authorization(session: Session, principal: Principal,
                       request_id: int) -> ReleaseAuthorization | None:
    """The authorization in force on the request, audited like a view of the request."""
    require(principal, VIEW)
    row = get_request(session, request_id)
    link = current_authorization(session, request_id)
    audit_request(session, principal, row, "request.authorization_view",
                  details={"authorization": link.id if link else None})
    return link


def current_authorization(session: Session, request_id: int) -> ReleaseAuthorization | None:
    """The latest authorization attached to the request: a new signature replaces an
    expired or revoked one."""
    return session.scalar(select(ReleaseAuthorization)
                          .where(ReleaseAuthorization.request_id == request_id)
                          .order_by(ReleaseAuthorization.id.desc()).limit(1))


def require_valid_authorization(session: Session, row: ReleaseRequest, on: date) -> None:
    """Refuse (409) a packet or release on ``on`` of a request made under an authorization
    unless a valid one is on file: attached, not expired by then, not revoked by then."""
    if row.legal_basis != AUTHORIZATION:
        return
    link = current_authorization(session, row.id)
    what_to_do = (f"Attach a valid signed authorization to request {row.id} (POST "
                  f"/api/v1/requests/{row.id}/authorization, or the request's page), or put "
                  "the request on hold until the patient signs one.")
    if link is None:
        raise AuthorizationRequired(f"Request {row.id} is made under the patient's "
                                    f"authorization, and no authorization is on file. "
                                    f"{what_to_do}")
    if link.revoked_on is not None and link.revoked_on <= on:
        raise AuthorizationRequired(f"The authorization of request {row.id} was revoked on "
                                    f"{link.revoked_on.isoformat()}. {what_to_do}")
    if link.expires_on < on:
        raise AuthorizationRequired(f"The authorization of request {row.id} expired on "
                                    f"{link.expires_on.isoformat()}. {what_to_do}")


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

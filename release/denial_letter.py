"""The denial letter (issue 18): what the requester receives when a request is denied — the
request's number and date, the reason, and for a patient's right of access (45 CFR
164.524(d)(2)) the right to have the denial reviewed, how to complain to the hospital, and
how to complain to the Secretary of Health and Human Services. Reading the request for the
letter is audited like any download; release.denial_pdf draws it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from archive.auth.permissions import Principal, require
from release.requests import VIEW, audit_request, get_request
from release.workflow import DENIED, TransitionRefused

RIGHT_OF_ACCESS = "right_of_access"


@dataclass(frozen=True)
class DenialLetter:
    request_id: int
    dated: date  # the day of the denial: the same request always gives the same letter
    received: date
    recipient: str
    address: str
    patients: list[str]  # "NAME (MRN …)"
    reason: str
    right_of_access: bool  # the review and complaint rights of 164.524(d) apply
    contact: str  # whom at the hospital to ask or complain to


def denial_letter(session: Session, principal: Principal, request_id: int,
                  contact: str) -> DenialLetter:
    require(principal, VIEW)
    row = get_request(session, request_id)
    if row.status != DENIED:
        raise TransitionRefused(f"Request {request_id} is {row.status}, not denied: a denial "
                                "letter is written only for a denied request.")
    audit_request(session, principal, row, "request.denial_letter")
    return DenialLetter(
        request_id=row.id, dated=row.updated_at.date(), received=row.received,
        recipient=row.requester_name, address=row.requester_address,
        patients=[f"{patient.name} (MRN {patient.mrn})" for patient in row.patients],
        reason=row.status_reason, right_of_access=row.legal_basis == RIGHT_OF_ACCESS,
        contact=contact)

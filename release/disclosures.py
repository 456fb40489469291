"""Fulfilling a request records the release: the request becomes fulfilled and each of its
patients gets a disclosure row in the same transaction, so no release can go unrecorded in the
accounting of disclosures (45 CFR 164.528), and no accounting entry can exist without its
release. Web and API call these functions."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive import audit
from archive.audit import spreadsheet_safe
from archive.auth.permissions import Principal, require
from archive.auth.restricted import require_chart_access
from archive.errors import BadRequest
from archive.models import utcnow
from archive.records.patients import find_patient
from release.authorizations import require_valid_authorization
from release.clocks import accounting_window_start
from release.invoices import require_settled
from release.models import Disclosure, ReleaseRequest
from release.requests import MANAGE, VIEW, audit_request, check_move, get_request
from release.workflow import FULFILLED

# 45 CFR 164.528(a)(1): releases to the patient, for treatment, payment or health care
# operations, and under the patient's own authorization need not be accounted for.
EXEMPT_BASES = frozenset({"right_of_access", "tpo", "authorization"})


@dataclass(frozen=True)
class Recipient:
    name: str
    address: str = ""


def is_exempt(requester_kind: str, legal_basis: str) -> bool:
    return requester_kind == "patient" or legal_basis in EXEMPT_BASES


def fulfil_request(db, principal: Principal, request_id: int, *, description: str,
                   released: date | None = None,
                   recipient: Recipient | None = None) -> ReleaseRequest:
    """Mark an approved request fulfilled and record one disclosure per patient. The
    recipient is the requester unless the records went elsewhere (an attorney's client's
    new provider, say)."""
    require(principal, MANAGE)
    released = released or date.today()
    description = description.strip()
    if not description:
        raise BadRequest("description is required: the accounting must say briefly what was "
                         "disclosed.")
    if recipient is not None and not recipient.name.strip():
        raise BadRequest("recipient.name is required when a recipient is given.")
    with db.transaction() as session:
        row = get_request(session, request_id)
        require_settled(session, row)
        check_move(row, FULFILLED)
        _check_release_date(row, released)
        require_valid_authorization(session, row, released)
        to = recipient or Recipient(row.requester_name, row.requester_address)
        exempt = is_exempt(row.requester_kind, row.legal_basis)
        for patient in row.patients:
            session.add(Disclosure(
                patient_id=patient.id, request_id=row.id, disclosed_on=released,
                recipient_name=to.name.strip(), recipient_address=to.address.strip(),
                description=description, purpose=row.purpose, legal_basis=row.legal_basis,
                exempt=exempt, recorded_by=principal.username))
        before, row.status, row.status_reason = row.status, FULFILLED, ""
        row.updated_at = utcnow()
        audit_request(session, principal, row, "request.fulfil",
                      details={"from": before, "to": FULFILLED,
                               "released": released.isoformat(), "recipient": to.name,
                               "exempt": exempt})
        return row


@dataclass(frozen=True)
class Accounting:
    """A patient's accounting of disclosures over a period, newest first."""

    mrn: str
    patient_name: str
    date_from: date
    date_to: date
    disclosures: list[Disclosure]
    include_exempt: bool


def patient_disclosures(session: Session, principal: Principal, mrn: str, *,
                        date_from: date | None = None,
                        date_to: date | None = None) -> list[Disclosure]:
    """A patient's disclosures, exempt ones too (marked), newest first, over the accounting's
    six years unless a range is given. Audited as a view of the patient's data: it says who
    received their records."""
    return patient_accounting(session, principal, mrn, date_from=date_from, date_to=date_to,
                              include_exempt=True, form="json").disclosures


def patient_accounting(session: Session, principal: Principal, mrn: str, *,
                       date_from: date | None = None, date_to: date | None = None,
                       include_exempt: bool = False, form: str = "json") -> Accounting:
    """The accounting as the patient receives it: only accountable disclosures, since
    45 CFR 164.528(a)(1) leaves exempt ones out, unless ``include_exempt`` (internal review).
    Audited with its format: a CSV or PDF copy leaves the archive."""
    require(principal, VIEW)
    patient = find_patient(session, mrn)
    # Who received a restricted patient's records is part of that record.
    require_chart_access(session, principal, patient)
    date_from = date_from or accounting_window_start(date.today())
    if date_to and date_from > date_to:
        raise BadRequest("from must not be after to.")
    query = select(Disclosure).where(Disclosure.patient_id == patient.id,
                                     Disclosure.disclosed_on >= date_from)
    if date_to:
        query = query.where(Disclosure.disclosed_on <= date_to)
    if not include_exempt:
        query = query.where(Disclosure.exempt.is_(False))
    rows = list(session.scalars(query.order_by(Disclosure.disclosed_on.desc(),
                                               Disclosure.id.desc())))
    audit.record(session, principal.actor, "disclosures.view", patient_mrn=mrn,
                 details={"from": date_from.isoformat(),
                          "to": date_to.isoformat() if date_to else None,
                          "count": len(rows), "format": form,
                          "include_exempt": include_exempt})
    return Accounting(mrn=patient.mrn, patient_name=patient.name, date_from=date_from,
                      date_to=date_to or date.today(), disclosures=rows,
                      include_exempt=include_exempt)


CSV_HEADINGS = ("date", "recipient", "recipient address", "description", "purpose",
                "legal basis", "request")


def accounting_csv(accounting: Accounting) -> str:
    """The accounting as CSV with a heading row, every cell safe to open in a spreadsheet
    (a recipient or description may start with "=")."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    headings = CSV_HEADINGS + (("exempt",) if accounting.include_exempt else ())
    writer.writerow(headings)
    for row in accounting.disclosures:
        cells = [row.disclosed_on.isoformat(), row.recipient_name, row.recipient_address,
                 row.description, row.purpose, row.legal_basis, str(row.request_id)]
        if accounting.include_exempt:
            cells.append("yes" if row.exempt else "no")
        writer.writerow([spreadsheet_safe(cell) for cell in cells])
    return buffer.getvalue()


def _check_release_date(row: ReleaseRequest, released: date) -> None:
    if released > date.today():
        raise BadRequest(f"released ({released.isoformat()}) is in the future; give the date "
                         "the records went out.")
    if released < row.received:
        raise BadRequest(f"released ({released.isoformat()}) is before the request was "
                         f"received ({row.received.isoformat()}).")

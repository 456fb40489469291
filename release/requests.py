"""Requests for records: logging one, reading it, moving it through its workflow and extending
its due date. Web, API and (later) CLI call these functions; each change is audited in the
transaction that makes it, so the trail and the request cannot disagree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive import audit
from archive.auth.permissions import Principal, require
from archive.errors import BadRequest, NotFound
from archive.models import Document, User, utcnow
from archive.records.patients import find_patient
from release.clocks import REQUEST_TYPES, Clock, clock_name, due_date, extended_due_date
from release.models import ReleaseRequest
from release.terms import LEGAL_BASES, REQUESTER_KINDS
from release.workflow import (
    AMENDMENT_REQUEST,
    FULFILLED,
    LOGGED,
    ON_HOLD,
    OPEN,
    TransitionRefused,
    allowed_next,
    check_transition,
)

MANAGE, VIEW = "release.manage", "release.view"


@dataclass(frozen=True)
class Requester:
    kind: str
    name: str
    address: str = ""
    contact: str = ""
    claim_number: str = ""  # a payer's claim under appeal or audit


@dataclass(frozen=True)
class Asked:
    """What the requester asks for: the complete chart, or documents by type, date of service
    and id (any combination)."""

    complete_chart: bool = False
    types: list[str] = field(default_factory=list)
    date_from: date | None = None
    date_to: date | None = None
    document_ids: list[int] = field(default_factory=list)

    def as_json(self) -> dict:
        return {"complete_chart": self.complete_chart, "types": self.types,
                "from": _iso(self.date_from), "to": _iso(self.date_to),
                "document_ids": self.document_ids}


def log_request(db, principal: Principal, clocks: Mapping[str, Clock], *, mrns: list[str],
                requester: Requester, legal_basis: str, received: date, asked: Asked,
                request_type: str = "records", purpose: str = "",
                assignee: str | None = None) -> ReleaseRequest:
    require(principal, MANAGE)
    _check_terms(requester, legal_basis, request_type, received, asked)
    with db.transaction() as session:
        patients = [find_patient(session, mrn) for mrn in dict.fromkeys(mrns)]
        _check_documents(session, asked.document_ids, {p.id for p in patients})
        if assignee:
            _check_assignee(session, assignee)
        first_due = due_date(received, clocks[clock_name(request_type, legal_basis)])
        row = ReleaseRequest(
            request_type=request_type, legal_basis=legal_basis, requester_kind=requester.kind,
            requester_name=requester.name, requester_address=requester.address,
            requester_contact=requester.contact, claim_number=requester.claim_number,
            asked=asked.as_json(), purpose=purpose, received=received, assignee=assignee or None,
            status=LOGGED, status_reason="", due=first_due, notice_deadline=first_due,
            extension_reason="", created_by=principal.username, patients=patients)
        session.add(row)
        session.flush()
        # Read now, inside the transaction: the answer states the next statuses after it.
        next_statuses(row)
        audit_request(session, principal, row, "request.log",
               details={"legal_basis": legal_basis, "requester_kind": requester.kind,
                        "request_type": request_type, "due": first_due.isoformat()})
        return row


def view_request(session: Session, principal: Principal, request_id: int) -> ReleaseRequest:
    """The request; audited, since it says whose records someone asked for."""
    require(principal, VIEW)
    row = get_request(session, request_id)
    audit_request(session, principal, row, "request.view")
    return row


def change_status(db, principal: Principal, request_id: int, target: str,
                  reason: str = "") -> ReleaseRequest:
    require(principal, MANAGE)
    if target == FULFILLED:
        # A release must leave its disclosures behind; only fulfil_request records them.
        raise BadRequest("status: a request becomes fulfilled only by recording its release "
                         "(fulfil), which writes the patient's accounting of disclosures.")
    with db.transaction() as session:
        row = get_request(session, request_id)
        before = row.status
        check_move(row, target, reason)
        row.held_from = row.status if target == ON_HOLD else None
        row.status = target
        row.status_reason = reason.strip()
        row.updated_at = utcnow()
        audit_request(session, principal, row, "request.status", reason=row.status_reason,
               details={"from": before, "to": target})
        return row


def extend_request(db, principal: Principal, clocks: Mapping[str, Clock], request_id: int, *,
                   notice_sent: date, reason: str) -> ReleaseRequest:
    """Move the due date by the clock's one extension; the written notice to the requester
    (its date, and the reason it gave) must have gone out inside the first period."""
    require(principal, MANAGE)
    if not reason.strip():
        raise BadRequest("reason is required: the notice must tell the requester why the "
                         "request needs more time.")
    with db.transaction() as session:
        row = get_request(session, request_id)
        if row.status not in OPEN:
            raise TransitionRefused(
                f"A request that is {row.status} is no longer open and cannot be extended.")
        clock = clocks[clock_name(row.request_type, row.legal_basis)]
        before = row.due
        row.due = extended_due_date(row.received, clock,
                                    already_extended=row.extension_notice_sent is not None,
                                    notice_sent=notice_sent)
        row.extension_notice_sent = notice_sent
        row.extension_reason = reason.strip()
        row.updated_at = utcnow()
        audit_request(session, principal, row, "request.extend", reason=row.extension_reason,
               details={"from": before.isoformat(), "to": row.due.isoformat(),
                        "notice_sent": notice_sent.isoformat()})
        return row


def _check_terms(requester: Requester, legal_basis: str, request_type: str, received: date,
                 asked: Asked) -> None:
    """The rules the API's schema states too, for callers that are not the API."""
    for name, value, allowed in (("requester.kind", requester.kind, REQUESTER_KINDS),
                                 ("legal_basis", legal_basis, LEGAL_BASES),
                                 ("request_type", request_type, REQUEST_TYPES)):
        if value not in allowed:
            raise BadRequest(f"{name} must be one of {', '.join(allowed)}, not {value!r}.")
    if not requester.name.strip():
        raise BadRequest("requester.name is required: whom the records would go to.")
    if received > date.today():
        raise BadRequest(f"received ({received.isoformat()}) is in the future; give the date "
                         "the request reached the hospital.")
    if asked.date_from and asked.date_to and asked.date_from > asked.date_to:
        raise BadRequest("documents.from must not be after documents.to.")
    if request_type == "amendment" and len(set(asked.document_ids)) != 1:
        # 45 CFR 164.526: the patient asks to amend something in particular; accepting or
        # denying it files documents linked to that one (release.amendments).
        raise BadRequest("documents.document_ids: an amendment request names the one "
                         "document the patient asks to amend; give its id, alone.")


def _check_documents(session: Session, ids: list[int], patient_ids: set[int]) -> None:
    if not ids:
        return
    found = dict(session.execute(
        select(Document.id, Document.patient_id).where(Document.id.in_(ids))).all())
    outside = [i for i in ids if found.get(i) not in patient_ids]
    if outside:
        raise BadRequest(f"documents.document_ids: {', '.join(map(str, outside))} are not "
                         "documents of the request's patients.")


def _check_assignee(session: Session, username: str) -> None:
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        raise BadRequest(f"assignee: no active user is named {username!r}.")


def next_statuses(row: ReleaseRequest) -> tuple[str, ...]:
    """Where the request may move next (release.workflow), for pages and the API."""
    return allowed_next(row.status, row.held_from, row.request_type, amendment_filed(row))


def check_move(row: ReleaseRequest, target: str, reason: str = "") -> None:
    """Refuse a move the workflow does not allow this request now (release.workflow)."""
    check_transition(row.status, row.held_from, target, reason, row.request_type,
                     amendment_filed(row))


def amendment_filed(row: ReleaseRequest) -> bool:
    """Whether an amendment request's accepted amendment is filed, which lets it close. The
    links are release.amendment_models' (a backref it puts on the request when the app
    loads release), read only for an amendment request."""
    if row.request_type != AMENDMENT_REQUEST:
        return False
    return any(link.kind == "amendment" for link in row.amendment_links)


def get_request(session: Session, request_id: int) -> ReleaseRequest:
    row = session.get(ReleaseRequest, request_id)
    if row is None:
        raise NotFound(f"No request {request_id} is logged.")
    return row


def audit_request(session: Session, principal: Principal, row: ReleaseRequest, action: str, *,
           reason: str = "", details: dict | None = None) -> None:
    mrns = [p.mrn for p in row.patients]
    audit.record(session, principal.actor, action, patient_mrn=mrns[0] if mrns else None,
                 reason=reason, details={"request": row.id, "patients": mrns, **(details or {})})


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None

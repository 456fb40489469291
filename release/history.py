"""A request's status history, read back from the audit trail: every change of a request is
audited in the transaction that makes it, so the trail is the history and no second record
can disagree with it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.models import AuditEvent
from release.models import ReleaseRequest

CHANGES = ("request.log", "request.status", "request.extend", "request.fulfil")


def request_history(session: Session, row: ReleaseRequest) -> list[AuditEvent]:
    """The request's changes, oldest first. Events are narrowed by the request's first patient
    (an indexed column) before their details are read, since JSON is not queried alike by
    both databases."""
    mrns = [patient.mrn for patient in row.patients]
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action.in_(CHANGES), AuditEvent.patient_mrn == mrns[0])
        .order_by(AuditEvent.seq))
    return [event for event in events if (event.details or {}).get("request") == row.id]

"""A patient's access report: every time someone broke the glass to open the patient's
restricted chart, who, when, the reason they gave, and what they did in the chart while the
access lasted, read back from the audit trail (issue 18 item 4: these accesses are reported
apart from the accounting of disclosures, which lists releases outside the hospital).

Compliance produces it (``break_glass.review``, the role that reviews these accesses): it
names colleagues and their reasons, which release staff, who break the glass themselves,
should not read about one another. Producing it is audited like any view of the patient."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive import audit
from archive.audit import spreadsheet_safe
from archive.auth.permissions import Principal, require
from archive.models import AuditEvent
from archive.records.patients import find_patient

REVIEW = "break_glass.review"
BREAK_GLASS = "patient.break_glass"


@dataclass(frozen=True)
class Opened:
    """One thing done in the chart during an emergency access."""

    ts: datetime
    action: str
    document_id: int | None
    version_number: int | None


@dataclass(frozen=True)
class EmergencyAccess:
    user: str
    source: str
    granted_at: datetime
    expires_at: datetime
    reason: str
    opened: list[Opened]


@dataclass(frozen=True)
class AccessReport:
    mrn: str
    patient_name: str
    accesses: list[EmergencyAccess]


def access_report(session: Session, principal: Principal, mrn: str, *,
                  form: str = "json") -> AccessReport:
    """The patient's emergency accesses, oldest first; audited with its format."""
    require(principal, REVIEW)
    patient = find_patient(session, mrn)
    grants = session.scalars(select(AuditEvent).where(AuditEvent.action == BREAK_GLASS,
                                                      AuditEvent.patient_mrn == patient.mrn)
                             .order_by(AuditEvent.seq)).all()
    accesses = [_access(session, patient.mrn, event) for event in grants]
    audit.record(session, principal.actor, "patient.access_report", patient_mrn=patient.mrn,
                 details={"accesses": len(accesses), "format": form})
    return AccessReport(patient.mrn, patient.name, accesses)


def _access(session: Session, mrn: str, grant: AuditEvent) -> EmergencyAccess:
    """One break-the-glass event, and the same user's events on the chart while it lasted."""
    expires_at = datetime.fromisoformat(grant.details["expires_at"])
    events = session.scalars(select(AuditEvent).where(
        AuditEvent.patient_mrn == mrn, AuditEvent.actor == grant.actor,
        AuditEvent.seq > grant.seq, AuditEvent.ts < expires_at,
        AuditEvent.outcome == "success", AuditEvent.action != BREAK_GLASS)
        .order_by(AuditEvent.seq)).all()
    return EmergencyAccess(
        user=grant.actor, source=grant.source, granted_at=grant.ts, expires_at=expires_at,
        reason=grant.reason,
        opened=[Opened(e.ts, e.action, e.document_id, e.version_number) for e in events])


CSV_HEADINGS = ("user", "source", "granted at (UTC)", "expires at (UTC)", "reason",
                "opened at (UTC)", "action", "document", "version")


def access_report_csv(report: AccessReport) -> str:
    """One line per thing opened (an access in which nothing was opened gets one line of its
    own), every cell safe to open in a spreadsheet: a reason may start with "="."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADINGS)
    for access in report.accesses:
        head = [access.user, access.source, access.granted_at.isoformat(),
                access.expires_at.isoformat(), access.reason]
        for item in access.opened or [None]:
            tail = ["", "", "", ""] if item is None else [
                item.ts.isoformat(), item.action, _text(item.document_id),
                _text(item.version_number)]
            writer.writerow([spreadsheet_safe(cell) for cell in head + tail])
    return buffer.getvalue()


def access_json(access: EmergencyAccess) -> dict:
    return {"user": access.user, "source": access.source,
            "granted_at": access.granted_at.isoformat(),
            "expires_at": access.expires_at.isoformat(), "reason": access.reason,
            "opened": [{"ts": item.ts.isoformat(), "action": item.action,
                        "document_id": item.document_id, "version": item.version_number}
                       for item in access.opened]}


def _text(value) -> str:
    return "" if value is None else str(value)

"""Restricted charts and breaking the glass: the one rule deciding who may open a restricted
patient's record, the time-limited grants that open it, and compliance's review of them.

The records and ingestion services call ``require_chart_access`` wherever patient content is
read, so web, API and CLI follow the same rule; search calls ``granted_patient_ids`` to let
the documents of granted patients into its results.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from archive import audit
from archive.auth.permissions import SYSTEM_ROLE, Principal, require
from archive.errors import BadRequest, Conflict, NotFound, PermissionDenied, RestrictedRecord
from archive.models import AccessGrant, Patient, User, utcnow
from archive.params import Paging

MIN_REASON_LENGTH = 10
REVIEW_PAGE_SIZE = 25


def _in_force(now: datetime):
    return and_(AccessGrant.granted_at <= now, AccessGrant.expires_at > now)


def grant_in_force(
    session: Session, principal: Principal, patient: Patient, now: datetime | None = None
) -> AccessGrant | None:
    """The principal's grant in force to this restricted chart (the one lasting longest),
    or None; an unrestricted chart needs no grant and has none."""
    if not patient.restricted:
        return None
    return session.scalars(
        select(AccessGrant)
        .where(
            AccessGrant.user_id == principal.user_id,
            AccessGrant.patient_id == patient.id,
            _in_force(now or utcnow()),
        )
        .order_by(AccessGrant.expires_at.desc())
        .limit(1)
    ).first()


def require_chart_access(
    session: Session,
    principal: Principal,
    patient: Patient,
    *,
    document_id: int | None = None,
    now: datetime | None = None,
) -> None:
    """Refuse, audited, to open a restricted patient's record without a grant in force.
    The system role (the CLI, the hot folder) passes: it holds the database already.

    Call it before the caller's transaction writes anything: the refusal is recorded in a
    transaction of its own, which must not wait on the caller's locks."""
    if not patient.restricted or principal.role == SYSTEM_ROLE:
        return
    if grant_in_force(session, principal, patient, now) is not None:
        return
    _record_refusal(session, principal, patient, document_id)
    raise RestrictedRecord(patient.mrn)


def _record_refusal(
    session: Session, principal: Principal, patient: Patient, document_id: int | None
) -> None:
    # The caller's transaction rolls back as the refusal propagates; this event must stay.
    # Its info carries the audit key (archive.db) to the new session.
    with Session(session.get_bind(), info=session.info) as own, own.begin():
        audit.record(
            own,
            principal.actor,
            "chart.restricted_refused",
            outcome="refused",
            patient_mrn=patient.mrn,
            document_id=document_id,
        )


def granted_patient_ids(
    session: Session, principal: Principal, now: datetime | None = None
) -> frozenset[int]:
    """The patients whose restricted charts the principal may open now."""
    return frozenset(
        session.scalars(
            select(AccessGrant.patient_id).where(
                AccessGrant.user_id == principal.user_id, _in_force(now or utcnow())
            )
        )
    )


def break_glass(
    session: Session,
    principal: Principal,
    mrn: str,
    reason: str,
    *,
    minutes: int,
    now: datetime | None = None,
) -> AccessGrant:
    """Open a restricted chart to the principal for ``minutes`` (CHARTVAULT_BREAK_GLASS_MINUTES)
    for the reason given. Audited, and reviewed afterwards by compliance."""
    require(principal, "chart.break_glass")
    patient = _restricted_patient(session, mrn)
    reason = _meaningful_reason(reason)
    now = now or utcnow()
    grant = AccessGrant(
        user_id=principal.user_id,
        patient_id=patient.id,
        reason=reason,
        granted_at=now,
        expires_at=now + timedelta(minutes=minutes),
        review_comment="",
    )
    session.add(grant)
    session.flush()
    audit.record(
        session,
        principal.actor,
        "patient.break_glass",
        patient_mrn=mrn,
        reason=reason,
        details={"grant": grant.id, "expires_at": grant.expires_at.isoformat()},
    )
    return grant


def _restricted_patient(session: Session, mrn: str) -> Patient:
    patient = session.scalar(select(Patient).where(Patient.mrn == mrn))
    if patient is None:
        raise NotFound(f"No patient with MRN {mrn} is registered.")
    if not patient.restricted:
        # A grant would open nothing, and would only add noise to compliance's review.
        raise BadRequest(f"The record of patient {mrn} is not restricted; open it directly.")
    return patient


def _meaningful_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if len(" ".join(reason.split())) < MIN_REASON_LENGTH:
        raise BadRequest(
            f"Say why you need this restricted record now, in at least {MIN_REASON_LENGTH} "
            "characters (for example: ED admission, patient unconscious). Compliance reviews "
            "every reason."
        )
    return reason


# --- review by compliance ---------------------------------------------------------------------


@dataclass(frozen=True)
class GrantRow:
    id: int
    username: str
    mrn: str
    reason: str
    granted_at: datetime
    expires_at: datetime
    in_force: bool
    reviewed_at: datetime | None
    reviewed_by: str | None
    review_comment: str


@dataclass(frozen=True)
class GrantList:
    """One page of grants, and the counts the page header needs."""

    total: int
    unreviewed: int
    rows: list[GrantRow]


def grants_to_review(
    session: Session, principal: Principal, page: int = 1, now: datetime | None = None
) -> GrantList:
    """Every grant, the unreviewed first, oldest first within each, a page at a time."""
    require(principal, "break_glass.review")
    now = now or utcnow()
    total = session.scalar(select(func.count(AccessGrant.id)))
    unreviewed = session.scalar(
        select(func.count(AccessGrant.id)).where(AccessGrant.reviewed_at.is_(None))
    )
    rows = session.execute(Paging(page, REVIEW_PAGE_SIZE).rows_of(
        select(AccessGrant, User.username, Patient.mrn)
        .join(User, User.id == AccessGrant.user_id)
        .join(Patient, Patient.id == AccessGrant.patient_id)
        .order_by(AccessGrant.reviewed_at.is_not(None), AccessGrant.granted_at, AccessGrant.id)
    )).all()
    return GrantList(
        total, unreviewed, [_grant_row(grant, user, mrn, now) for grant, user, mrn in rows]
    )


def _grant_row(grant: AccessGrant, username: str, mrn: str, now: datetime) -> GrantRow:
    return GrantRow(
        id=grant.id,
        username=username,
        mrn=mrn,
        reason=grant.reason,
        granted_at=grant.granted_at,
        expires_at=grant.expires_at,
        in_force=grant.granted_at <= now < grant.expires_at,
        reviewed_at=grant.reviewed_at,
        reviewed_by=grant.reviewed_by,
        review_comment=grant.review_comment,
    )


def review_grant(
    session: Session,
    principal: Principal,
    grant_id: int,
    comment: str,
    now: datetime | None = None,
) -> AccessGrant:
    """Compliance has looked at an emergency access and says what it found (audited)."""
    require(principal, "break_glass.review")
    comment = (comment or "").strip()
    if not comment:
        raise BadRequest("Say what you checked (for example: confirmed with the ED roster).")
    grant = session.get(AccessGrant, grant_id)
    if grant is None:
        raise NotFound(f"No emergency access with id {grant_id}.")
    if grant.reviewed_at is not None:
        raise Conflict(f"This emergency access was already reviewed by {grant.reviewed_by}.")
    if grant.user_id == principal.user_id:
        raise PermissionDenied(
            "You cannot review your own emergency access; another compliance officer must."
        )
    grant.reviewed_at = now or utcnow()
    grant.reviewed_by = principal.username
    grant.review_comment = comment
    audit.record(
        session,
        principal.actor,
        "break_glass.review",
        patient_mrn=grant.patient.mrn,
        reason=comment,
        details={"grant": grant.id, "user": grant.user.username},
    )
    return grant

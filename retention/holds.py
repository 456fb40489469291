"""Legal holds: placing and releasing them, and the one rule that refuses any change to a held
document. Web, API and CLI call these functions; the archive core asks ``refuse_if_held``
through ``Archive.change_guards`` before a new version, a metadata edit or a reassignment, and
disposition asks it before destroying anything.

The database decides; the object stores' flags follow it (backup.hold_sync, through
Archive.hold_listeners).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive import audit
from archive.audit import Actor
from archive.auth.permissions import Principal, require
from archive.errors import (
    BadRequest,
    Conflict,
    DocumentOnHold,
    NotFound,
    UnknownPatient,
)
from archive.models import Document, Patient, utcnow
from archive.params import Paging
from retention.hold_scope import (
    Scope,
    count_covered,
    covered_documents,
    holds_covering,
    in_force,
    parse_scope,
    scope_of,
)
from retention.models import LegalHold

if TYPE_CHECKING:
    from archive.extensions import Archive

# The columns' sizes (retention.models.LegalHold), checked here so the message is a clear one.
NAME_LENGTH = ISSUER_LENGTH = CONTACT_LENGTH = 200
COVERED_PAGE_SIZE = 25

# The actions disposition asks about, worded to complete "it cannot be ...".
DELETE, DISPOSE = "deleted", "disposed of"


def place_hold(
    ext: Archive,
    principal: Principal,
    *,
    name: str,
    reason: str,
    issuer: str = "",
    contact: str,
    scope: object,
) -> LegalHold:
    """Put a hold in force (audited), then flag the covered documents' objects in the store."""
    require(principal, "hold.manage")
    fields = _hold_fields(name, reason, issuer, contact)
    parsed = parse_scope(scope)
    with ext.db.transaction() as session:
        _require_existing(session, parsed)
        hold = LegalHold(
            **fields,
            scope=parsed.as_json(),
            placed_by=principal.username,
            placed_at=utcnow(),
            release_reason="",
        )
        session.add(hold)
        session.flush()
        audit.record(
            session,
            principal.actor,
            "hold.place",
            reason=hold.reason,
            details={
                "hold": hold.id,
                "name": hold.name,
                "issuer": hold.issuer,
                "contact": hold.contact,
                "scope": hold.scope,
                "covered_documents": count_covered(session, hold),
            },
        )
    for listener in ext.hold_listeners:
        listener(hold)
    return hold


def release_hold(ext: Archive, principal: Principal, hold_id: int, reason: str) -> LegalHold:
    """End a hold (audited, with who, when and why), then clear the store's flags wherever no
    other hold in force still covers the document."""
    require(principal, "hold.manage")
    reason = (reason or "").strip()
    if not reason:
        raise BadRequest(
            "Say why the hold is released (e.g. case settled, counsel's letter of 3 March); "
            "it is kept with the hold and in the audit trail."
        )
    with ext.db.transaction() as session:
        hold = _get_hold(session, hold_id)
        if hold.released_at is not None:
            raise Conflict(
                f"Legal hold '{hold.name}' was already released by {hold.released_by} on "
                f"{hold.released_at:%Y-%m-%d}."
            )
        hold.released_by = principal.username
        hold.released_at = utcnow()
        hold.release_reason = reason
        audit.record(
            session,
            principal.actor,
            "hold.release",
            reason=reason,
            details={"hold": hold.id, "name": hold.name},
        )
    for listener in ext.hold_listeners:
        listener(hold)
    return hold


def refuse_if_held(session: Session, document: Document, action: str, actor: Actor) -> None:
    """Raise ``DocumentOnHold`` (naming each hold and its contact) when a hold in force covers
    the document, after auditing the refused attempt. ``action`` completes "it cannot be ..."
    (records.changes.NEW_VERSION, EDIT, REASSIGN; DELETE, DISPOSE here).

    Call it before the caller's transaction writes anything: the refusal is recorded in a
    transaction of its own, which must not wait on the caller's locks."""
    holds = holds_covering(session, document)
    if not holds:
        return
    refusal = DocumentOnHold(document.id, [(hold.name, hold.contact) for hold in holds], action)
    _record_refusal(session, actor, document, holds, action, refusal)
    raise refusal


def _record_refusal(
    session: Session,
    actor: Actor,
    document: Document,
    holds: list[LegalHold],
    action: str,
    refusal: DocumentOnHold,
) -> None:
    # The caller's transaction rolls back as the refusal propagates; this event must stay.
    # Its info carries the audit key (archive.db) to the new session.
    with Session(session.get_bind(), info=session.info) as own, own.begin():
        audit.record_about(
            own, actor, "hold.refused", document,
            outcome="refused",
            reason=refusal.message,
            details={"attempt": action, "holds": [hold.id for hold in holds]},
        )


# --- reading holds --------------------------------------------------------------------------


@dataclass(frozen=True)
class HoldRow:
    hold: LegalHold
    scope: list[tuple[str, str]]
    covered: int  # documents in its scope now

    @property
    def in_force(self) -> bool:
        return self.hold.released_at is None


@dataclass(frozen=True)
class CoveredPage:
    """One page of the documents a hold covers."""

    row: HoldRow
    page: int
    pages: int
    documents: list[tuple[Document, str]]  # (document, MRN)


def list_holds(session: Session, principal: Principal) -> list[HoldRow]:
    """Every hold, those in force first, the newest first within each."""
    require(principal, "hold.manage")
    holds = session.scalars(
        select(LegalHold).order_by(
            in_force().desc(), LegalHold.placed_at.desc(), LegalHold.id.desc()
        )
    )
    return [_row(session, hold) for hold in holds]


def hold_with_documents(
    session: Session, principal: Principal, hold_id: int, page: int = 1
) -> CoveredPage:
    """A hold and one page of the documents it covers now."""
    require(principal, "hold.manage")
    row = _row(session, _get_hold(session, hold_id))
    paging = Paging(max(page, 1), COVERED_PAGE_SIZE).within(row.covered)
    documents = session.execute(paging.rows_of(
        covered_documents(row.hold)
        .add_columns(Patient.mrn)
        .join(Patient, Patient.id == Document.patient_id)
    )).all()
    return CoveredPage(row, paging.page, paging.pages(row.covered),
                       [(document, mrn) for document, mrn in documents])


def document_holds(session: Session, document: Document) -> list[dict]:
    """The holds in force on a document, as its page and GET /api/v1/documents/<id> show
    them: enough to know why a change is refused and whom to ask."""
    return [
        {
            "id": hold.id,
            "name": hold.name,
            "issuer": hold.issuer,
            "contact": hold.contact,
            "placed_at": hold.placed_at.isoformat(),
        }
        for hold in holds_covering(session, document)
    ]


def hold_json(row: HoldRow) -> dict:
    hold = row.hold
    return {
        "id": hold.id,
        "name": hold.name,
        "reason": hold.reason,
        "issuer": hold.issuer,
        "contact": hold.contact,
        "scope": hold.scope,
        "in_force": row.in_force,
        "covered_documents": row.covered,
        "placed_by": hold.placed_by,
        "placed_at": hold.placed_at.isoformat(),
        "released_by": hold.released_by,
        "released_at": hold.released_at.isoformat() if hold.released_at else None,
        "release_reason": hold.release_reason or None,
    }


def hold_row(session: Session, principal: Principal, hold_id: int) -> HoldRow:
    require(principal, "hold.manage")
    return _row(session, _get_hold(session, hold_id))


def _row(session: Session, hold: LegalHold) -> HoldRow:
    return HoldRow(hold, scope_of(hold).described(), count_covered(session, hold))


def _get_hold(session: Session, hold_id: int) -> LegalHold:
    hold = session.get(LegalHold, hold_id)
    if hold is None:
        raise NotFound(f"No legal hold with id {hold_id}.")
    return hold


# --- checking what a placement is given ---------------------------------------------------


def _hold_fields(name: str, reason: str, issuer: str, contact: str) -> dict:
    fields = {
        "name": _one_line(name, "name", NAME_LENGTH),
        "reason": (reason or "").strip(),
        "issuer": _one_line(issuer, "issuer", ISSUER_LENGTH),
        "contact": _one_line(contact, "contact", CONTACT_LENGTH),
    }
    if not fields["name"]:
        raise BadRequest("Name the hold after its matter, e.g. 'Smith v. Mercy General'.")
    if not fields["reason"]:
        raise BadRequest("Say why the records must be kept (e.g. litigation expected).")
    if not fields["contact"]:
        raise BadRequest(
            "Give a contact (name, department, extension): whoever is refused a change to a "
            "held document is told to call them."
        )
    return fields


def _one_line(value: str | None, field: str, limit: int) -> str:
    text = " ".join((value or "").split())
    if len(text) > limit:
        raise BadRequest(f"The {field} is longer than {limit} characters; shorten it.")
    return text


def _require_existing(session: Session, scope: Scope) -> None:
    """The MRNs and documents named in the scope must exist: a typo would silently hold
    nothing, and nobody would notice until the records were gone."""
    if scope.mrns:
        known = set(session.scalars(select(Patient.mrn).where(Patient.mrn.in_(scope.mrns))))
        if unknown := [mrn for mrn in scope.mrns if mrn not in known]:
            raise UnknownPatient(
                f"No patient with MRN {', '.join(unknown)} is registered; check the number."
            )
    if scope.document_ids:
        known = set(session.scalars(select(Document.id).where(Document.id.in_(scope.document_ids))))
        if unknown := [str(i) for i in scope.document_ids if i not in known]:
            raise BadRequest(f"There is no document {', '.join(unknown)}; check the number.")

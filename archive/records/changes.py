"""What every change to a filed record must bring (a reason) and who may veto it (the
packages' change guards, e.g. retention's legal holds)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from archive.auth.permissions import Principal
from archive.errors import BadRequest
from archive.models import Document

if TYPE_CHECKING:
    from archive.extensions import Archive

# The changes a package may veto (Archive.change_guards), worded to complete "it cannot be ...".
NEW_VERSION, EDIT, REASSIGN = "given a new version", "edited", "moved to another patient"
PATIENT_EDIT = "changed through its patient's details"


def refuse_if_guarded(
    ext: Archive, session: Session, principal: Principal, document: Document, action: str
) -> None:
    """Let the packages veto a change (retention: a legal hold) before anything is written."""
    for guard in ext.change_guards:
        guard(session, document, action, principal.actor)


def required_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise BadRequest("Give the reason for this change; it is kept in the audit trail.")
    return reason

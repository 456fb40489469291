"""Who may read a document's pages (the page images and the text read from them).

Staff and compliance read any chart they may open (``document.read``; restricted charts still
need the glass broken). Clerks read only the documents in their work (``document.read_work``):
those they filed in the last WORK_DAYS days, and those a package hands them as work — the QC
queue, whose flags tell them to check the text against the scan (``Archive.work_queues``).
Administrators read none: they run the system, not the charts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive import audit
from archive.auth.permissions import Principal, can, require
from archive.errors import PermissionDenied
from archive.models import Document, DocumentVersion, utcnow

if TYPE_CHECKING:
    from archive.extensions import Archive

WORK_DAYS = 7


def _filed_recently(session: Session, principal: Principal, document: Document,
                    now: datetime) -> bool:
    return session.scalar(
        select(DocumentVersion.id).where(
            DocumentVersion.document_id == document.id,
            DocumentVersion.created_by_id == principal.user_id,
            DocumentVersion.created_at >= now - timedelta(days=WORK_DAYS),
        ).limit(1)
    ) is not None


def may_read_pages(ext: Archive, session: Session, principal: Principal, document: Document,
                   now: datetime | None = None) -> bool:
    if can(principal.role, "document.read"):
        return True
    if not can(principal.role, "document.read_work") or principal.user_id is None:
        return False
    return _filed_recently(session, principal, document, now or utcnow()) or any(
        in_queue(session, document.id) for in_queue in ext.work_queues
    )


def require_page_access(ext: Archive, session: Session, principal: Principal,
                        document: Document) -> None:
    require(principal, "document.read_work")
    if not may_read_pages(ext, session, principal, document):
        audit.record_now(ext.db, principal.actor, "access.denied", outcome="refused",
                         patient_mrn=document.patient.mrn, document_id=document.id,
                         details={"why": "not in the clerk's work"})
        raise PermissionDenied(
            f"Clerks open the pages of the documents in their work: those in the QC queue and "
            f"those they filed in the last {WORK_DAYS} days. Document {document.id} is neither."
        )

"""What the ingestion pages and API ask of the database: processing status, the QC queue,
reviewing a flag, retrying a failed document. One function per business rule."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive import audit
from archive.auth.permissions import Principal, require
from archive.auth.restricted import require_chart_access
from archive.auth.work import require_page_access
from archive.errors import BadRequest, Conflict, NotFound
from archive.models import Document, Patient, utcnow
from archive.params import Paging
from archive.records.reading import audited_download, get_version
from ingest import queue
from ingest.models import Derivative, Job, QcFlag
from ingest.qc import KIND_LABELS

QC_PAGE_SIZE = 25


@dataclass(frozen=True)
class Processing:
    """Where a document is in the pipeline, for the live progress display."""

    document_id: int
    status: str  # the document's: queued, processing, ready, failed
    pages_done: int
    pages_total: int | None
    error: str
    job_id: int | None

    def as_json(self) -> dict:
        return {
            "id": self.document_id,
            "status": self.status,
            "pages_done": self.pages_done,
            "pages_total": self.pages_total,
            "error": self.error,
            "job_id": self.job_id,
        }


def processing_status(session: Session, document_id: int) -> Processing:
    document = session.get(Document, document_id)
    if document is None:
        raise NotFound(f"No document with id {document_id}.")
    job = session.scalars(
        select(Job).where(Job.document_id == document_id).order_by(Job.id.desc()).limit(1)
    ).first()
    return Processing(
        document_id=document_id,
        status=document.status,
        pages_done=job.progress_done if job else 0,
        pages_total=job.progress_total if job else None,
        error=job.last_error if job and document.status == "failed" else "",
        job_id=job.id if job else None,
    )


def follow_processing(session: Session, principal: Principal, document_id: int) -> Processing:
    """The processing status for the live progress display. Whoever filed the scan may follow
    it through OCR, even into a restricted chart they may not open (a clerk filing for a
    restricted patient watches the upload finish); anyone else needs access to the chart."""
    require(principal, "document.view")
    status = processing_status(session, document_id)
    document = session.get(Document, document_id)
    if document.created_by_id != principal.user_id:
        require_chart_access(session, principal, document.patient, document_id=document_id)
    return status


def retry_document(session: Session, principal: Principal, document_id: int) -> Job:
    """Give a failed document's newest job a fresh set of attempts."""
    require(principal, "document.upload")
    status = processing_status(session, document_id)
    if status.status != "failed" or status.job_id is None:
        raise Conflict(f"Document {document_id} has not failed; there is nothing to retry.")
    job = queue.requeue(session, status.job_id)
    document = session.get(Document, document_id)
    document.status = "queued"
    audit.record_about(
        session, principal.actor, "document.retry", document,
        details={"job": job.id},
    )
    return job


@dataclass(frozen=True)
class FlagRow:
    id: int
    document_id: int
    version_number: int | None
    kind: str
    label: str
    detail: str
    page_number: int | None
    created_at: datetime
    mrn: str
    patient_name: str
    doc_type: str


def open_flags(session: Session, principal: Principal, page: int = 1) -> tuple[int, list[FlagRow]]:
    """The QC queue, oldest first, a page at a time: (total, rows)."""
    require(principal, "qc.review")
    total = session.scalar(select(func.count(QcFlag.id)).where(QcFlag.status == "open"))
    rows = session.execute(Paging(page, QC_PAGE_SIZE).rows_of(
        select(QcFlag, Document, Patient)
        .join(Document, Document.id == QcFlag.document_id)
        .join(Patient, Patient.id == Document.patient_id)
        .where(QcFlag.status == "open")
        .order_by(QcFlag.created_at, QcFlag.id)
    )).all()
    return total, [_flag_row(flag, document, patient) for flag, document, patient in rows]


def flags_of(session: Session, document_id: int) -> list[QcFlag]:
    return list(
        session.scalars(
            select(QcFlag)
            .where(QcFlag.document_id == document_id)
            .order_by(QcFlag.created_at, QcFlag.id)
        )
    )


def _flag_row(flag: QcFlag, document: Document, patient: Patient) -> FlagRow:
    return FlagRow(
        id=flag.id,
        document_id=document.id,
        version_number=flag.version_number,
        kind=flag.kind,
        label=KIND_LABELS.get(flag.kind, flag.kind),
        detail=flag.detail,
        page_number=flag.page_number,
        created_at=flag.created_at,
        mrn=patient.mrn,
        patient_name=patient.name,
        doc_type=document.doc_type,
    )


def review_flag(session: Session, principal: Principal, flag_id: int, comment: str) -> QcFlag:
    """A clerk has looked at the flag and says what was done about it."""
    require(principal, "qc.review")
    comment = (comment or "").strip()
    if not comment:
        raise BadRequest("Say what you checked or fixed; the comment is kept with the flag.")
    flag = session.get(QcFlag, flag_id)
    if flag is None:
        raise NotFound(f"No QC flag with id {flag_id}.")
    if flag.status != "open":
        raise Conflict(f"This flag was already reviewed by {flag.reviewed_by}.")
    flag.status = "reviewed"
    flag.reviewed_by = principal.username
    flag.reviewed_at = utcnow()
    flag.comment = comment
    document = session.get(Document, flag.document_id)
    audit.record_about(
        session, principal.actor, "qc.review", document,
        version_number=flag.version_number,
        reason=comment,
        details={"flag": flag.id, "kind": flag.kind},
    )
    return flag


# What each derivative is called when it is missing, for the message.
DERIVATIVE_NAMES = {
    "searchable_pdf": "searchable PDF",
    "page_image": "page image",
    "thumbnail": "thumbnail",
}


def open_derivative(
    ext, principal: Principal, document_id: int, number: int, kind: str, page: int = 0
) -> tuple[Derivative, Iterator[bytes]]:
    """Start a download of a version's derivative (the searchable PDF, or page ``page``'s
    image or thumbnail): audited, verified as it streams, restricted charts refused."""
    # The searchable PDF is a download of the whole chart; page images are for reading.
    require(principal, "document.read" if kind == "searchable_pdf" else "document.read_work")
    with ext.db.transaction() as session:
        document = session.get(Document, document_id)
        if document is None:
            raise NotFound(f"No document with id {document_id}.")
        require_page_access(ext, session, principal, document)
        require_chart_access(session, principal, document.patient, document_id=document_id)
        version = get_version(document, number)
        derivative = session.scalar(
            select(Derivative).where(
                Derivative.version_id == version.id,
                Derivative.kind == kind,
                Derivative.page_number == page,
            )
        )
        if derivative is None:
            where = f"page {page} of version {number}" if page else f"version {number}"
            raise NotFound(
                f"There is no {DERIVATIVE_NAMES[kind]} of {where} of document {document_id}: "
                f"the document is {document.status}"
                + (" (try again once OCR has finished)." if document.status != "ready" else ".")
            )
        mrn = document.patient.mrn
    chunks = audited_download(
        ext,
        principal,
        derivative,
        mrn=mrn,
        document_id=document_id,
        number=number,
        details={"kind": kind, "page": page} if page else {"kind": kind},
    )
    return derivative, chunks

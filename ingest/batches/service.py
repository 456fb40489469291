"""Receiving a batch and telling its state: one function per rule, called by the API, the
web pages and (later) the hot folder and CLI alike.

Receiving stores the stack first, as a checksummed object (the provenance of every document
cut from it), then commits the batch row with its audit event; the split job
(ingest.batches.job) does the rest. The same bytes uploaded again answer the batch they
already are: nothing is stored, split or filed twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import Session

from archive import audit
from archive.auth.permissions import Principal, require
from archive.errors import (
    BadRequest,
    EmptyFile,
    NotFound,
    StorageError,
    UnsupportedMediaType,
)
from archive.extensions import Archive
from archive.interfaces import Upload
from archive.models import Document, Patient
from archive.records.formats import sniff_media_type
from archive.storage.hashing import read_chunks
from ingest.batches.models import Batch, BatchPart
from ingest.ocr import sources

BATCH_MEDIA_TYPES = (sources.PDF, sources.TIFF)
STILL_WORKING = ("queued", "processing")


@dataclass(frozen=True)
class Received:
    batch_id: int
    sha256: str
    duplicate: bool


def receive_batch(ext: Archive, principal: Principal, upload: Upload) -> Received:
    """Store a scanned stack and queue it for splitting (or answer the batch it already is)."""
    require(principal, "document.upload")
    media_type = _checked_stack(ext, upload)
    sha256 = _sha256_of(upload)
    with ext.db.transaction() as session:
        known = _batch_with(session, sha256)
        if known is not None:
            _audit_upload(session, principal, known, duplicate=True)
            return Received(known.id, sha256, duplicate=True)
    uid = uuid.uuid4().hex
    stored = ext.store.put(f"batches/{uid}/original", upload.stream, media_type=media_type)
    try:
        with ext.db.transaction() as session:
            batch = Batch(
                uid=uid, sha256=stored.sha256, size=stored.size, media_type=media_type,
                filename=(upload.filename or "")[:255], object_key=stored.key,
                store_version_id=stored.version_id, status="queued", pages_read=0,
                attempts=0, error="", created_by_id=principal.user_id,
                created_by=principal.username,
            )
            session.add(batch)
            session.flush()
            _audit_upload(session, principal, batch, duplicate=False)
            return Received(batch.id, stored.sha256, duplicate=False)
    except DBIntegrityError:
        # The same stack uploaded twice at once: the other upload's row won.
        _discard(ext, stored.key, stored.version_id)
        with ext.db.transaction() as session:
            known = _batch_with(session, sha256)
            if known is None:
                raise
            return Received(known.id, sha256, duplicate=True)


def _checked_stack(ext: Archive, upload: Upload) -> str:
    """The stack's media type, once it passed the checks every scan passes."""
    head = upload.stream.read(16)
    upload.stream.seek(0)
    if not head:
        raise EmptyFile("The batch file is empty (0 bytes). Scan the stack again and upload it.")
    media_type = sniff_media_type(head)
    if media_type not in BATCH_MEDIA_TYPES:
        raise UnsupportedMediaType(
            "A batch is the whole scanned stack as one PDF or multi-page TIFF; this file is "
            f"{media_type}. Upload a single page through the ordinary upload instead."
        )
    for check in ext.intake_checks:  # size, page count, password, damage (ingest.validation)
        check(upload)
        upload.stream.seek(0)
    return media_type


def _sha256_of(upload: Upload) -> str:
    digest = hashlib.sha256()
    for chunk in read_chunks(upload.stream):
        digest.update(chunk)
    upload.stream.seek(0)
    return digest.hexdigest()


def _batch_with(session: Session, sha256: str) -> Batch | None:
    return session.scalar(select(Batch).where(Batch.sha256 == sha256))


def _audit_upload(session: Session, principal: Principal, batch: Batch, *, duplicate: bool):
    audit.record(session, principal.actor, "batch.upload",
                 outcome="duplicate" if duplicate else "success",
                 details={"batch": batch.id, "sha256": batch.sha256, "size": batch.size,
                          "filename": batch.filename})


def _discard(ext: Archive, key: str, version_id: str) -> None:
    # Failing that, an unreferenced object stays behind, harmless: no row names it.
    with contextlib.suppress(StorageError):
        ext.store.delete_version(key, version_id)


def batch_state(session: Session, batch: Batch) -> str:
    """processing until the stack is split and every filed part has left OCR; then done
    (a part whose OCR failed shows on its document). failed when the stack was unreadable."""
    if batch.status == "failed":
        return "failed"
    if batch.status != "split":
        return "processing"
    working = session.scalar(
        select(Document.id)
        .join(BatchPart, BatchPart.document_id == Document.id)
        .where(BatchPart.batch_id == batch.id, Document.status.in_(STILL_WORKING))
        .limit(1)
    )
    return "processing" if working is not None else "done"


def get_batch(session: Session, batch_id: int) -> Batch:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound(f"No batch with id {batch_id}.")
    return batch


def parts_of(session: Session, batch_id: int) -> list[BatchPart]:
    return list(session.scalars(
        select(BatchPart).where(BatchPart.batch_id == batch_id).order_by(BatchPart.position)))


def view_batch(session: Session, principal: Principal, batch_id: int) -> dict:
    """The batch, its filed documents and its unidentified parts (audited: it names
    patients and their documents)."""
    require(principal, "document.view")
    batch = get_batch(session, batch_id)
    parts = parts_of(session, batch_id)
    statuses = dict(session.execute(
        select(Document.id, Document.status).where(
            Document.id.in_([p.document_id for p in parts if p.document_id]))).all())
    audit.record(session, principal.actor, "batch.view", details={"batch": batch.id})
    return {
        "id": batch.id,
        "status": batch_state(session, batch),
        "split": batch.status,
        "sha256": batch.sha256,
        "filename": batch.filename,
        "pages": batch.page_count,
        "pages_read": batch.pages_read,
        "error": batch.error,
        "created_at": batch.created_at.isoformat(),
        "created_by": batch.created_by,
        "documents": [_filed_part(p, statuses) for p in parts if p.status == "filed"],
        "unidentified": [_unfiled_part(p) for p in parts if p.status != "filed"],
    }


def _filed_part(part: BatchPart, statuses: dict[int, str]) -> dict:
    return {"id": part.document_id, "mrn": part.mrn, "type": part.doc_type,
            "encounter": part.encounter or None, "pages": part.page_numbers,
            "part": part.position, "status": statuses.get(part.document_id, "disposed")}


def _unfiled_part(part: BatchPart) -> dict:
    return {"id": part.id, "part": part.position, "pages": part.page_numbers,
            "reason": part.problem,
            "status": part.status, "mrn": part.mrn or None, "type": part.doc_type or None}


def origin_of(session: Session, document: Document) -> dict | None:
    """Which batch and pages a document was cut from (for its page and its API answer)."""
    part = session.scalar(select(BatchPart).where(BatchPart.document_id == document.id))
    if part is None:
        return None
    return {"batch": part.batch_id, "part": part.position, "pages": part.page_numbers,
            "encounter": part.encounter or None}


def known_patient(session: Session, mrn: str) -> bool:
    return session.scalar(select(Patient.id).where(Patient.mrn == mrn)) is not None


def cover_sheet(session: Session, principal: Principal, mrn: str, doc_type: str,
                encounter: str = "") -> bytes:
    """A patient's cover sheet for one document type (audited: it names the patient). The
    name is printed too, except on a restricted chart, where the MRN alone must do."""
    from archive.records.patients import find_patient
    from ingest.batches import codes, sheets

    require(principal, "document.upload")
    patient = find_patient(session, mrn)
    try:
        code = codes.patient_code(mrn, (doc_type or "").strip(), (encounter or "").strip())
    except codes.BadCode as err:
        raise BadRequest(str(err)) from None
    audit.record(session, principal.actor, "batch.cover_sheet", patient_mrn=mrn,
                 details={"type": code.doc_type, "encounter": code.encounter})
    return sheets.cover_sheet_pdf(code, "" if patient.restricted else patient.name)

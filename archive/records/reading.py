"""Reading documents: the audited view of a document, and downloads of stored bytes that
are verified as they stream."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from archive import audit
from archive.auth.permissions import Principal, require
from archive.auth.restricted import require_chart_access
from archive.errors import IntegrityError, NotFound
from archive.models import Document, DocumentVersion

if TYPE_CHECKING:
    from archive.extensions import Archive


class StoredBytes(Protocol):
    """Where a stored file's bytes are and what they hash to: a version's original, or one
    of its derivatives (ingest)."""

    object_key: str
    store_version_id: str
    sha256: str


def get_document(session: Session, document_id: int) -> Document:
    document = session.scalar(
        select(Document)
        .where(Document.id == document_id)
        .options(selectinload(Document.versions), selectinload(Document.patient))
    )
    if document is None:
        raise NotFound(f"No document with id {document_id}.")
    return document


def view_document(session: Session, principal: Principal, document_id: int) -> Document:
    require(principal, "document.view")
    document = get_document(session, document_id)
    require_chart_access(session, principal, document.patient, document_id=document_id)
    audit.record_about(session, principal.actor, "document.view", document)
    return document


def get_version(document: Document, number: int) -> DocumentVersion:
    for version in document.versions:
        if version.number == number:
            return version
    raise NotFound(f"Document {document.id} has no version {number}.")


def open_original(
    ext: Archive, principal: Principal, document_id: int, number: int
) -> tuple[DocumentVersion, Iterator[bytes]]:
    """Start a download of a version's original (audited, verified as it streams)."""
    require(principal, "document.read")
    with ext.db.transaction() as session:
        document = get_document(session, document_id)
        require_chart_access(session, principal, document.patient, document_id=document_id)
        version = get_version(document, number)
        mrn = document.patient.mrn
    chunks = audited_download(
        ext, principal, version, mrn=mrn, document_id=document_id, number=number
    )
    return version, chunks


def audited_download(
    ext: Archive,
    principal: Principal,
    stored: StoredBytes,
    *,
    mrn: str,
    document_id: int,
    number: int,
    details: dict | None = None,
) -> Iterator[bytes]:
    """Record the download in the audit trail, then hand out the verified bytes. The caller
    has checked the reader may open the chart (``require_chart_access``)."""
    audit.record_now(
        ext.db,
        principal.actor,
        "document.download",
        patient_mrn=mrn,
        document_id=document_id,
        version_number=number,
        details={**(details or {}), "sha256": stored.sha256},
    )
    return read_verified(
        ext,
        principal,
        key=stored.object_key,
        store_version_id=stored.store_version_id,
        sha256=stored.sha256,
        mrn=mrn,
        document_id=document_id,
        number=number,
    )


def read_verified(
    ext: Archive,
    principal: Principal,
    *,
    key: str,
    store_version_id: str,
    sha256: str,
    mrn: str,
    document_id: int,
    number: int,
) -> Iterator[bytes]:
    """Stored bytes for a reader, verified as they stream. The first chunk is read here,
    so a small corrupt file fails before any response starts; an integrity failure at any
    point is audited before it propagates."""
    chunks = ext.store.open(key, store_version_id, expected_sha256=sha256)

    def audited(first: bytes | None) -> Iterator[bytes]:
        if first is not None:
            yield first
        try:
            yield from chunks
        except IntegrityError as err:
            _audit_integrity_failure(ext.db, principal, mrn, document_id, number, err)
            raise

    try:
        first = next(chunks, None)
    except IntegrityError as err:
        _audit_integrity_failure(ext.db, principal, mrn, document_id, number, err)
        raise
    return audited(first)


def _audit_integrity_failure(db, principal, mrn, document_id, number, err) -> None:
    audit.record_now(
        db,
        principal.actor,
        "document.download",
        outcome="integrity_failure",
        patient_mrn=mrn,
        document_id=document_id,
        version_number=number,
        details={"error": err.message},
    )

"""From the database to the index: what a document looks like to the index, the outbox
consumer, and the full rebuild.

The outbox (ingest.models.IndexOutbox) is written in the same transaction as the pages it
names. The consumer reads a batch of rows, indexes the *current* database state of the
documents they name, and deletes exactly those rows only after the index has committed.
A crash anywhere in between leaves the rows, and the next pass does the same work again:
indexing a document is idempotent (all its records are replaced).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import Row, delete, func, select
from sqlalchemy.orm import Session

from archive.db import Database
from archive.models import Document, DocumentVersion, Page, Patient
from ingest.models import IndexOutbox
from search.interfaces import IndexedPage, IndexedVersion, SearchIndex

log = logging.getLogger(__name__)

OUTBOX_BATCH = 500  # rows per pass: bounds memory, and a crash replays at most this many
# Documents a rebuild or reconcile reads from the database at a time (about 13,000 pages,
# some 35 MB of text): it bounds their memory. A rebuild commits once at the end, so the
# size no longer decides how often Tantivy merges.
REBUILD_BATCH = 2000


def fingerprint(fields: dict, pages: Iterable[IndexedPage]) -> str:
    """A digest of what the index holds for one version, comparable across the database and
    the index (the reconcile job recomputes it from the database). BLAKE2b, because a
    rebuild digests every page of the archive and SHA-256 cost three times as much here;
    changing it changes what the index stores, so it is part of each SCHEMA_VERSION."""
    digest = hashlib.blake2b(
        json.dumps(fields, sort_keys=True, default=str).encode(), digest_size=32
    )
    for page in pages:
        digest.update(b"\x00%d\x00" % page.number)
        digest.update(page.text.encode())
    return digest.hexdigest()


def _icd_codes(extracted: dict | None) -> tuple[str, ...]:
    codes = (extracted or {}).get("icd10_codes") or []
    # Only codes of the real code set: a malformed one is a QC finding, not a search term.
    return tuple(sorted({c["code"] for c in codes if c.get("valid")}))


def _indexed_version(row: Row, latest: bool, pages: list[IndexedPage]) -> IndexedVersion:
    fields = {
        "document_id": row.document_id,
        "version": row.number,
        "latest": latest,
        "patient_id": row.patient_id,
        "mrn": row.mrn,
        "patient_name": row.patient_name,
        "doc_type": row.doc_type,
        "department": row.department or "",
        "date_of_service": row.date_of_service,
        "icd_codes": _icd_codes(row.extracted),
        "restricted": row.restricted,
    }
    return IndexedVersion(**fields, pages=tuple(pages), fingerprint=fingerprint(fields, pages))


def load_documents(
    session: Session, document_ids: Iterable[int]
) -> dict[int, list[IndexedVersion]]:
    """What the index should hold for each of ``document_ids``, read from the database:
    every version that has pages (a version still in OCR has none yet). A document that no
    longer exists maps to an empty list, which removes it from the index.

    Plain rows rather than ORM objects: a rebuild reads the whole archive through here, and
    building objects was a fifth of its reading time."""
    wanted = set(document_ids)
    result: dict[int, list[IndexedVersion]] = {document_id: [] for document_id in wanted}
    if not wanted:
        return result
    versions = session.execute(
        select(
            DocumentVersion.document_id,
            DocumentVersion.id,
            DocumentVersion.number,
            DocumentVersion.extracted,
            Document.doc_type,
            Document.department,
            Document.date_of_service,
            Patient.id.label("patient_id"),
            Patient.mrn,
            Patient.name.label("patient_name"),
            Patient.restricted,
        )
        .join(Document, DocumentVersion.document_id == Document.id)
        .join(Patient, Document.patient_id == Patient.id)
        .where(DocumentVersion.document_id.in_(wanted))
        .order_by(DocumentVersion.document_id, DocumentVersion.number)
    ).all()
    newest = {row.document_id: row.number for row in versions}  # rows come oldest first
    pages_of = _pages_of(session, [row.id for row in versions])
    for row in versions:
        if row.id in pages_of:
            latest = row.number == newest[row.document_id]
            result[row.document_id].append(_indexed_version(row, latest, pages_of[row.id]))
    return result


def _pages_of(session: Session, version_ids: list[int]) -> dict[int, list[IndexedPage]]:
    """The pages of each version that has any, in page order."""
    pages_of: dict[int, list[IndexedPage]] = {}
    if version_ids:
        rows = session.execute(
            select(Page.version_id, Page.number, Page.text)
            .where(Page.version_id.in_(version_ids))
            .order_by(Page.version_id, Page.number)
        )
        for version_id, number, text in rows:
            pages_of.setdefault(version_id, []).append(IndexedPage(number, text or ""))
    return pages_of


# --- the outbox consumer ----------------------------------------------------------------------


@dataclass(frozen=True)
class DrainResult:
    rows: int  # outbox rows consumed
    documents: int  # distinct documents (re)indexed


def drain_outbox(db: Database, index: SearchIndex, *, batch: int = OUTBOX_BATCH) -> DrainResult:
    """Index every document the outbox names, batch by batch, until it is empty."""
    rows = documents = 0
    while True:
        with db.transaction() as session:
            pending = session.execute(
                select(IndexOutbox.id, IndexOutbox.document_id)
                .order_by(IndexOutbox.id)
                .limit(batch)
            ).all()
            if not pending:
                return DrainResult(rows, documents)
            wanted = load_documents(session, {document_id for _id, document_id in pending})
        index.replace_documents(wanted)
        # Only now, with the index committed, may the rows go. Rows written meanwhile for the
        # same documents have higher ids and stay for the next pass.
        delete_outbox_rows(db, [row_id for row_id, _doc in pending])
        rows += len(pending)
        documents += len(wanted)


def delete_outbox_rows(db: Database, row_ids: list[int]) -> None:
    for start in range(0, len(row_ids), OUTBOX_BATCH):
        chunk = row_ids[start : start + OUTBOX_BATCH]
        with db.transaction() as session:
            session.execute(delete(IndexOutbox).where(IndexOutbox.id.in_(chunk)))


def pending_outbox_ids(db: Database) -> list[int]:
    with db.transaction() as session:
        return list(session.scalars(select(IndexOutbox.id)))


# --- the full rebuild -------------------------------------------------------------------------


def all_document_ids(db: Database) -> list[int]:
    with db.transaction() as session:
        return list(session.scalars(select(Document.id).order_by(Document.id)))


def document_batches(
    db: Database, batch: int = REBUILD_BATCH
) -> Iterator[dict[int, list[IndexedVersion]]]:
    """Every document of the archive, as the index should hold it, ``batch`` at a time.

    The next batch is read in a helper thread while the caller indexes this one, so the
    two overlap instead of taking turns (at most two batches are held besides the
    caller's)."""
    ids = all_document_ids(db)

    def read(chunk: list[int]) -> dict[int, list[IndexedVersion]]:
        with db.transaction() as session:
            return load_documents(session, chunk)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-reader") as reader:
        pending: Future | None = None
        for start in range(0, len(ids), batch):
            following = reader.submit(read, ids[start : start + batch])
            if pending is not None:
                yield pending.result()
            pending = following
        if pending is not None:
            yield pending.result()


def page_count(db: Database) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count(Page.id))) or 0


def outbox_backlog(db: Database) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count(IndexOutbox.id))) or 0

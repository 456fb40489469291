"""The OCR job: one version of a document in, pages, derivatives, QC flags and index
outbox rows out.

Reads top to bottom: load what to process, fetch the verified original, run the OCR
pipeline (worker processes do the CPU work), store the derivatives, read metadata and
apply the QC rules, then write every row in one transaction that first checks our lease.
Running it twice leaves exactly the same rows (and reuses identical derivative objects).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import delete, select

from archive import audit
from archive.audit import Actor
from archive.extensions import Archive
from archive.interfaces import ObjectStore
from archive.models import Document, DocumentVersion, Page
from archive.storage.hashing import read_chunks
from ingest import qc
from ingest.metadata import ExtractedMetadata, extract_metadata
from ingest.models import Derivative, IndexOutbox, QcFlag
from ingest.ocr.pipeline import DocumentResult, PageResult, process_document
from ingest.queue import Lease, finish, hold_lease, set_progress

EXTENSIONS = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/tiff": "tif",
}


@dataclass(frozen=True)
class Target:
    """What the job works on, read once at the start."""

    document_id: int
    document_uid: str
    version_id: int
    number: int
    object_key: str
    store_version_id: str
    sha256: str
    media_type: str
    patient_mrn: str
    date_of_service: date | None


@dataclass(frozen=True)
class StoredDerivative:
    kind: str
    page_number: int
    object_key: str
    store_version_id: str
    sha256: str
    size: int
    media_type: str


def run_ocr_job(ext: Archive, lease: Lease, actor: Actor) -> None:
    target = _load_target(ext, lease)
    _mark_document(ext, target.document_id, "processing")
    with tempfile.TemporaryDirectory(prefix="chartvault-ocr-") as tmp:
        workdir = Path(tmp)
        original = _fetch_original(ext.store, target, workdir)
        pages_done = 0

        def on_page(_page: PageResult, total: int) -> None:
            nonlocal pages_done
            pages_done += 1
            set_progress(ext.db, lease, pages_done, total)

        result = process_document(
            original,
            target.media_type,
            workdir / "ocr",
            workers=ext.settings.ocr_workers,
            on_page=on_page,
        )
        derivatives = _store_derivatives(ext, target, result)
    metadata = extract_metadata("\n\n".join(page.text for page in result.pages))
    findings = _review(target, result, metadata)
    _write_results(ext, lease, actor, target, result, derivatives, metadata, findings)


def _load_target(ext: Archive, lease: Lease) -> Target:
    with ext.db.transaction() as session:
        version = session.get(DocumentVersion, lease.version_id)
        document = version.document
        return Target(
            document_id=document.id,
            document_uid=document.uid,
            version_id=version.id,
            number=version.number,
            object_key=version.object_key,
            store_version_id=version.store_version_id,
            sha256=version.sha256,
            media_type=version.media_type,
            patient_mrn=document.patient.mrn,
            date_of_service=document.date_of_service,
        )


def _mark_document(ext: Archive, document_id: int, status: str) -> None:
    with ext.db.transaction() as session:
        session.get(Document, document_id).status = status


def _fetch_original(store: ObjectStore, target: Target, workdir: Path) -> Path:
    path = workdir / f"original.{EXTENSIONS.get(target.media_type, 'bin')}"
    with path.open("wb") as out:
        for chunk in store.open(
            target.object_key, target.store_version_id, expected_sha256=target.sha256
        ):
            out.write(chunk)
    return path


def _derivative_files(result: DocumentResult) -> list[tuple[str, int, Path, str]]:
    files = [("searchable_pdf", 0, result.searchable_pdf, "application/pdf")]
    for page in result.pages:
        files.append(("page_image", page.number, page.image_path, _media_type(page.image_path)))
        files.append(
            ("thumbnail", page.number, page.thumbnail_path, _media_type(page.thumbnail_path))
        )
    return files


def _media_type(path: Path) -> str:
    return {
        ".png": "image/png",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".webp": "image/webp",
    }.get(path.suffix.lower(), "application/octet-stream")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in read_chunks(stream):
            digest.update(chunk)
    return digest.hexdigest()


def _store_derivatives(
    ext: Archive, target: Target, result: DocumentResult
) -> list[StoredDerivative]:
    """Store each derivative unless an identical one is already recorded (a re-run)."""
    with ext.db.transaction() as session:
        known = {
            (d.kind, d.page_number, d.sha256): d
            for d in session.scalars(
                select(Derivative).where(Derivative.version_id == target.version_id)
            )
        }
    stored = []
    for kind, page_number, path, media_type in _derivative_files(result):
        sha256 = _sha256_file(path)
        if (existing := known.get((kind, page_number, sha256))) is not None:
            stored.append(
                StoredDerivative(
                    kind,
                    page_number,
                    existing.object_key,
                    existing.store_version_id,
                    sha256,
                    existing.size,
                    media_type,
                )
            )
            continue
        key = _derivative_key(target, kind, page_number, path)
        with path.open("rb") as stream:
            put = ext.store.put(key, stream, media_type=media_type)
        stored.append(
            StoredDerivative(
                kind, page_number, put.key, put.version_id, put.sha256, put.size, media_type
            )
        )
    return stored


def _derivative_key(target: Target, kind: str, page_number: int, path: Path) -> str:
    base = f"documents/{target.document_uid}/v{target.number}"
    if kind == "searchable_pdf":
        return f"{base}/searchable.pdf"
    return f"{base}/{kind}-{page_number:04d}{path.suffix.lower()}"


def _review(
    target: Target, result: DocumentResult, metadata: ExtractedMetadata
) -> list[qc.Finding]:
    return qc.review_document(
        patient_mrn=target.patient_mrn,
        date_of_service=target.date_of_service,
        pages=[qc.PageFacts(p.number, p.blank, p.confidence) for p in result.pages],
        mrns_found=metadata.mrns,
        dates_of_service_found=metadata.dates_of_service,
        codes=[qc.CodeFacts(c.code, c.valid) for c in metadata.icd10_codes],
    )


def metadata_json(metadata: ExtractedMetadata) -> dict:
    plain = asdict(metadata)
    for field in ("dates_of_birth", "dates_of_service"):
        plain[field] = [d.isoformat() for d in getattr(metadata, field)]
    return plain


def _page_row(version_id: int, page: PageResult) -> Page:
    return Page(
        version_id=version_id,
        number=page.number,
        text=page.text,
        confidence=page.confidence,
        blank=page.blank,
        rotation=page.rotation,
        had_text_layer=page.had_text_layer,
        skew=page.skew,
        straightened=page.straightened,
        width=page.width,
        height=page.height,
        words=[[w.text, w.conf, w.left, w.top, w.width, w.height] for w in page.words],
    )


def _write_results(
    ext: Archive,
    lease: Lease,
    actor: Actor,
    target: Target,
    result: DocumentResult,
    derivatives: list[StoredDerivative],
    metadata: ExtractedMetadata,
    findings: list[qc.Finding],
) -> None:
    with ext.db.transaction() as session:
        job = hold_lease(session, lease)
        version = session.get(DocumentVersion, target.version_id)
        for model in (Page, Derivative):
            session.execute(delete(model).where(model.version_id == target.version_id))
        session.execute(delete(IndexOutbox).where(IndexOutbox.version_id == target.version_id))
        session.flush()
        session.add_all(_page_row(target.version_id, page) for page in result.pages)
        session.add_all(Derivative(version_id=target.version_id, **asdict(d)) for d in derivatives)
        session.add_all(
            IndexOutbox(
                document_id=target.document_id,
                version_id=target.version_id,
                page_number=page.number,
                op="upsert",
            )
            for page in result.pages
        )
        raised = _replace_auto_flags(session, target, findings)
        version.page_count = len(result.pages)
        version.extracted = metadata_json(metadata)
        document = version.document
        if document.latest_version.id == version.id:
            document.status = "ready"
        finish(job)
        audit.record(
            session,
            actor,
            "document.ocr",
            patient_mrn=target.patient_mrn,
            document_id=target.document_id,
            version_number=target.number,
            details={
                "pages": len(result.pages),
                "blank_pages": sum(p.blank for p in result.pages),
                "qc_flags": raised,
                "attempt": lease.attempt,
            },
        )


def _replace_auto_flags(session, target: Target, findings: list[qc.Finding]) -> int:
    """Open flags of a previous run are replaced; a flag a clerk already reviewed is not
    raised again for the same finding."""
    flags = session.scalars(
        select(QcFlag).where(
            QcFlag.document_id == target.document_id,
            QcFlag.version_number == target.number,
            QcFlag.kind.in_(qc.AUTO_KINDS),
        )
    ).all()
    reviewed = {(f.kind, f.page_number, f.detail) for f in flags if f.status == "reviewed"}
    for flag in flags:
        if flag.status == "open":
            session.delete(flag)
    fresh = [f for f in findings if (f.kind, f.page_number, f.detail) not in reviewed]
    session.add_all(
        QcFlag(
            document_id=target.document_id,
            version_number=target.number,
            kind=f.kind,
            detail=f.detail,
            page_number=f.page_number,
            status="open",
            comment="",
        )
        for f in fresh
    )
    return len(fresh)


ProgressCallback = Callable[[int, int], None]

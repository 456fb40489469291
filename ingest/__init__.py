"""Ingestion: getting paper in. Upload, API, hot folder and CLI intake, validation, the OCR
pipeline, searchable PDFs, metadata extraction, the QC queue, and the job queue and worker."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.db import relocate_rows
from archive.extensions import Archive, DocumentSection
from archive.interfaces import Relocation, Upload
from archive.models import Document, DocumentVersion, Patient


def init_app(app: Flask) -> None:
    """Plug ingestion into the app (called through the chartvault.packages entry point)."""
    from archive.extensions import csrf

    # correction_views adds its routes to views.bp (the document page's forms name them
    # ingest.*): imported for that alone.
    from ingest import api, batches, cli, correction_views, views  # noqa: F401
    from ingest.models import Derivative

    ext: Archive = app.extensions["chartvault"]
    ext.intake_checks.append(_validator(ext))
    ext.version_listeners.append(_on_version_filed)
    ext.document_listeners.append(_reindex_document)
    ext.document_objects.append(_derivative_objects)
    ext.document_erasers.append(_erase_document)
    ext.object_sources.append(_stored_derivatives)
    ext.object_relocators.append(_relocate_derivatives)
    ext.version_object_models.append(Derivative)
    ext.document_sections += [
        DocumentSection("processing", _processing_section, "ingest/_processing.html"),
        DocumentSection("qc_flags", _qc_section, "ingest/_qc_flags.html"),
    ]
    ext.navigation += views.NAVIGATION
    ext.work_queues.append(_in_qc_queue)
    ext.background_tasks.append(lambda stop: _run_worker(ext, stop))
    if ext.settings.hot_folder:
        ext.background_tasks.append(lambda stop: _watch_hot_folder(ext, stop))
    cli.init_app(app)
    batches.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # Bearer tokens, no cookies (as the core API)


def _validator(ext: Archive):
    from ingest.validation import ScanLimits, inspect_scan

    limits = ScanLimits.from_settings(ext.settings)

    def check(upload: Upload) -> None:
        inspect_scan(upload.stream, limits, upload.filename)

    return check


def _on_version_filed(session: Session, version: DocumentVersion) -> None:
    """In the filing transaction: queue the OCR job, and flag a file that is also filed
    under another patient (on both documents: one of them is probably misfiled)."""
    from ingest import qc, queue
    from ingest.models import QcFlag

    queue.enqueue(session, "ocr", version)
    document = session.get(Document, version.document_id)
    elsewhere = session.execute(
        select(Document.id, Patient.mrn)
        .join(DocumentVersion, DocumentVersion.document_id == Document.id)
        .join(Patient)
        .where(DocumentVersion.sha256 == version.sha256, Document.patient_id != document.patient_id)
        .distinct()
    ).all()
    for other_id, other_mrn in elsewhere:
        session.add_all(
            [
                QcFlag(
                    document_id=document.id,
                    version_number=version.number,
                    kind=qc.OTHER_PATIENT,
                    status="open",
                    comment="",
                    detail=f"The same file is also filed as document {other_id} under MRN "
                    f"{other_mrn}.",
                ),
                QcFlag(
                    document_id=other_id,
                    kind=qc.OTHER_PATIENT,
                    status="open",
                    comment="",
                    detail=f"The same file was filed again as document {document.id} under "
                    f"MRN {document.patient.mrn}.",
                ),
            ]
        )


def _reindex_document(session: Session, document: Document) -> None:
    """The patient or metadata of a document changed: its pages must be indexed again."""
    from archive.models import Page
    from ingest.models import IndexOutbox

    pages = session.execute(
        select(DocumentVersion.id, Page.number)
        .join(Page, Page.version_id == DocumentVersion.id)
        .where(DocumentVersion.document_id == document.id)
    ).all()
    session.add_all(
        IndexOutbox(document_id=document.id, version_id=version_id, page_number=number, op="upsert")
        for version_id, number in pages
    )


def _derivative_objects(session: Session, document: Document) -> list[tuple[str, str]]:
    """The stored derivatives (searchable PDFs, page images, thumbnails) of every version."""
    from ingest.models import Derivative

    rows = session.execute(
        select(Derivative.object_key, Derivative.store_version_id)
        .join(DocumentVersion, DocumentVersion.id == Derivative.version_id)
        .where(DocumentVersion.document_id == document.id)
    )
    return [(key, version_id) for key, version_id in rows]


def _stored_derivatives():
    """Every stored derivative, for replication (Archive.object_sources)."""
    from sqlalchemy import literal

    from ingest.models import Derivative

    return select(
        Derivative.object_key.label("key"),
        Derivative.store_version_id.label("version_id"),
        Derivative.sha256,
        Derivative.size,
        Derivative.created_at.label("stored_at"),
        literal("derivative").label("kind"),
    )


def _relocate_derivatives(session: Session, moves: Sequence[Relocation]) -> None:
    from ingest.models import Derivative

    relocate_rows(session, Derivative.__table__.c.object_key,
                  Derivative.__table__.c.store_version_id, moves)


def _erase_document(session: Session, document: Document) -> None:
    """Disposition destroys the document: drop its jobs, derivative rows and QC flags, and
    tell the search index to drop it (the outbox row outlives the document on purpose)."""
    from sqlalchemy import delete

    from ingest.models import Derivative, IndexOutbox, Job, QcFlag

    version_ids = select(DocumentVersion.id).where(DocumentVersion.document_id == document.id)
    session.execute(delete(Derivative).where(Derivative.version_id.in_(version_ids)))
    session.execute(delete(Job).where(Job.document_id == document.id))
    session.execute(delete(QcFlag).where(QcFlag.document_id == document.id))
    session.add(IndexOutbox(document_id=document.id, version_id=0, page_number=0, op="delete"))


def _in_qc_queue(session: Session, document_id: int) -> bool:
    """A document with an open QC flag is the clerks' work: they check it against the scan."""
    from ingest.models import QcFlag

    return session.scalar(
        select(QcFlag.id).where(QcFlag.document_id == document_id, QcFlag.status == "open").limit(1)
    ) is not None


def _processing_section(session: Session, document: Document) -> dict:
    from ingest.services import processing_status

    return processing_status(session, document.id).as_json()


def _qc_section(session: Session, document: Document) -> list[dict]:
    from ingest.qc import KIND_LABELS
    from ingest.services import flags_of

    return [
        {
            "id": f.id,
            "kind": f.kind,
            "label": KIND_LABELS.get(f.kind, f.kind),
            "detail": f.detail,
            "page": f.page_number,
            "version": f.version_number,
            "status": f.status,
            "comment": f.comment,
            "reviewed_by": f.reviewed_by,
            "created_at": f.created_at.isoformat(),
        }
        for f in flags_of(session, document.id)
    ]


def _watch_hot_folder(ext: Archive, stop: threading.Event) -> None:
    from ingest.hotfolder import HotFolder

    HotFolder(ext, ext.settings.hot_folder).run(stop)


def _run_worker(ext: Archive, stop: threading.Event) -> None:
    from ingest.worker import Worker, start_worker_process

    start_worker_process()
    Worker(ext).run(stop)

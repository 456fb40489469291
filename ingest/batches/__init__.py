"""Batch scanning: one stack through the scanner, split at printed cover and separator sheets
whose QR codes name the patient and document type, each part filed as a document of its
own through the ordinary filing service and OCR pipeline.

codes (what a sheet's QR code says), sheets (the printable PDFs), splitting (reading the
codes of a scanned stack and cutting it into parts), models (the batch and part tables),
service (receiving a batch, the split job, the batch's state), api and views."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import literal, select, update
from sqlalchemy.orm import Session

from archive.db import relocate_rows
from archive.extensions import Archive, DocumentSection, PatientLink


def init_app(app: Flask) -> None:
    """Called from ingest.init_app: the batch routes, the document page's "from batch"
    section, and the batch originals among the stored objects (replication, restore)."""
    from archive.extensions import csrf
    from ingest.batches import api, views
    from ingest.batches.models import BatchPart  # noqa: F401 - the tables, for the metadata

    ext: Archive = app.extensions["chartvault"]
    ext.document_sections.append(
        DocumentSection("batch_origin", _origin_section, "ingest/_batch_origin.html"))
    ext.document_erasers.append(_forget_destroyed_document)
    ext.object_sources.append(_stored_batches)
    ext.object_relocators.append(_relocate_batches)
    ext.patient_links.append(
        PatientLink("batches.cover_sheet_form", "Print a cover sheet", "document.upload"))
    ext.navigation += views.NAVIGATION
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # Bearer tokens, no cookies (as the core API)


def _origin_section(session: Session, document) -> dict | None:
    from ingest.batches.service import origin_of

    return origin_of(session, document)


def _forget_destroyed_document(session: Session, document) -> None:
    """Disposition destroys the document; its batch part keeps its pages, not the link."""
    from ingest.batches.models import BatchPart

    session.execute(update(BatchPart).where(BatchPart.document_id == document.id)
                    .values(document_id=None, status="destroyed"))


def _stored_batches():
    from ingest.batches.models import Batch

    return select(Batch.object_key.label("key"), Batch.store_version_id.label("version_id"),
                  Batch.sha256, Batch.size, Batch.created_at.label("stored_at"),
                  literal("batch").label("kind"))


def _relocate_batches(session: Session, moves) -> None:
    from ingest.batches.models import Batch

    relocate_rows(session, Batch.__table__.c.object_key, Batch.__table__.c.store_version_id,
                  moves)

"""Ingestion's part of the REST API: the searchable PDF of a version."""

from __future__ import annotations

from flask import Blueprint

from archive.app import archive
from archive.auth.guards import current_principal, requires
from archive.records.downloads import verified_download
from ingest.services import open_searchable_pdf

bp = Blueprint("ingest_api", __name__, url_prefix="/api/v1")


def searchable_pdf_response(document_id: int, number: int):
    derivative, chunks = open_searchable_pdf(archive(), current_principal(), document_id, number)
    return verified_download(
        chunks,
        sha256=derivative.sha256,
        size=derivative.size,
        media_type="application/pdf",
        filename=f"document-{document_id}-v{number}-searchable.pdf",
    )


@bp.route("/documents/<int:document_id>/versions/<int:number>/searchable.pdf")
@requires("document.read")
def searchable_pdf(document_id: int, number: int):
    return searchable_pdf_response(document_id, number)

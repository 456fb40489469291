"""Ingestion's part of the REST API: the searchable PDF of a version. The page images and
thumbnails (ingest.views) are served through the same verified download."""

from __future__ import annotations

from flask import Blueprint

from archive.api_spec import operation
from archive.auth.guards import current_principal, requires
from archive.extensions import archive
from archive.records.downloads import verified_download
from ingest.services import open_derivative

bp = Blueprint("ingest_api", __name__, url_prefix="/api/v1")


def derivative_response(document_id: int, number: int, kind: str, page: int = 0):
    derivative, chunks = open_derivative(
        archive(), current_principal(), document_id, number, kind, page
    )
    if kind == "searchable_pdf":
        return verified_download(
            chunks,
            sha256=derivative.sha256,
            size=derivative.size,
            media_type="application/pdf",
            filename=f"document-{document_id}-v{number}-searchable.pdf",
        )
    return verified_download(
        chunks,
        sha256=derivative.sha256,
        size=derivative.size,
        media_type=derivative.media_type,
        filename=f"document-{document_id}-v{number}-p{page}-{kind}.jpg",
        attachment=False,  # shown in the viewer, not saved
    )


@bp.route("/documents/<int:document_id>/versions/<int:number>/searchable.pdf")
@requires("document.read")
@operation("The searchable PDF of a version (audited)", media_type="application/pdf")
def searchable_pdf(document_id: int, number: int):
    return derivative_response(document_id, number, "searchable_pdf")

"""Search's part of the REST API: ``GET /api/v1/search`` (DESIGN.md, "Contracts")."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from archive.app import archive
from archive.auth.guards import current_principal, requires
from search import open_index_of
from search.interfaces import DocumentHit
from search.service import SearchRequest, search

bp = Blueprint("search_api", __name__, url_prefix="/api/v1")


def hit_json(hit: DocumentHit) -> dict:
    return {
        "document_id": hit.document_id,
        "version": hit.version,
        "mrn": hit.mrn,
        "type": hit.doc_type,
        "department": hit.department or None,
        "date_of_service": hit.date_of_service.isoformat() if hit.date_of_service else None,
        "score": round(hit.score, 4),
        "matching_pages": hit.matching_pages,
        "pages": [
            {
                "page": page.number,
                # Plain text and [start, end) offsets of the matched words in it: the client
                # decides how to mark them (and must escape the text if it renders HTML).
                "snippet": page.snippet.text,
                "highlights": [list(mark) for mark in page.snippet.marks],
            }
            for page in hit.pages
        ],
    }


@bp.route("/search")
@requires("search.run")
def search_documents():
    found = search(
        archive(), open_index_of(), current_principal(), SearchRequest.from_args(request.args)
    )
    return jsonify(
        total=found.results.total,
        page=found.request.page,
        per_page=found.request.per_page,
        results=[hit_json(hit) for hit in found.results.hits],
    )

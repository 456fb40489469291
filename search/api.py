"""Search's part of the REST API: ``GET /api/v1/search`` (DESIGN.md, "Contracts")."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, jsonify, request
from pydantic import Field

from archive.api_spec import ISO_DATE, Answer, Request, Text, operation, query_of
from archive.auth.guards import current_principal, requires
from archive.extensions import archive
from archive.params import MAX_PAGE
from search import open_index_of
from search.interfaces import DocumentHit
from search.service import MAX_PER_PAGE, SearchRequest, search

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


class SearchQuery(Request):
    q: Text(500) | None = None
    mrn: Text(32) | None = None
    type: Text(64) | None = None
    department: Text(100) | None = None
    icd: Text(16) | None = None
    from_: ISO_DATE | None = Field(None, alias="from")
    to: ISO_DATE | None = None
    sort: Literal["relevance", "date"] | None = None
    versions: Literal["all", "latest"] | None = None
    page: int | None = Field(None, ge=1, le=MAX_PAGE)
    per_page: int | None = Field(None, ge=1, le=MAX_PER_PAGE)


class PageHit(Answer):
    page: int
    snippet: str
    highlights: list[list[int]]


class DocumentHitOut(Answer):
    document_id: int
    version: int
    mrn: str
    type: str
    department: str | None
    date_of_service: str | None
    score: float
    matching_pages: int
    pages: list[PageHit]


class SearchAnswer(Answer):
    total: int
    page: int
    per_page: int
    results: list[DocumentHitOut]


@bp.route("/search")
@requires("search.run")
@operation("Documents whose pages match, best first, with highlighted snippets (audited). "
           "page x per_page may reach 10,000 results at most.", query=SearchQuery,
           answer=SearchAnswer)
def search_documents():
    query_of(SearchQuery)
    found = search(
        archive(), open_index_of(), current_principal(), SearchRequest.from_args(request.args)
    )
    return jsonify(
        total=found.results.total,
        page=found.request.page,
        per_page=found.request.per_page,
        results=[hit_json(hit) for hit in found.results.hits],
    )

"""The document viewer: one page of one version, opened from a search hit, with the matched
words boxed on the page image and links to the previous and next matching page."""

from __future__ import annotations

from dataclasses import dataclass

from archive.auth.permissions import Principal, require
from archive.auth.work import require_page_access
from archive.errors import NotFound
from archive.extensions import Archive
from archive.models import Document, DocumentVersion, Page
from archive.records.reading import get_version, view_document
from search.highlight import find_matches
from search.home import OpenIndex
from search.interfaces import InvalidQuery, Node, Snippet, words_of
from search.query import parse_query


@dataclass(frozen=True)
class Box:
    """A matched word's box, in the pixels of the page image as it is shown."""

    left: int
    top: int
    width: int
    height: int


@dataclass(frozen=True)
class ViewerPage:
    document: Document
    version: DocumentVersion
    page: Page
    page_count: int
    q: str
    problem: str | None  # why the query could not be used (the page shows without highlights)
    hits: tuple[int, ...]  # pages of this version matching the query, in order
    boxes: tuple[Box, ...]
    text: Snippet  # the page's whole text, with the matched words marked

    @property
    def previous_hit(self) -> int | None:
        return max((n for n in self.hits if n < self.page.number), default=None)

    @property
    def next_hit(self) -> int | None:
        return min((n for n in self.hits if n > self.page.number), default=None)


def open_page(
    ext: Archive,
    index: OpenIndex,
    principal: Principal,
    document_id: int,
    *,
    version_number: int | None,
    page_number: int | None,
    q: str,
) -> ViewerPage:
    """One page for reading. The document view is audited (and refused for a restricted
    chart without a grant) by view_document; each page image is audited as it is fetched."""
    require(principal, "document.read_work")
    query, problem = _usable_query(q)
    with ext.db.transaction() as session:
        # Before view_document writes its audit event: a refusal is recorded on its own.
        if (target := session.get(Document, document_id)) is not None:
            require_page_access(ext, session, principal, target)
        document = view_document(session, principal, document_id)
        version = get_version(document, version_number or document.latest_version.number)
        pages = list(version.pages)
    if not pages:
        raise NotFound(
            f"Version {version.number} of document {document_id} has no pages to show yet: the "
            f"document is {document.status}."
        )
    hits = _hit_pages(index, query, document_id, version.number)
    number = page_number or (hits[0] if hits else 1)
    if not 1 <= number <= len(pages):
        raise NotFound(
            f"Version {version.number} of document {document_id} has pages 1 to {len(pages)}; "
            f"there is no page {number}."
        )
    page = pages[number - 1]
    matches = find_matches(query, page.text) if query else None
    return ViewerPage(
        document=document,
        version=version,
        page=page,
        page_count=len(pages),
        q=q,
        problem=problem,
        hits=tuple(hits),
        boxes=_boxes(page, matches.terms) if matches else (),
        text=Snippet(page.text, matches.marks if matches else ()),
    )


def _usable_query(q: str) -> tuple[Node | None, str | None]:
    try:
        return parse_query(q), None
    except InvalidQuery as err:
        return None, err.message


def _hit_pages(index: OpenIndex, query: Node | None, document_id: int, version: int) -> list[int]:
    if query is None:
        return []
    return [hit.number for hit in index.get().page_hits(query, document_id, version)]


def _boxes(page: Page, terms: frozenset[str]) -> tuple[Box, ...]:
    """The OCR word boxes of the words that fold to a matched term (a word box holds what
    tesseract read as one word: "pneumonia," or "x-ray" count by their index words)."""
    if not terms:
        return ()
    return tuple(
        Box(left, top, width, height)
        for text, _confidence, left, top, width, height in page.words or ()
        if terms.intersection(words_of(text))
    )

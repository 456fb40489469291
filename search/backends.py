"""Choosing a search index backend, and the result assembly every backend shares.

Backends are imported only when chosen, so a process that uses Tantivy never loads Whoosh.
Both answer a search in the same two steps (see ``search.interfaces``): the document
records give the total and the page of results; then the matching pages of just those
documents are found (Whoosh asks its page records, Tantivy checks the pages' text), and
grouped and highlighted here alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from archive.errors import ArchiveError
from search.highlight import page_hit
from search.interfaces import DocumentHit, Node, SearchIndex, SearchResults

BACKENDS = ("tantivy", "whoosh")


def index_class(kind: str) -> type[SearchIndex]:
    """The backend class ``CHARTVAULT_SEARCH`` names (its SCHEMA_VERSION tells whether an
    existing index was built by it)."""
    if kind == "tantivy":
        from search.tantivy_index import TantivyIndex

        return TantivyIndex
    if kind == "whoosh":
        from search.whoosh_index import WhooshIndex

        return WhooshIndex
    valid = " or ".join(repr(name) for name in BACKENDS)
    raise ArchiveError(f"Unknown CHARTVAULT_SEARCH={kind!r}; use {valid}.")


def open_index(kind: str, path: Path) -> SearchIndex:
    """The index in the directory ``path``, of the backend ``CHARTVAULT_SEARCH`` names."""
    return index_class(kind)(path)


# --- what both backends share ---------------------------------------------------------------------

VersionKey = tuple[int, int]  # (document id, version number)
Page = TypeVar("Page")  # how a backend finds a page's stored text again


@dataclass
class PageMatches(Generic[Page]):
    """The pages of one document version that match the text query."""

    count: int = 0
    best: list[tuple[float, int, Page]] = field(default_factory=list)  # score, number, page


def best_pages(
    candidates: Iterable[tuple[VersionKey, float, int, Page]], per_version: int
) -> dict[VersionKey, PageMatches[Page]]:
    """Every matching page counted per version, and the best ``per_version`` of each kept:
    highest score first, the earlier page first among equals."""
    grouped: dict[VersionKey, PageMatches[Page]] = {}
    for key, score, number, page in candidates:
        matches = grouped.setdefault(key, PageMatches())
        matches.count += 1
        matches.best.append((score, number, page))
    for matches in grouped.values():
        matches.best.sort(key=lambda candidate: (-candidate[0], candidate[1]))
        del matches.best[per_version:]
    return grouped


def results_with_pages(
    total: int,
    hits: Iterable[DocumentHit],
    text: Node,
    matches: Mapping[VersionKey, PageMatches[Page]],
    page_text: Callable[[Page], str],
) -> SearchResults:
    """The search results, each hit given its matching-page count and its best pages,
    highlighted from their stored text."""
    complete = []
    for hit in hits:
        found = matches.get((hit.document_id, hit.version), PageMatches())
        pages = tuple(page_hit(text, number, page_text(page)) for _, number, page in found.best)
        complete.append(dataclasses.replace(hit, pages=pages, matching_pages=found.count))
    return SearchResults(total=total, hits=tuple(complete))

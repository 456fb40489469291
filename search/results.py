"""The result assembly both index backends share.

Both answer a search in the same two steps (see ``search.interfaces``): the document
records give the total and the page of results; then the matching pages of just those
documents are found (Whoosh asks its page records, Tantivy checks the pages' text), and
grouped and highlighted here alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from search.highlight import page_hit
from search.interfaces import DocumentHit, Node, SearchResults

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

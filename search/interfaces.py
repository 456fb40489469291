"""The search index protocol and the values that cross it.

Each backend is named after its technology (``TantivyIndex``, ``WhooshIndex``), chosen by
``CHARTVAULT_SEARCH`` through ``search.backends.open_index``, and runs the same contract tests
(tests/search/test_index_contract.py).

The index holds, for every version of every document, one *document record* (all its
pages' text and its fields: what a search matches, counts and ranks) and one *page record*
per page (its text for the snippets, and with Whoosh an index of it that tells which pages
matched; Tantivy checks the pages of the result documents instead, see
``search.highlight.PageMatcher``). Results are grouped by document because the document
record is what is matched; totals are therefore exact.

Queries arrive parsed (``search.query.parse_query``) as the small tree below, so both
backends answer the same language the same way, and words are split and folded by one rule
(``WORD``): runs of letters and digits, lowercased.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, Protocol, runtime_checkable

from archive.errors import ArchiveError, BadRequest

# What a word is, in the index and in a query alike: letters and digits, nothing else.
WORD = re.compile(r"[^\W_]+")


# On ASCII text one bytes.translate does what WORD needs: every byte that is not a letter or
# a digit becomes a space and every capital its small letter, so a split then gives exactly
# the lowercased words. Bytes, because translating a str looks up a dict per character and
# costs twice as much; nearly every page is ASCII, and pages are split on every search.
ASCII_WORD_BYTES = bytes(
    ord(chr(byte).lower()) if chr(byte).isalnum() else ord(" ") for byte in range(128)
) + bytes(range(128, 256))


def words_of(text: str) -> list[str]:
    """The index terms of ``text``: its words, lowercased."""
    if text.isascii():
        return text.encode().translate(ASCII_WORD_BYTES).decode().split()
    return [w.lower() for w in WORD.findall(text)]


# --- errors ---------------------------------------------------------------------------------


class InvalidQuery(BadRequest):
    """The query text cannot be understood; the message says where and how to fix it."""

    code = "invalid_query"


class IndexUnavailable(ArchiveError):
    """The index cannot be opened or written (missing, corrupt, disk full, another writer)."""

    http_status = 503
    code = "index_unavailable"


class IndexBusy(IndexUnavailable):
    """Another process holds the index's writer lock; try again shortly."""

    code = "index_busy"


# --- the query tree -------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    word: str  # one WORD, lowercased


@dataclass(frozen=True)
class Prefix:
    stem: str  # one WORD, lowercased: `cardio*`


@dataclass(frozen=True)
class Fuzzy:
    word: str  # one WORD, lowercased: `pneumonia~1`
    distance: int  # 1 or 2 (Levenshtein, a transposition counting as one)


@dataclass(frozen=True)
class Phrase:
    words: tuple[str, ...]  # two or more WORDs, lowercased, adjacent and in this order


@dataclass(frozen=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """Everything that does not match ``part``. Only ever appears inside an ``And`` with at
    least one positive part (the parser refuses a query that is nothing but exclusions)."""

    part: Node


Node = Term | Prefix | Fuzzy | Phrase | And | Or | Not


# --- what is indexed ------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexedPage:
    number: int  # 1-based
    text: str  # OCR or text-layer text ("" for a blank page)


@dataclass(frozen=True)
class IndexedVersion:
    """One version of a document, as the index knows it."""

    document_id: int
    version: int
    latest: bool  # the document's newest version
    patient_id: int
    mrn: str
    patient_name: str  # "DOE, JANE"
    doc_type: str
    department: str  # "" when none
    date_of_service: date | None
    icd_codes: tuple[str, ...]  # normalised, upper case with the dot: "J18.9"
    restricted: bool  # the patient is restricted
    pages: tuple[IndexedPage, ...]
    # A digest of everything above (search.indexer.fingerprint): the reconcile job compares
    # it with the database's to find documents whose index records have drifted.
    fingerprint: str


# --- what is asked --------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """What the asking user may see. Documents of restricted patients are left out unless
    the patient is in ``restricted_patient_ids`` (a break-the-glass grant in force)."""

    restricted_patient_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class SearchQuery:
    text: Node | None  # None: every document that passes the filters (no page hits)
    access: Access
    mrn: str | None = None
    doc_type: str | None = None
    department: str | None = None  # exact, case-insensitive
    icd_code: str | None = None  # exact, as normalised in IndexedVersion
    date_from: date | None = None  # inclusive; documents without a date never pass a range
    date_to: date | None = None  # inclusive
    document_id: int | None = None
    all_versions: bool = False  # False: only each document's latest version
    sort: Literal["relevance", "date"] = "relevance"  # date: newest date of service first
    offset: int = 0
    limit: int = 20
    pages_per_hit: int = 3  # best matching pages returned per document (with snippets)


@dataclass(frozen=True)
class Snippet:
    """A passage of a page's text; ``marks`` are [start, end) offsets into ``text`` of the
    matched words. Plain text: ``search.highlight.snippet_html`` escapes it for display."""

    text: str
    marks: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class PageHit:
    number: int
    snippet: Snippet
    # The distinct index terms that matched on this page (lowercased words, e.g. the words a
    # fuzzy or prefix query expanded to): the viewer boxes the OCR words that fold to them.
    terms: frozenset[str]


@dataclass(frozen=True)
class DocumentHit:
    document_id: int
    version: int
    latest: bool
    patient_id: int
    mrn: str
    patient_name: str
    doc_type: str
    department: str
    date_of_service: date | None
    score: float
    pages: tuple[PageHit, ...]  # best first, at most SearchQuery.pages_per_hit
    matching_pages: int  # how many pages of this version match in all


@dataclass(frozen=True)
class SearchResults:
    total: int  # every matching document (version) that passes filters and access
    hits: tuple[DocumentHit, ...] = field(default_factory=tuple)


# --- the protocol ---------------------------------------------------------------------------


@runtime_checkable
class SearchIndex(Protocol):
    """A full-text index of page text with document fields, in one directory.

    Many readers (in several processes) may search while one writer writes; a second writer
    gets ``IndexBusy``. Any backend failure is raised as ``IndexUnavailable`` (``from`` the
    cause); a malformed query never reaches a backend (the parser raises ``InvalidQuery``).
    """

    SCHEMA_VERSION: int  # bumped whenever what is stored changes: a rebuild is then due

    def replace_documents(self, documents: Mapping[int, Sequence[IndexedVersion]]) -> None:
        """For each document id, remove every record of that document and add the records
        of the given versions (an empty sequence removes the document). Atomic and durable:
        when this returns, the whole batch is committed and the next ``search`` sees it; if
        it raises, none of the batch is visible."""
        ...

    def load(self, batches: Iterable[Mapping[int, Sequence[IndexedVersion]]]) -> None:
        """Add every batch's versions to this index, which holds none of their documents
        yet (a rebuild's new index): one writer and one commit for all of them, where a
        commit per batch would merge the growing index again each time. Nothing is visible
        until it returns; if it raises, nothing is."""
        ...

    def search(self, query: SearchQuery) -> SearchResults:
        """Matching document versions that pass the filters and ``query.access``, best
        first (or newest date of service first), from ``offset``, at most ``limit``; each
        with its best matching pages and their snippets. ``total`` counts them all."""
        ...

    def page_hits(self, text: Node, document_id: int, version: int) -> list[PageHit]:
        """Every page of that document version that matches ``text``, in page order (for
        the viewer's next/previous hit). Access is checked by the caller, on the document."""
        ...

    def fingerprints(self) -> dict[int, dict[int, str]]:
        """document id -> {version number -> fingerprint} of everything indexed."""
        ...

    def close(self) -> None:
        """Release files and locks; the object is not used afterwards."""
        ...

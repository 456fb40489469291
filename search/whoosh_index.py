"""The Whoosh backend: pure Python, slow, kept so the benchmark can show why Tantivy.

Same layout as ``search.tantivy_index``: document and page records in one index, told
apart by ``record``. Whoosh indexes one value per field, so a document record joins its
pages with a form feed, which the tokenizer turns into a position gap (a phrase never runs
from one page into the next). Whoosh's own analyzers drop stop words and short words, and
its fuzzy query counts a swap of neighbouring letters as two edits, so words are split by
``WordTokenizer`` below and fuzzy words are expanded here (``_fuzzy_terms``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path

from whoosh import fields, index, query, sorting, writing
from whoosh.analysis import Token, Tokenizer
from whoosh.reading import IndexReader
from whoosh.searching import Searcher

from search.highlight import page_hit, within_distance
from search.interfaces import (
    WORD,
    And,
    DocumentHit,
    Fuzzy,
    IndexBusy,
    IndexedVersion,
    IndexUnavailable,
    Node,
    Not,
    Or,
    PageHit,
    Phrase,
    Prefix,
    SearchQuery,
    SearchResults,
    Term,
)
from search.results import PageMatches, VersionKey, best_pages, results_with_pages

DOCUMENT = "document"
PAGE = "page"
PAGE_BREAK = "\f"
WRITER_MEMORY_MB = 256
_ENGINE_ERRORS = (OSError, index.IndexError)  # what Whoosh raises when the index fails


class WordTokenizer(Tokenizer):
    """``interfaces.WORD`` runs, lowercased; with ``page_break`` set, that character
    leaves a one-position gap. Whoosh pickles the schema, and this class with it, into
    the index: keep its import path stable or bump SCHEMA_VERSION."""

    def __init__(self, page_break: str | None = None):
        self.page_break = page_break

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WordTokenizer) and other.page_break == self.page_break

    def __hash__(self) -> int:
        return hash((WordTokenizer, self.page_break))

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        mode: str = "",
        **kwargs: object,
    ) -> Iterator[Token]:
        # Whoosh's protocol: one Token object, updated and yielded again for every word.
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        position = start_pos
        for number, (offset, text) in enumerate(self._pages(value)):
            if number:
                position += 1  # the gap a page break leaves
            for match in WORD.finditer(text):
                token.text = match.group().lower()
                token.boost = 1.0
                token.stopped = False
                if keeporiginal:
                    token.original = match.group()
                if positions:
                    token.pos = position
                if chars:
                    token.startchar = start_char + offset + match.start()
                    token.endchar = start_char + offset + match.end()
                position += 1
                yield token

    def _pages(self, value: str) -> Iterator[tuple[int, str]]:
        """(offset, text) of each page in ``value``; ``value`` whole without page breaks."""
        if self.page_break is None:
            yield 0, value
            return
        offset = 0
        for text in value.split(self.page_break):
            yield offset, text
            offset += len(text) + len(self.page_break)


def _schema() -> fields.Schema:
    def number(bits: int, **options: int) -> fields.NUMERIC:
        return fields.NUMERIC(int, bits=bits, signed=False, **options)

    return fields.Schema(
        record=fields.ID(),
        document_id=number(64, stored=True, sortable=True),
        version=number(32, stored=True),
        latest=fields.BOOLEAN(stored=True),
        patient_id=number(64, stored=True),
        restricted=fields.BOOLEAN(),
        mrn=fields.ID(stored=True),
        patient_name=fields.STORED(),
        doc_type=fields.ID(stored=True),
        department=fields.STORED(),
        department_key=fields.ID(),  # casefolded
        icd_code=fields.KEYWORD(lowercase=False, scorable=False),  # codes, space-separated
        # The date as an ordinal (0: none). Whoosh's tiered numeric ranges (shift_step > 0)
        # return documents outside wide ranges; one plain term range is exact.
        date_ordinal=number(32, stored=True, sortable=True, shift_step=0),
        fingerprint=fields.STORED(),
        document_text=fields.TEXT(analyzer=WordTokenizer(PAGE_BREAK), phrase=True),
        page_number=number(32, stored=True, sortable=True),
        page_text=fields.TEXT(analyzer=WordTokenizer(), phrase=True, stored=True),
    )


class WhooshIndex:
    SCHEMA_VERSION = 2  # 2: BLAKE2b fingerprints

    def __init__(self, path: Path):
        self._path = path
        try:
            path.mkdir(parents=True, exist_ok=True)
            if index.exists_in(str(path)):
                self._index = index.open_dir(str(path))
            else:
                self._index = index.create_in(str(path), _schema())
        except _ENGINE_ERRORS as error:
            raise IndexUnavailable(
                f"The search index in {path} cannot be opened (it may be damaged); rebuild "
                "it with `chartvault reindex`."
            ) from error

    # --- writing ----------------------------------------------------------------------------

    def replace_documents(self, documents: Mapping[int, Sequence[IndexedVersion]]) -> None:
        with self._writer() as writer:
            for document_id in documents:
                writer.delete_by_query(query.Term("document_id", document_id))
            _add_records(writer, documents)

    def load(self, batches: Iterable[Mapping[int, Sequence[IndexedVersion]]]) -> None:
        with self._writer() as writer:
            for documents in batches:
                _add_records(writer, documents)

    @contextlib.contextmanager
    def _writer(self) -> Iterator[writing.IndexWriter]:
        """A writer that commits (durably) when the block ends and cancels if it raises."""
        with self._engine_errors("written"):
            try:
                writer = self._index.writer(limitmb=WRITER_MEMORY_MB)
            except index.LockError as error:
                raise IndexBusy(
                    "The search index is being updated by another process; try again shortly."
                ) from error
            try:
                yield writer
                writer.commit()
            except BaseException:
                if not writer.is_closed:  # a commit that failed midway: let the lock go
                    writer.cancel()
                raise
            _make_durable(self._path)

    # --- searching --------------------------------------------------------------------------

    def search(self, search_query: SearchQuery) -> SearchResults:
        with self._engine_errors("searched"), self._index.searcher() as searcher:
            queries = _TextQueries(searcher.reader())
            total, hits = _documents(searcher, queries, search_query)
            text = search_query.text
            if text is None or not hits:
                return SearchResults(total=total, hits=tuple(hits))
            keys = [(hit.document_id, hit.version) for hit in hits]
            matches = _page_matches(
                searcher, queries.of("page_text", text), keys, search_query.pages_per_hit
            )
            return results_with_pages(
                total,
                hits,
                text,
                matches,
                lambda number: searcher.stored_fields(number)["page_text"],
            )

    def page_hits(self, text: Node, document_id: int, version: int) -> list[PageHit]:
        with self._engine_errors("searched"), self._index.searcher() as searcher:
            found = searcher.search(
                _TextQueries(searcher.reader()).of("page_text", text),
                filter=_pages_of([(document_id, version)]),
                limit=None,
                sortedby="page_number",
            )
            return [page_hit(text, hit["page_number"], hit["page_text"]) for hit in found]

    def fingerprints(self) -> dict[int, dict[int, str]]:
        with self._engine_errors("read"), self._index.searcher() as searcher:
            fingerprints: dict[int, dict[int, str]] = {}
            for hit in searcher.search(query.Term("record", DOCUMENT), limit=None, scored=False):
                versions = fingerprints.setdefault(hit["document_id"], {})
                versions[hit["version"]] = hit["fingerprint"]
            return fingerprints

    def close(self) -> None:
        self._index.close()

    @contextlib.contextmanager
    def _engine_errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except _ENGINE_ERRORS as error:
            raise IndexUnavailable(
                f"The search index in {self._path} could not be {doing}; try again, and if "
                "this persists ask an administrator to check the disk and rebuild the index."
            ) from error


# --- records --------------------------------------------------------------------------------------


def _document_record(version: IndexedVersion) -> dict[str, object]:
    date_of_service = version.date_of_service
    return {
        "record": DOCUMENT,
        "document_id": version.document_id,
        "version": version.version,
        "latest": version.latest,
        "patient_id": version.patient_id,
        "restricted": version.restricted,
        "mrn": version.mrn,
        "patient_name": version.patient_name,
        "doc_type": version.doc_type,
        "department": version.department,
        "department_key": version.department.casefold(),
        "icd_code": " ".join(version.icd_codes),
        "date_ordinal": date_of_service.toordinal() if date_of_service else 0,
        "fingerprint": version.fingerprint,
        # A form feed inside a page is an ordinary separator, not a page break.
        "document_text": PAGE_BREAK.join(
            page.text.replace(PAGE_BREAK, " ") for page in version.pages
        ),
    }


def _page_record(version: IndexedVersion, number: int, text: str) -> dict[str, object]:
    return {
        "record": PAGE,
        "document_id": version.document_id,
        "version": version.version,
        "page_number": number,
        "page_text": text,
    }


def _add_records(writer: writing.IndexWriter, documents: Mapping[int, Sequence[IndexedVersion]]):
    for versions in documents.values():
        for version in versions:
            writer.add_document(**_document_record(version))
            for page in version.pages:
                writer.add_document(**_page_record(version, page.number, page.text))


def _make_durable(directory: Path) -> None:
    """Whoosh does not fsync: flush the index's files and directory so a commit survives
    a power cut."""
    for entry in os.scandir(directory):
        if entry.is_file():
            descriptor = os.open(entry.path, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# --- queries --------------------------------------------------------------------------------------


def _documents(
    searcher: Searcher, queries: _TextQueries, search_query: SearchQuery
) -> tuple[int, list[DocumentHit]]:
    text = search_query.text
    matching = query.Every() if text is None else queries.of("document_text", text)
    by_date = search_query.sort == "date" or text is None
    newest_first = [
        sorting.FieldFacet("date_ordinal", reverse=True),
        sorting.FieldFacet("document_id", reverse=True),
    ]
    found = searcher.search(
        matching,
        filter=_document_filters(search_query),
        limit=max(search_query.offset + search_query.limit, 1),
        sortedby=newest_first if by_date else None,
    )
    window = found[search_query.offset : search_query.offset + search_query.limit]
    hits = [_document_hit(hit.fields(), 0.0 if by_date else hit.score) for hit in window]
    return len(found), hits


def _document_filters(search_query: SearchQuery) -> query.Query:
    clauses: list[query.Query] = [query.Term("record", DOCUMENT), _access(search_query)]
    if not search_query.all_versions:
        clauses.append(query.Term("latest", True))
    department = search_query.department
    exact = {
        "mrn": search_query.mrn,
        "doc_type": search_query.doc_type,
        "icd_code": search_query.icd_code,
        "document_id": search_query.document_id,
        "department_key": None if department is None else department.casefold(),
    }
    clauses.extend(query.Term(name, value) for name, value in exact.items() if value is not None)
    if search_query.date_from is not None or search_query.date_to is not None:
        clauses.append(
            query.NumericRange(
                "date_ordinal",
                # An undated document has ordinal 0, below every lower bound.
                search_query.date_from.toordinal() if search_query.date_from else 1,
                search_query.date_to.toordinal() if search_query.date_to else None,
            )
        )
    return query.And(clauses)


def _access(search_query: SearchQuery) -> query.Query:
    """Not restricted, or the patient is one the user holds a grant for."""
    allowed = [query.Term("restricted", False)]
    allowed.extend(
        query.Term("patient_id", patient_id)
        for patient_id in sorted(search_query.access.restricted_patient_ids)
    )
    return query.Or(allowed)


class _TextQueries:
    """Whoosh queries for query trees, for one searcher. A fuzzy word is expanded once
    per search: the document and page text fields hold the same words."""

    def __init__(self, reader: IndexReader):
        self._reader = reader
        self._fuzzy_words: dict[Fuzzy, list[str]] = {}

    def of(self, field: str, node: Node) -> query.Query:
        if isinstance(node, Term):
            return query.Term(field, node.word)
        if isinstance(node, Prefix):
            return query.Prefix(field, node.stem)
        if isinstance(node, Fuzzy):
            words = self._expanded(node)
            if not words:
                return query.NullQuery
            return query.Or([query.Term(field, word) for word in words])
        if isinstance(node, Phrase):
            return query.Phrase(field, list(node.words))
        if isinstance(node, Or):
            return query.Or([self.of(field, part) for part in node.parts])
        if isinstance(node, And):
            wanted = [self.of(field, part) for part in node.parts if not isinstance(part, Not)]
            unwanted = [self.of(field, part.part) for part in node.parts if isinstance(part, Not)]
            if not unwanted:
                return query.And(wanted)
            return query.AndNot(query.And(wanted), query.Or(unwanted))
        raise ValueError(f"a Not outside an And cannot be searched: {node!r}")

    def _expanded(self, fuzzy: Fuzzy) -> list[str]:
        if fuzzy not in self._fuzzy_words:
            self._fuzzy_words[fuzzy] = sorted(
                _fuzzy_terms(self._reader, "page_text", fuzzy.word, fuzzy.distance)
            )
        return self._fuzzy_words[fuzzy]


def _fuzzy_terms(reader: IndexReader, field: str, word: str, distance: int) -> set[str]:
    """The indexed words within ``distance`` of ``word``, a swap of neighbouring letters
    counting one edit as in Tantivy: Whoosh's Levenshtein candidates, plus those of each
    swapped spelling with one edit fewer, then checked exactly."""
    candidates = _edit_candidates(reader, field, word, distance)
    return {candidate for candidate in candidates if within_distance(word, candidate, distance)}


def _edit_candidates(reader: IndexReader, field: str, word: str, distance: int) -> set[str]:
    if distance == 0:
        return {word} if (field, word) in reader else set()
    # Each segment's reader walks its own term dictionary with an automaton; the combined
    # reader would instead compare the word with every term in Python.
    candidates = {
        term
        for segment, _ in reader.leaf_readers()
        for term in segment.terms_within(field, word, distance)
    }
    for swapped in _neighbour_swaps(word):
        candidates |= _edit_candidates(reader, field, swapped, distance - 1)
    return candidates


def _neighbour_swaps(word: str) -> Iterator[str]:
    for first in range(len(word) - 1):
        if word[first] != word[first + 1]:
            yield word[:first] + word[first + 1] + word[first] + word[first + 2 :]


# --- pages ----------------------------------------------------------------------------------------


def _pages_of(keys: Iterable[VersionKey]) -> query.Query:
    versions = query.Or(
        [
            query.And([query.Term("document_id", document_id), query.Term("version", version)])
            for document_id, version in keys
        ]
    )
    return query.And([query.Term("record", PAGE), versions])


def _page_matches(
    searcher: Searcher, text: query.Query, keys: list[VersionKey], per_version: int
) -> Mapping[VersionKey, PageMatches[int]]:
    found = searcher.search(text, filter=_pages_of(keys), limit=None)
    candidates = (
        ((hit["document_id"], hit["version"]), hit.score, hit["page_number"], hit.docnum)
        for hit in found
    )
    return best_pages(candidates, per_version)


def _document_hit(stored: Mapping[str, object], score: float) -> DocumentHit:
    ordinal = stored["date_ordinal"]
    return DocumentHit(
        document_id=stored["document_id"],
        version=stored["version"],
        latest=stored["latest"],
        patient_id=stored["patient_id"],
        mrn=stored["mrn"],
        patient_name=stored["patient_name"],
        doc_type=stored["doc_type"],
        department=stored["department"],
        date_of_service=date.fromordinal(ordinal) if ordinal else None,
        score=score,
        pages=(),
        matching_pages=0,
    )

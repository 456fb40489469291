"""The Tantivy backend: the embedded default, fast enough for a million pages.

Layout: one Tantivy index in the directory, holding both record kinds of
``search.interfaces`` told apart by the ``record`` field. A document record indexes every
page's text as a separate value of ``document_text`` (Tantivy leaves a position gap between
values, so a phrase never runs from one page into the next) and stores only the fields a
result shows. A page record stores its page's text without indexing it: which pages of a
result document match is decided from their text by ``search.highlight.PageMatcher``, since
indexing every page a second time took a third of a rebuild's CPU (bench/README.md). Queries
are built from the parsed tree, never from text, and filters are added as zero-scoring
clauses so that they narrow without changing the ranking.

A phrase of common words is the slow query; ``search.common_pairs`` says how each document
record's ``document_pairs`` field helps it.

Words are split by Tantivy's ``SimpleTokenizer`` (runs of characters for which Rust's
``char::is_alphanumeric`` holds) and lowercased: the same rule as ``interfaces.WORD``, and
unlike the ``default`` tokenizer, no word is dropped for being long.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path

import tantivy
from tantivy import Occur, Query

from search.common_pairs import RUN_BREAK, common_pairs, page_pairs
from search.highlight import PageMatcher, page_hit
from search.interfaces import (
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

WORDS = "chartvault_words"  # the tokenizer names, registered on every open
PAIRS = "chartvault_pairs"
DOCUMENT = "document"
PAGE = "page"
WRITER_HEAP_BYTES = 128_000_000  # split among the writer's threads (at least 15 MB each)
# A rebuild writes the whole archive with one writer: its heap sets the size of the segments
# it flushes, and fewer, larger segments leave less to merge afterwards.
BULK_HEAP_BYTES = 512_000_000
# Our own writer lock beside Tantivy's: a second writer must be told "busy" by a typed
# error, and Tantivy reports its lock failure only as a ValueError.
WRITER_LOCK = "chartvault-writer.lock"
_ENGINE_ERRORS = (OSError, ValueError)  # what tantivy-py raises when the index fails


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("record", tokenizer_name="raw")
    builder.add_unsigned_field("document_id", stored=True, indexed=True, fast=True)
    builder.add_unsigned_field("version", stored=True, indexed=True, fast=True)
    builder.add_boolean_field("latest", stored=True, indexed=True)
    builder.add_unsigned_field("patient_id", stored=True, indexed=True)
    builder.add_boolean_field("restricted", indexed=True)
    builder.add_text_field("mrn", stored=True, tokenizer_name="raw")
    builder.add_text_field("patient_name", stored=True, tokenizer_name="raw")
    builder.add_text_field("doc_type", stored=True, tokenizer_name="raw")
    builder.add_text_field("department", stored=True, tokenizer_name="raw")
    builder.add_text_field("department_key", tokenizer_name="raw")  # casefolded
    builder.add_text_field("icd_code", tokenizer_name="raw")  # one value per code
    builder.add_unsigned_field("date_ordinal", stored=True, indexed=True, fast=True)  # 0: none
    builder.add_unsigned_field("date_rank", fast=True)
    builder.add_text_field("fingerprint", stored=True, tokenizer_name="raw")
    builder.add_text_field("document_text", tokenizer_name=WORDS)
    # Positions too: a phrase of common words is a phrase of their pairs.
    builder.add_text_field("document_pairs", tokenizer_name=PAIRS, index_option="position")
    builder.add_unsigned_field("page_number", fast=True)
    builder.add_bytes_field("page_text", stored=True)  # UTF-8; read, never searched
    return builder.build()


def _words_analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.lowercase())
        .build()
    )


def _pairs_analyzer() -> tantivy.TextAnalyzer:
    """The terms of ``common_pairs.page_pairs``. A run break is dropped, but the whitespace
    tokenizer has already counted it, so it leaves a gap in the positions."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace())
        .filter(tantivy.Filter.custom_stopword([RUN_BREAK]))
        .build()
    )


def date_rank(date_of_service: date | None, document_id: int) -> int:
    """The sort key of "newest date of service first": the date in the high bits and the
    document id below it (the newer document first on the same day); 0 without a date, so
    undated documents come last."""
    if date_of_service is None:
        return 0
    return date_of_service.toordinal() << 32 | document_id


class TantivyIndex:
    # 2: every pair of words; 3: none; 4: pairs of common words; 5: BLAKE2b fingerprints;
    # 6: page records store their text without indexing it; 7: pairs with positions
    SCHEMA_VERSION = 7

    def __init__(self, path: Path):
        self._path = path
        self._schema = _schema()
        self._commit_seen: tuple[int, int, int] | None = None
        try:
            path.mkdir(parents=True, exist_ok=True)
            self._index = tantivy.Index(self._schema, path=str(path), reuse=True)
        except _ENGINE_ERRORS as error:
            raise IndexUnavailable(
                f"The search index in {path} cannot be opened (it may be damaged); rebuild "
                "it with `chartvault reindex`."
            ) from error
        self._index.register_tokenizer(WORDS, _words_analyzer())
        self._index.register_tokenizer(PAIRS, _pairs_analyzer())
        # Reloaded by hand before each search (see _searcher): the writer is another process.
        self._index.config_reader(reload_policy="Manual")

    # --- writing ----------------------------------------------------------------------------

    def replace_documents(self, documents: Mapping[int, Sequence[IndexedVersion]]) -> None:
        with self._writer(WRITER_HEAP_BYTES) as writer:
            # By query: delete_documents_by_term takes a Python int for a signed term,
            # which never equals the unsigned document_id.
            writer.delete_documents_by_query(
                Query.term_set_query(self._schema, "document_id", list(documents))
            )
            _add_records(writer, documents)

    def load(self, batches: Iterable[Mapping[int, Sequence[IndexedVersion]]]) -> None:
        with self._writer(BULK_HEAP_BYTES) as writer:
            for documents in batches:
                _add_records(writer, documents)

    @contextlib.contextmanager
    def _writer(self, heap_size: int) -> Iterator[tantivy.IndexWriter]:
        """A writer that commits when the block ends and rolls back if it raises."""
        with _writer_lock(self._path / WRITER_LOCK), self._engine_errors("written"):
            writer = self._index.writer(heap_size=heap_size)
            try:
                yield writer
                writer.commit()
            except BaseException:
                writer.rollback()
                raise
            finally:
                writer.wait_merging_threads()  # lets merges finish, then frees the lock

    # --- searching --------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> SearchResults:
        with self._engine_errors("searched"):
            searcher = self._searcher()
            total, hits = self._documents(searcher, query)
            if query.text is None or not hits:
                return SearchResults(total=total, hits=tuple(hits))
            keys = [(hit.document_id, hit.version) for hit in hits]
            matches = self._page_matches(searcher, query.text, keys, query.pages_per_hit)
            return results_with_pages(total, hits, query.text, matches, lambda text: text)

    def _documents(
        self, searcher: tantivy.Searcher, query: SearchQuery
    ) -> tuple[int, list[DocumentHit]]:
        filters = _zero_scoring(self._document_filters(query))
        if query.text is None:
            matching = filters
        else:
            text = self._text_query("document_text", query.text)
            matching = Query.boolean_query([(Occur.Must, text), (Occur.Must, filters)])
        by_date = query.sort == "date" or query.text is None  # no score to rank by
        found = searcher.search(
            matching,
            limit=max(query.limit, 1),  # Tantivy refuses 0; the count is still wanted
            offset=query.offset,
            count=True,
            **({"order_by_field": "date_rank", "order": tantivy.Order.Desc} if by_date else {}),
        )
        hits = [
            _document_hit(searcher.doc(address), 0.0 if by_date else score)
            for score, address in found.hits[: query.limit]
        ]
        return found.count, hits

    def _document_filters(self, query: SearchQuery) -> Query:
        schema = self._schema
        clauses = [Query.term_query(schema, "record", DOCUMENT), self._access(query)]
        if not query.all_versions:
            clauses.append(Query.term_query(schema, "latest", True))
        exact = {
            "mrn": query.mrn,
            "doc_type": query.doc_type,
            "icd_code": query.icd_code,
            "document_id": query.document_id,
            "department_key": None if query.department is None else query.department.casefold(),
        }
        clauses.extend(
            Query.term_query(schema, name, value)
            for name, value in exact.items()
            if value is not None
        )
        if query.date_from is not None or query.date_to is not None:
            clauses.append(
                Query.range_query(
                    schema,
                    "date_ordinal",
                    tantivy.FieldType.Unsigned,
                    # An undated document has ordinal 0, below every lower bound.
                    lower_bound=query.date_from.toordinal() if query.date_from else 1,
                    upper_bound=query.date_to.toordinal() if query.date_to else None,
                )
            )
        return Query.boolean_query([(Occur.Must, clause) for clause in clauses])

    def _access(self, query: SearchQuery) -> Query:
        """Not restricted, or the patient is one the user holds a grant for."""
        allowed = [Query.term_query(self._schema, "restricted", False)]
        granted = sorted(query.access.restricted_patient_ids)
        if granted:
            allowed.append(Query.term_set_query(self._schema, "patient_id", granted))
        return Query.boolean_query([(Occur.Should, clause) for clause in allowed])

    def _text_query(self, field: str, node: Node) -> Query:
        schema = self._schema
        if isinstance(node, Term):
            return Query.term_query(schema, field, node.word)
        if isinstance(node, Prefix):
            # Distance 0 with prefix=True walks only the terms that start with the stem.
            return Query.fuzzy_term_query(schema, field, node.stem, distance=0, prefix=True)
        if isinstance(node, Fuzzy):
            return Query.fuzzy_term_query(
                schema, field, node.word, distance=node.distance, transposition_cost_one=True
            )
        if isinstance(node, Phrase):
            return self._phrase_query(field, node.words)
        if isinstance(node, Or):
            return Query.boolean_query(
                [(Occur.Should, self._text_query(field, part)) for part in node.parts]
            )
        if isinstance(node, And):
            return Query.boolean_query(
                [
                    (Occur.MustNot, self._text_query(field, part.part))
                    if isinstance(part, Not)
                    else (Occur.Must, self._text_query(field, part))
                    for part in node.parts
                ]
            )
        raise ValueError(f"a Not outside an And cannot be searched: {node!r}")

    def _phrase_query(self, field: str, words: tuple[str, ...]) -> Query:
        schema = self._schema
        phrase = Query.phrase_query(schema, field, list(words))
        if field != "document_text":
            return phrase  # page records are only ever searched among a few documents
        pairs = common_pairs(words)
        if not pairs:
            return phrase
        if len(pairs) == len(words) - 1:  # every word is common: the pairs are the phrase
            if len(pairs) == 1:
                return Query.term_query(schema, "document_pairs", pairs[0])
            return Query.phrase_query(schema, "document_pairs", pairs)
        required = [(Occur.Must, Query.term_query(schema, "document_pairs", p)) for p in pairs]
        # The pairs narrow without scoring, so ranking stays the phrase's own.
        return Query.boolean_query(
            [(Occur.Must, _zero_scoring(Query.boolean_query(required))), (Occur.Must, phrase)]
        )

    # --- pages ------------------------------------------------------------------------------

    def _page_matches(
        self, searcher: tantivy.Searcher, text: Node, keys: list[VersionKey], per_version: int
    ) -> Mapping[VersionKey, PageMatches[str]]:
        return best_pages(self._matching_pages(searcher, text, keys), per_version)

    def _matching_pages(
        self, searcher: tantivy.Searcher, text: Node, keys: list[VersionKey]
    ) -> Iterator[tuple[VersionKey, float, int, str]]:
        """(version, score, page number, page text) of each page of the ``keys`` versions
        that ``text`` matches, in page order."""
        matcher = PageMatcher(text)
        for key, number, address in self._pages_of(searcher, keys):
            page_text = _page_text(searcher, address)
            score = matcher.score(page_text)
            if score:
                yield key, float(score), number, page_text

    def _pages_of(
        self, searcher: tantivy.Searcher, keys: list[VersionKey]
    ) -> list[tuple[VersionKey, int, tantivy.DocAddress]]:
        """(version, page number, address) of every page of the ``keys`` versions, in order."""
        schema = self._schema
        of_versions = Query.boolean_query(
            [
                (
                    Occur.Should,
                    Query.boolean_query(
                        [
                            (Occur.Must, Query.term_query(schema, "document_id", document_id)),
                            (Occur.Must, Query.term_query(schema, "version", version)),
                        ]
                    ),
                )
                for document_id, version in keys
            ]
        )
        query = Query.boolean_query(
            [(Occur.Must, Query.term_query(schema, "record", PAGE)), (Occur.Must, of_versions)]
        )
        count = searcher.search(query, limit=1, count=True).count
        if not count:
            return []
        addresses = [address for _, address in searcher.search(query, limit=count).hits]
        # From fast fields, in three batched calls, rather than by loading each record.
        document_ids = searcher.fast_field_values("document_id", addresses)
        versions = searcher.fast_field_values("version", addresses)
        numbers = searcher.fast_field_values("page_number", addresses)
        keys_of_pages = zip(document_ids, versions, strict=True)
        return sorted(zip(keys_of_pages, numbers, addresses, strict=True), key=lambda p: p[:2])

    def page_hits(self, text: Node, document_id: int, version: int) -> list[PageHit]:
        with self._engine_errors("searched"):
            searcher = self._searcher()
            pages = self._matching_pages(searcher, text, [(document_id, version)])
            return [page_hit(text, number, page_text) for _, _, number, page_text in pages]

    # --- housekeeping -----------------------------------------------------------------------

    def fingerprints(self) -> dict[int, dict[int, str]]:
        with self._engine_errors("read"):
            searcher = self._searcher()
            documents = Query.term_query(self._schema, "record", DOCUMENT)
            count = searcher.search(documents, limit=1, count=True).count
            if not count:
                return {}
            fingerprints: dict[int, dict[int, str]] = {}
            for _, address in searcher.search(documents, limit=count).hits:
                record = searcher.doc(address)
                versions = fingerprints.setdefault(record.get_first("document_id"), {})
                versions[record.get_first("version")] = record.get_first("fingerprint")
            return fingerprints

    def close(self) -> None:
        # tantivy-py frees the index's files and threads when the object is dropped.
        del self._index

    def _searcher(self) -> tantivy.Searcher:
        """A searcher on the latest commit, whichever process made it. Tantivy replaces
        meta.json on every commit, so its identity tells whether reloading (which reopens
        every segment) is needed."""
        meta = os.stat(self._path / "meta.json")
        commit = (meta.st_ino, meta.st_mtime_ns, meta.st_size)
        if commit != self._commit_seen:
            self._index.reload()
            self._commit_seen = commit
        return self._index.searcher()

    @contextlib.contextmanager
    def _engine_errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except _ENGINE_ERRORS as error:
            raise IndexUnavailable(
                f"The search index in {self._path} could not be {doing}; try again, and if "
                "this persists ask an administrator to check the disk and rebuild the index."
            ) from error


# --- records and helpers --------------------------------------------------------------------------


def _document_record(version: IndexedVersion) -> tantivy.Document:
    record = tantivy.Document()
    record.add_text("record", DOCUMENT)
    record.add_unsigned("document_id", version.document_id)
    record.add_unsigned("version", version.version)
    record.add_boolean("latest", version.latest)
    record.add_unsigned("patient_id", version.patient_id)
    record.add_boolean("restricted", version.restricted)
    record.add_text("mrn", version.mrn)
    record.add_text("patient_name", version.patient_name)
    record.add_text("doc_type", version.doc_type)
    record.add_text("department", version.department)
    record.add_text("department_key", version.department.casefold())
    for code in version.icd_codes:
        record.add_text("icd_code", code)
    date_of_service = version.date_of_service
    record.add_unsigned("date_ordinal", date_of_service.toordinal() if date_of_service else 0)
    record.add_unsigned("date_rank", date_rank(date_of_service, version.document_id))
    record.add_text("fingerprint", version.fingerprint)
    for page in version.pages:
        record.add_text("document_text", page.text)
        record.add_text("document_pairs", page_pairs(page.text))
    return record


def _add_records(writer: tantivy.IndexWriter, documents: Mapping[int, Sequence[IndexedVersion]]):
    versions = [version for batch in documents.values() for version in batch]
    # Document records first: they are then stored together, away from the long page
    # texts, and reading them (results, fingerprints) stays cheap.
    for version in versions:
        writer.add_document(_document_record(version))
    for version in versions:
        for page in version.pages:
            writer.add_document(_page_record(version, page.number, page.text))


def _page_record(version: IndexedVersion, number: int, text: str) -> tantivy.Document:
    record = tantivy.Document()
    record.add_text("record", PAGE)
    record.add_unsigned("document_id", version.document_id)
    record.add_unsigned("version", version.version)
    record.add_unsigned("page_number", number)
    record.add_bytes("page_text", text.encode())
    return record


@contextlib.contextmanager
def _writer_lock(path: Path) -> Iterator[None]:
    try:
        handle = path.open("a")
    except OSError as error:
        raise IndexUnavailable(f"The search index lock {path} cannot be opened.") from error
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise IndexBusy(
                "The search index is being updated by another process; try again shortly."
            ) from error
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _zero_scoring(query: Query) -> Query:
    return Query.const_score_query(query, 0.0)


def _document_hit(record: tantivy.Document, score: float) -> DocumentHit:
    ordinal = record.get_first("date_ordinal")
    return DocumentHit(
        document_id=record.get_first("document_id"),
        version=record.get_first("version"),
        latest=record.get_first("latest"),
        patient_id=record.get_first("patient_id"),
        mrn=record.get_first("mrn"),
        patient_name=record.get_first("patient_name"),
        doc_type=record.get_first("doc_type"),
        department=record.get_first("department"),
        date_of_service=date.fromordinal(ordinal) if ordinal else None,
        score=score,
        pages=(),
        matching_pages=0,
    )


def _page_text(searcher: tantivy.Searcher, address: tantivy.DocAddress) -> str:
    return searcher.doc(address).get_first("page_text").decode()

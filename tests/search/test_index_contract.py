"""The SearchIndex contract, run against every backend (the ``search_index`` fixture):
the query language, filters, access, versions, ordering, pagination, grouping by
document, snippets, writes and their visibility to other index objects."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from archive.errors import ArchiveError
from search.backends import BACKENDS, index_class, open_index
from search.highlight import snippet_html
from search.interfaces import (
    Access,
    IndexBusy,
    IndexedPage,
    IndexedVersion,
    IndexUnavailable,
    SearchIndex,
    SearchQuery,
    SearchResults,
    Term,
)
from search.query import parse_query

# --- a small archive ------------------------------------------------------------------------------

DISCHARGE = 1
OPERATIVE = 2
OCR_NOTE = 3
CARDIOLOGY = 4
UNDATED = 5

DISCHARGE_PAGES = (
    "DISCHARGE SUMMARY\nAdmitted with community acquired pneumonia of the right lower lobe.\n"
    "Presenting complaint: fever, productive cough and acute",
    "appendicitis was excluded on ultrasound. Chest x-ray: consolidation, right lower lobe.\n"
    "Treated with intravenous ceftriaxone and azithromycin.",
    "Discharged home on oral amoxicillin. Follow up with cardiology in two weeks.\n"
    "Diagnosis: pneumonia. Patient education about pneumonia and pneumonia vaccination given.",
)
OPERATIVE_PAGES = (
    "OPERATIVE REPORT\nProcedure: laparoscopic cholecystectomy under general anesthesia.\n"
    "Findings: chronic cholecystitis. Estimated blood loss minimal. No complications.",
)
OCR_PAGES = (  # a scan read with OCR errors, as they come
    "PROGRESS NOTE\nPatient improving, pnuemonia resolving, afebrile overnight.",
    "Continue metopr0lo1 25 mg twice daily. Dr. Müller reviewed the chart.",
)
CARDIOLOGY_PAGES = (
    "CARDIOLOGY CONSULTATION\nEchocardiogram shows mild mitral regurgitation and "
    "cardiomyopathy. Atrial fibrillation, rate controlled.",
)
UNDATED_PAGES = ("Undated referral letter regarding pneumonia follow up.",)


def chart(document_id: int, pages: Sequence[str], **fields) -> IndexedVersion:
    defaults = {
        "version": 1,
        "latest": True,
        "patient_id": 100,
        "mrn": "MRN-1001",
        "patient_name": "DOE, JANE",
        "doc_type": "discharge_summary",
        "department": "Internal Medicine",
        "date_of_service": date(2024, 3, document_id),
        "icd_codes": (),
        "restricted": False,
        "fingerprint": f"fp-{document_id}-{fields.get('version', 1)}",
    }
    numbered = tuple(IndexedPage(number, text) for number, text in enumerate(pages, start=1))
    return IndexedVersion(document_id=document_id, pages=numbered, **{**defaults, **fields})


LIBRARY = {
    DISCHARGE: chart(DISCHARGE, DISCHARGE_PAGES, icd_codes=("J18.9", "R50.9")),
    OPERATIVE: chart(
        OPERATIVE,
        OPERATIVE_PAGES,
        doc_type="operative_report",
        department="General Surgery",
        mrn="MRN-2002",
        patient_id=200,
        patient_name="ROE, RICHARD",
        icd_codes=("K81.1",),
    ),
    OCR_NOTE: chart(OCR_NOTE, OCR_PAGES, doc_type="progress_note"),
    CARDIOLOGY: chart(
        CARDIOLOGY,
        CARDIOLOGY_PAGES,
        doc_type="consultation",
        department="Cardiology",
        icd_codes=("I48.91",),
    ),
    UNDATED: chart(UNDATED, UNDATED_PAGES, doc_type="referral", date_of_service=None),
}


@pytest.fixture
def library(search_index: SearchIndex) -> SearchIndex:
    search_index.replace_documents(
        {document_id: [version] for document_id, version in LIBRARY.items()}
    )
    return search_index


def search(index: SearchIndex, text: str | None, **options) -> SearchResults:
    access = options.pop("access", Access())
    node = parse_query(text) if text is not None else None
    return index.search(SearchQuery(text=node, access=access, **options))


def found(index: SearchIndex, text: str | None, **options) -> list[int]:
    return [hit.document_id for hit in search(index, text, **options).hits]


def found_set(index: SearchIndex, text: str | None, **options) -> set[int]:
    results = search(index, text, **options)
    assert results.total == len(results.hits)
    return {hit.document_id for hit in results.hits}


# --- the query language ---------------------------------------------------------------------------


def test_the_index_implements_the_protocol(search_index):
    assert isinstance(search_index, SearchIndex)
    assert isinstance(type(search_index).SCHEMA_VERSION, int)


def test_every_word_must_match(library):
    assert found_set(library, "pneumonia amoxicillin") == {DISCHARGE}
    assert found_set(library, "pneumonia cholecystectomy") == set()


def test_words_are_matched_whatever_their_case(library):
    assert found_set(library, "CEFTRIAXONE") == {DISCHARGE}


def test_a_phrase_matches_only_its_words_in_order(library):
    assert found_set(library, '"right lower lobe"') == {DISCHARGE}
    assert found_set(library, '"lower right lobe"') == set()
    assert found_set(library, '"mitral regurgitation"') == {CARDIOLOGY}


def test_a_phrase_never_runs_from_one_page_into_the_next(library):
    # Page 1 of the discharge summary ends "acute", page 2 begins "appendicitis".
    assert found_set(library, '"acute appendicitis"') == set()
    assert found_set(library, "acute appendicitis") == {DISCHARGE}


def test_a_phrase_of_common_words_matches_only_where_they_are_adjacent_on_one_page(
    search_index,
):
    # Tantivy answers these from pairs of common words (search.common_pairs): the same
    # answers as from word positions are expected of both backends.
    search_index.replace_documents(
        {
            1: [chart(1, ["Pain in the left knee."])],
            2: [chart(2, ["The knee on the right; left untreated."])],  # not adjacent
            3: [chart(3, ["Examined the", "left knee on page two."])],  # across a page break
            4: [chart(4, ["THE, LEFT: knee"])],  # punctuation and case between them
            5: [chart(5, ["The patient was seen. The left knee; the patient was discharged."])],
            6: [chart(6, ["Dr. Müller examined the left knee."])],  # not ASCII
            7: [chart(7, ["the patient said the patient was"])],  # a word between the pairs
            8: [chart(8, ["Before the patient", "was seen"])],  # the last pair across pages
            9: [chart(9, ["The patient; Müller said the patient was well."])],
            10: [chart(10, ["the patient knee patient was"])],  # pairs not adjacent
        }
    )
    assert found_set(search_index, '"the left"') == {1, 4, 5, 6}
    assert found_set(search_index, '"the left knee"') == {1, 4, 5, 6}
    assert found_set(search_index, '"the patient was"') == {5, 7, 9}
    assert found_set(search_index, '"the patient said the patient was"') == {7}
    assert found_set(search_index, '"patient the patient"') == set()
    assert found_set(search_index, '"before the patient was"') == set()  # page 2: "was"
    assert found_set(search_index, '"patient the"') == set()
    assert found_set(search_index, '"the right left"') == {2}  # across the semicolon


def test_a_term_of_several_words_is_a_phrase(library):
    assert found_set(library, "X-Ray") == {DISCHARGE}
    assert found_set(library, "ray-x") == set()


def test_or_not_and_grouping(library):
    assert found_set(library, "cholecystectomy OR echocardiogram") == {OPERATIVE, CARDIOLOGY}
    assert found_set(library, "pneumonia") == {DISCHARGE, UNDATED}
    assert found_set(library, "pneumonia -ceftriaxone") == {UNDATED}
    assert found_set(library, 'pneumonia NOT "right lower lobe"') == {UNDATED}
    assert found_set(library, "(cholecystectomy OR pneumonia) -(referral OR amoxicillin)") == {
        OPERATIVE
    }
    assert found_set(library, "fibrillation OR pneumonia ceftriaxone") == {CARDIOLOGY, DISCHARGE}


def test_a_prefix_matches_words_starting_with_it(library):
    assert found_set(library, "cardio*") == {DISCHARGE, CARDIOLOGY}
    assert found_set(library, "cardiom*") == {CARDIOLOGY}
    assert found_set(library, "cholecyst*") == {OPERATIVE}


def test_a_fuzzy_word_finds_ocr_errors(library):
    assert found_set(library, "pneumonia") == {DISCHARGE, UNDATED}
    # "pnuemonia": two neighbouring letters swapped, one edit.
    assert found_set(library, "pneumonia~1") == {DISCHARGE, OCR_NOTE, UNDATED}
    # "metopr0lo1": two letters misread.
    assert found_set(library, "metoprolol~1") == set()
    assert found_set(library, "metoprolol~2") == {OCR_NOTE}


def test_non_ascii_words_are_words(library):
    assert found_set(library, "müller") == {OCR_NOTE}
    assert found_set(library, "MÜLLER") == {OCR_NOTE}
    assert found_set(library, "muller") == set()


def test_long_words_are_indexed_too(search_index):
    # Tantivy's default tokenizer silently drops words over 40 bytes; ours keeps them.
    word = "pneumonoultramicroscopicsilicovolcanoconiosis" + "x" * 20
    search_index.replace_documents({1: [chart(1, [f"Query {word} noted."])]})
    assert found_set(search_index, word) == {1}


def test_underscores_split_words_as_in_the_word_rule(search_index):
    search_index.replace_documents({1: [chart(1, ["lab_result:positive"])]})
    assert found_set(search_index, "result") == {1}
    assert found_set(search_index, '"lab result positive"') == {1}


# --- filters and access ---------------------------------------------------------------------------


def test_no_text_matches_every_document_passing_the_filters(library):
    results = search(library, None)
    assert results.total == len(LIBRARY)
    assert all(hit.pages == () and hit.matching_pages == 0 for hit in results.hits)
    assert found_set(library, None, doc_type="consultation") == {CARDIOLOGY}


def test_filter_by_mrn(library):
    assert found_set(library, None, mrn="MRN-2002") == {OPERATIVE}
    assert found_set(library, "laparoscopic", mrn="MRN-1001") == set()


def test_filter_by_document_type(library):
    assert found_set(library, "pneumonia~1", doc_type="progress_note") == {OCR_NOTE}


def test_filter_by_department_ignores_case(library):
    assert found_set(library, None, department="general surgery") == {OPERATIVE}
    assert found_set(library, None, department="CARDIOLOGY") == {CARDIOLOGY}
    assert found_set(library, None, department="surgery") == set()


def test_filter_by_any_of_a_documents_diagnosis_codes(library):
    assert found_set(library, None, icd_code="R50.9") == {DISCHARGE}
    assert found_set(library, None, icd_code="J18.9") == {DISCHARGE}
    assert found_set(library, None, icd_code="J18") == set()


def test_filter_by_date_of_service_inclusive_with_open_ends(library):
    # Dates of service: 2024-03-01 .. 2024-03-04 by document id; UNDATED has none.
    assert found_set(library, None, date_from=date(2024, 3, 2), date_to=date(2024, 3, 3)) == {
        OPERATIVE,
        OCR_NOTE,
    }
    assert found_set(library, None, date_from=date(2024, 3, 3)) == {OCR_NOTE, CARDIOLOGY}
    assert found_set(library, None, date_to=date(2024, 3, 1)) == {DISCHARGE}
    assert UNDATED in found_set(library, "pneumonia")
    assert UNDATED not in found_set(library, "pneumonia", date_to=date(2030, 1, 1))


def test_filter_by_document_id(library):
    assert found_set(library, "pneumonia", document_id=UNDATED) == {UNDATED}


def test_hits_carry_the_documents_fields(library):
    [hit] = search(library, "cholecystectomy").hits
    assert (hit.document_id, hit.version, hit.latest) == (OPERATIVE, 1, True)
    assert (hit.patient_id, hit.mrn, hit.patient_name) == (200, "MRN-2002", "ROE, RICHARD")
    assert (hit.doc_type, hit.department) == ("operative_report", "General Surgery")
    assert hit.date_of_service == date(2024, 3, 2)
    assert hit.score > 0
    [undated] = search(library, "referral").hits
    assert undated.date_of_service is None


def test_restricted_patients_are_left_out_unless_granted(search_index):
    search_index.replace_documents(
        {
            1: [chart(1, ["HIV clinic note."], patient_id=7, restricted=True)],
            2: [chart(2, ["HIV testing leaflet."], patient_id=8)],
            3: [chart(3, ["HIV clinic follow up."], patient_id=9, restricted=True)],
        }
    )
    assert found_set(search_index, "hiv") == {2}
    assert found_set(search_index, None) == {2}
    granted = Access(restricted_patient_ids=frozenset({7}))
    assert found_set(search_index, "hiv", access=granted) == {1, 2}
    assert found_set(search_index, "hiv", access=Access(frozenset({7, 9}))) == {1, 2, 3}
    assert found_set(search_index, "hiv", access=Access(frozenset({8}))) == {2}


# --- versions, ordering, pagination ---------------------------------------------------------------


def test_only_the_latest_version_unless_all_versions_are_asked_for(search_index):
    search_index.replace_documents(
        {
            1: [
                chart(1, ["Draft: suspected pneumonia."], version=1, latest=False),
                chart(1, ["Final: confirmed pneumonia, sepsis."], version=2),
            ]
        }
    )
    [latest] = search(search_index, "pneumonia").hits
    assert (latest.version, latest.latest) == (2, True)
    assert found(search_index, "suspected") == []
    everything = search(search_index, "pneumonia", all_versions=True)
    assert everything.total == 2
    assert {(hit.version, hit.latest) for hit in everything.hits} == {(1, False), (2, True)}
    [old] = search(search_index, "suspected", all_versions=True).hits
    assert old.version == 1
    assert [page.snippet.text for page in old.pages] == ["Draft: suspected pneumonia."]


def test_sort_by_date_newest_first_and_undated_last(library):
    assert found(library, "pneumonia~1 OR cholecystectomy OR echocardiogram", sort="date") == [
        CARDIOLOGY,
        OCR_NOTE,
        OPERATIVE,
        DISCHARGE,
        UNDATED,
    ]
    assert [hit.score for hit in search(library, "pneumonia", sort="date").hits] == [0.0, 0.0]


def test_relevance_puts_the_document_about_it_first(search_index):
    search_index.replace_documents(
        {
            1: [
                chart(1, ["Sprained ankle strapped; pneumonia vaccine offered. Review in clinic."])
            ],
            2: [chart(2, ["Pneumonia: pneumonia treated, pneumonia resolved. Review in clinic."])],
        }
    )
    results = search(search_index, "pneumonia")
    assert [hit.document_id for hit in results.hits] == [2, 1]
    assert results.hits[0].score > results.hits[1].score > 0


@pytest.mark.parametrize("sort", ["relevance", "date"])
def test_pages_of_results_cover_every_document_once(search_index, sort):
    search_index.replace_documents(
        {
            number: [
                chart(
                    number,
                    [f"Clinic letter {number}. " + "Hypertension reviewed. " * number],
                    date_of_service=date(2023, 1 + number % 12, 1) if number % 5 else None,
                )
            ]
            for number in range(1, 26)
        }
    )
    seen: list[int] = []
    for offset in (0, 10, 20):
        results = search(search_index, "hypertension", sort=sort, offset=offset, limit=10)
        assert results.total == 25
        seen.extend(hit.document_id for hit in results.hits)
    assert sorted(seen) == list(range(1, 26))
    beyond = search(search_index, "hypertension", sort=sort, offset=30, limit=10)
    assert (beyond.total, beyond.hits) == (25, ())


def test_a_limit_of_zero_still_counts(library):
    assert search(library, "pneumonia", limit=0) == SearchResults(total=2, hits=())


# --- pages: grouping, snippets, page hits ---------------------------------------------------------


def test_a_document_is_one_hit_however_many_pages_match(library):
    [hit] = search(library, "ceftriaxone OR amoxicillin OR lobe", pages_per_hit=2).hits
    assert hit.document_id == DISCHARGE
    assert hit.matching_pages == 3
    assert len(hit.pages) == 2


def test_the_best_pages_come_first(library):
    [hit] = search(library, "pneumonia", document_id=DISCHARGE, pages_per_hit=3).hits
    assert hit.matching_pages == 2
    # Page 3 says pneumonia three times; page 1 once.
    assert [page.number for page in hit.pages] == [3, 1]


def test_each_result_document_counts_and_ranks_only_its_own_pages(search_index):
    search_index.replace_documents(
        {
            number: [chart(number, ["Sepsis."] * 3 + ["Sepsis, sepsis, sepsis.", "Nothing."])]
            for number in (1, 2, 3)
        }
    )
    results = search(search_index, "sepsis", pages_per_hit=2)
    assert results.total == 3
    for hit in results.hits:
        assert hit.matching_pages == 4
        assert [page.number for page in hit.pages][:1] == [4]
        assert len(hit.pages) == 2


def test_words_found_only_on_different_pages_match_the_document_but_no_page(library):
    [hit] = search(library, "fever amoxicillin").hits
    assert (hit.document_id, hit.matching_pages, hit.pages) == (DISCHARGE, 0, ())


def test_snippets_mark_the_matched_words(library):
    [hit] = search(library, "pneumonia~1", document_id=OCR_NOTE).hits
    [page] = hit.pages
    assert page.number == 1
    assert page.terms == {"pnuemonia"}
    assert [page.snippet.text[start:end] for start, end in page.snippet.marks] == ["pnuemonia"]
    assert "resolving" in page.snippet.text


def test_snippets_mark_prefix_expansions_and_whole_phrases_only(library):
    [hit] = search(library, 'cardio* "mitral regurgitation"', pages_per_hit=1).hits
    [page] = hit.pages
    marked = [page.snippet.text[start:end] for start, end in page.snippet.marks]
    assert marked == ["CARDIOLOGY", "mitral regurgitation", "cardiomyopathy"]
    assert page.terms == {"cardiology", "cardiomyopathy", "mitral", "regurgitation"}


def test_ocr_text_is_escaped_in_snippet_html(search_index):
    search_index.replace_documents(
        {1: [chart(1, ["Scanned form: <script>steal()</script> pneumonia & sepsis"])]}
    )
    [hit] = search(search_index, "pneumonia").hits
    html = str(snippet_html(hit.pages[0].snippet))
    assert "&lt;script&gt;steal()&lt;/script&gt;" in html
    assert "<mark>pneumonia</mark> &amp; sepsis" in html
    assert "<script>" not in html


def test_page_hits_lists_every_matching_page_in_page_order(library):
    pages = library.page_hits(parse_query("pneumonia OR ceftriaxone"), DISCHARGE, 1)
    assert [page.number for page in pages] == [1, 2, 3]
    assert pages[1].terms == {"ceftriaxone"}
    assert library.page_hits(parse_query("lobe"), DISCHARGE, 1)[0].snippet.marks
    assert library.page_hits(parse_query("cholecystectomy"), DISCHARGE, 1) == []
    assert library.page_hits(Term("pneumonia"), DISCHARGE, 2) == []  # no such version


def test_page_hits_is_per_version(search_index):
    search_index.replace_documents(
        {
            1: [
                chart(1, ["Sepsis.", "Nothing here."], version=1, latest=False),
                chart(1, ["Nothing here.", "Sepsis resolved."], version=2),
            ]
        }
    )
    assert [page.number for page in search_index.page_hits(Term("sepsis"), 1, 1)] == [1]
    assert [page.number for page in search_index.page_hits(Term("sepsis"), 1, 2)] == [2]


# --- writing --------------------------------------------------------------------------------------


def test_replacing_a_document_replaces_every_record_of_it(library):
    revised = replace(
        LIBRARY[OPERATIVE], pages=(IndexedPage(1, "Open appendectomy."),), fingerprint="fp-revised"
    )
    library.replace_documents({OPERATIVE: [revised]})
    assert found_set(library, "cholecystectomy") == set()
    assert found_set(library, "appendectomy") == {OPERATIVE}
    assert library.page_hits(Term("cholecystectomy"), OPERATIVE, 1) == []
    assert library.fingerprints()[OPERATIVE] == {1: "fp-revised"}


def test_an_empty_sequence_removes_the_document(library):
    library.replace_documents({OPERATIVE: [], CARDIOLOGY: []})
    assert found_set(library, "cholecystectomy OR echocardiogram") == set()
    assert found_set(library, None, all_versions=True) == {DISCHARGE, OCR_NOTE, UNDATED}
    assert OPERATIVE not in library.fingerprints()


def test_fingerprints_name_every_indexed_version(search_index):
    assert search_index.fingerprints() == {}
    search_index.replace_documents(
        {
            1: [
                chart(1, ["a"], version=1, latest=False, fingerprint="one"),
                chart(1, ["b"], version=2, fingerprint="two"),
            ],
            2: [chart(2, [], fingerprint="empty document")],
        }
    )
    assert search_index.fingerprints() == {1: {1: "one", 2: "two"}, 2: {1: "empty document"}}


class FailingVersions(Sequence):
    """A batch entry that breaks while it is being written."""

    def __init__(self, first: IndexedVersion):
        self._first = first

    def __len__(self) -> int:
        return 2

    def __getitem__(self, position):
        if position == 0:
            return self._first
        raise RuntimeError("the database went away mid-batch")


def test_a_batch_that_fails_leaves_the_index_as_it_was(library):
    batch = {OPERATIVE: [], CARDIOLOGY: FailingVersions(chart(CARDIOLOGY, ["Replaced text."]))}
    with pytest.raises(RuntimeError):
        library.replace_documents(batch)
    assert found_set(library, "cholecystectomy") == {OPERATIVE}
    assert found_set(library, "echocardiogram") == {CARDIOLOGY}
    assert found_set(library, "replaced") == set()


def test_another_index_object_sees_each_commit(library, open_search_index):
    reader = open_search_index()
    assert found_set(reader, "cholecystectomy") == {OPERATIVE}
    library.replace_documents({OPERATIVE: []})
    assert found_set(reader, "cholecystectomy") == set()
    library.replace_documents({9: [chart(9, ["Cholecystectomy follow up."])]})
    assert found_set(reader, "cholecystectomy") == {9}
    assert reader.fingerprints() == library.fingerprints()


def test_load_adds_every_batch_and_commits_once_at_the_end(search_index, open_search_index):
    reader = open_search_index()
    seen_between_batches: list[set[int]] = []

    def batches() -> Iterator[dict[int, list[IndexedVersion]]]:
        yield {DISCHARGE: [LIBRARY[DISCHARGE]], OPERATIVE: [LIBRARY[OPERATIVE]]}
        seen_between_batches.append(found_set(reader, "cholecystectomy"))
        yield {CARDIOLOGY: [LIBRARY[CARDIOLOGY]]}

    search_index.load(batches())
    assert seen_between_batches == [set()]  # nothing is visible before the one commit
    assert found_set(reader, "pneumonia") == {DISCHARGE}
    assert found_set(reader, "cholecystectomy OR echocardiogram") == {OPERATIVE, CARDIOLOGY}
    assert reader.fingerprints() == {
        document_id: {1: LIBRARY[document_id].fingerprint}
        for document_id in (DISCHARGE, OPERATIVE, CARDIOLOGY)
    }


def test_a_load_whose_batches_fail_half_way_injected_leaves_nothing_visible(search_index):
    def batches() -> Iterator[dict[int, list[IndexedVersion]]]:
        yield {DISCHARGE: [LIBRARY[DISCHARGE]]}
        raise RuntimeError("the database went away mid-rebuild")

    with pytest.raises(RuntimeError):
        search_index.load(batches())
    assert search_index.fingerprints() == {}
    search_index.replace_documents({OPERATIVE: [LIBRARY[OPERATIVE]]})  # the writer is free
    assert found_set(search_index, "cholecystectomy") == {OPERATIVE}


class HeldBatch(Mapping):
    """A batch whose writing pauses, writer lock held, until released."""

    def __init__(self, documents: dict[int, list[IndexedVersion]]):
        self._documents = documents
        self.writing = threading.Event()
        self.release = threading.Event()

    def __getitem__(self, document_id):
        return self._documents[document_id]

    def __len__(self) -> int:
        return len(self._documents)

    def __iter__(self) -> Iterator[int]:
        self.writing.set()
        assert self.release.wait(timeout=30)
        return iter(self._documents)


def test_a_second_writer_is_told_the_index_is_busy(search_index, open_search_index):
    other = open_search_index()
    held = HeldBatch({1: [chart(1, ["First writer."])]})
    failures: list[BaseException] = []

    def write() -> None:
        try:
            search_index.replace_documents(held)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)

    first = threading.Thread(target=write)
    first.start()
    try:
        assert held.writing.wait(timeout=30)
        with pytest.raises(IndexBusy) as busy:
            other.replace_documents({2: [chart(2, ["Second writer."])]})
        assert busy.value.http_status == 503
        assert isinstance(busy.value, IndexUnavailable)
    finally:
        held.release.set()
        first.join(timeout=60)
    assert failures == []
    other.replace_documents({2: [chart(2, ["Second writer."])]})  # free again
    assert found_set(other, "writer") == {1, 2}


def test_an_index_that_cannot_be_opened_is_unavailable(backend, tmp_path):
    not_a_directory = tmp_path / "index"
    not_a_directory.write_text("this is a file")
    with pytest.raises(IndexUnavailable) as unavailable:
        open_index(backend, not_a_directory)
    assert isinstance(unavailable.value.__cause__, OSError)


# --- choosing a backend ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BACKENDS)
def test_each_backend_is_named_by_its_technology(kind, tmp_path: Path):
    index = open_index(kind, tmp_path)
    try:
        assert type(index) is index_class(kind)
        assert type(index).__name__.lower().startswith(kind)
    finally:
        index.close()


def test_an_unknown_backend_names_the_setting_and_the_choices(tmp_path):
    with pytest.raises(ArchiveError) as unknown:
        open_index("elasticsearch", tmp_path)
    assert unknown.value.message == (
        "Unknown CHARTVAULT_SEARCH='elasticsearch'; use 'tantivy' or 'whoosh'."
    )

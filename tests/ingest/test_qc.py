"""The QC rules, one by one."""

from __future__ import annotations

from datetime import date

from ingest.qc import CodeFacts, PageFacts, review_document

CLEAN = dict(patient_mrn="MRN-1001", date_of_service=date(2024, 5, 1),
             pages=[PageFacts(1, False, 91.0)], mrns_found=["MRN-1001"],
             dates_of_service_found=[], codes=[CodeFacts("J18.9", True)])


def kinds(**changes):
    return [(f.kind, f.page_number) for f in review_document(**{**CLEAN, **changes})]


def test_a_clean_document_raises_nothing():
    assert kinds() == []


def test_no_mrn_on_the_pages():
    assert kinds(mrns_found=[]) == [("no_mrn", None)]


def test_mrn_on_the_pages_differs_from_the_patient():
    findings = review_document(**{**CLEAN, "mrns_found": ["MRN-1001", "MRN-7777"]})
    assert [f.kind for f in findings] == ["mrn_mismatch"]
    assert "MRN-7777" in findings[0].detail


def test_mrn_written_without_the_dash_still_matches():
    assert kinds(mrns_found=["mrn1001"]) == []


def test_blank_and_hard_to_read_pages_are_flagged_per_page():
    pages = [PageFacts(1, False, 95.0), PageFacts(2, True, None), PageFacts(3, False, 41.0)]
    assert kinds(pages=pages) == [("blank_page", 2), ("low_confidence", 3)]


def test_missing_date_of_service_unless_found_on_the_pages():
    assert kinds(date_of_service=None) == [("missing_date_of_service", None)]
    assert kinds(date_of_service=None, dates_of_service_found=[date(2024, 1, 2)]) == []


def test_malformed_and_unknown_icd10_codes():
    findings = review_document(**{**CLEAN, "codes": [CodeFacts("J18.", False),
                                                     CodeFacts("Z99.999", False),
                                                     CodeFacts("E11.9", True)]})
    assert [f.detail for f in findings] == [
        "J18. is not a well-formed ICD-10-CM code.",
        "Z99.999 is not in the ICD-10-CM code set.",
    ]

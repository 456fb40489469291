"""The certificate of destruction PDF (retention.certificate), read back with pypdf: the items
AHIMA lists, the table of destroyed records over many pages, names outside Latin-1, and a
batch that destroyed nothing."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pypdf import PdfReader

from retention import certificate
from retention.certificate import (
    CertificateFacts,
    CertificateLine,
    find_unicode_font,
    inclusive_dates,
    render_certificate,
    to_latin1,
)

POLICY = "discharge_summary v2 — AHIMA adult 10 years"
INSTITUTION = "Mercy General Hospital"
EXECUTED = datetime(2025, 3, 1, 14, 5, tzinfo=UTC)
APPROVED = datetime(2025, 2, 28, 9, 30, tzinfo=UTC)


def line(document_id: int, **changes) -> CertificateLine:
    fields = dict(
        document_id=document_id,
        mrn=f"MRN{document_id:07d}",
        patient_name=f"Patient {document_id}",
        doc_type="discharge_summary",
        date_of_service=date(2010, 5, 17),
        filed_on=date(2010, 6, 1),
        disposition_date=date(2021, 1, 1),
        policy=POLICY,
        versions=2,
        pages=14,
    )
    fields.update(changes)
    return CertificateLine(**fields)


def facts(lines: tuple[CertificateLine, ...], **changes) -> CertificateFacts:
    fields = dict(
        batch_id=42,
        institution=INSTITUTION,
        executed_at=EXECUTED,
        approved_by="Ana Ortiz (compliance)",
        approved_at=APPROVED,
        executed_by="Bob Ng",
        method="Deletion of every object version from the archive store",
        lines=lines,
        excluded=3,
        skipped=1,
    )
    fields.update(changes)
    return CertificateFacts(**fields)


SMALL = (
    line(101, date_of_service=date(2009, 2, 3)),
    line(102, doc_type="lab_report", date_of_service=date(2012, 11, 30)),
    line(103, date_of_service=None),
    line(104, date_of_service=date(2004, 7, 8), patient_name="Zoë O'Brien"),
)


def pages_text(pdf: bytes) -> list[str]:
    # Words joined by single spaces: where a line wraps is the layout's business, not ours.
    reader = PdfReader(io.BytesIO(pdf))
    return [" ".join(page.extract_text().split()) for page in reader.pages]


def text_of(pdf: bytes) -> str:
    return " ".join(pages_text(pdf))


@pytest.fixture(scope="module")
def small_text() -> str:
    return text_of(render_certificate(facts(SMALL, replicas_note="Backups expire in 35 days.")))


def test_it_is_a_pdf():
    assert render_certificate(facts(SMALL)).startswith(b"%PDF-")


def test_the_ahima_items_are_on_the_certificate(small_text):
    for item in (
        "Certificate of Destruction",
        INSTITUTION,
        "Batch number 42",
        "Date of destruction 2025-03-01",
        "Records destroyed 4 records: 3 discharge_summary, 1 lab_report",
        "Method of destruction Deletion of every object version from the archive store",
        "Approved by Ana Ortiz (compliance), 2025-02-28 09:30 UTC",
        "Executed by Bob Ng, 2025-03-01 14:05 UTC",
        "Excluded from the batch 3",
        "Skipped at execution 1",
        "Copies and replicas Backups expire in 35 days.",
    ):
        assert item in small_text


def test_both_approvals_are_on_the_certificate():
    text = text_of(render_certificate(facts(
        SMALL, second_approved_by="Carla Diaz (compliance)",
        second_approved_at=APPROVED + timedelta(hours=2))))
    first = text.index("Approved by Ana Ortiz (compliance), 2025-02-28 09:30 UTC")
    second = text.index("Second approval by Carla Diaz (compliance), 2025-02-28 11:30 UTC")
    assert first < second < text.index("Executed by Bob Ng")


def test_a_batch_from_before_two_approvals_names_one_approver(small_text):
    assert "Second approval" not in small_text


def test_the_statement_names_the_retention_schedule_of_the_institution(small_text):
    assert "normal course of business" in small_text
    assert f"retention schedule of {INSTITUTION}" in small_text


def test_every_destroyed_record_is_listed(small_text):
    for record in SMALL:
        row = f"{record.document_id} {record.mrn} {record.patient_name} {record.doc_type}"
        assert row in small_text
    assert "Zoë O'Brien" in small_text
    assert POLICY.replace("—", "-") in to_latin1(small_text)
    assert "2 / 14" in small_text
    assert "2021-01-01" in small_text  # the disposition date
    assert "103 MRN0000103 Patient 103 discharge_summary undated" in small_text


def test_inclusive_dates_are_the_earliest_and_latest_date_of_service(small_text):
    # 2004-07-08 is the last line's, 2012-11-30 the second's: the order of lines is no hint.
    assert "Inclusive dates 2004-07-08 to 2012-11-30 (1 undated)" in small_text


def test_inclusive_dates_of_dated_and_undated_records():
    assert inclusive_dates(SMALL[:2]) == "2009-02-03 to 2012-11-30"
    assert inclusive_dates((line(1, date_of_service=None),)) == "undated"
    assert inclusive_dates(()) == "none"


def test_a_small_batch_has_a_summary_page_and_a_table_page():
    pages = pages_text(render_certificate(facts(SMALL)))
    assert len(pages) == 2
    assert "Page 1 of 2" in pages[0]
    assert "Page 2 of 2" in pages[1]


def test_thousands_of_records_run_over_pages_with_the_heading_on_each():
    lines = tuple(line(10_000 + n, date_of_service=date(2000 + n % 20, 1, 1)) for n in range(2000))
    pages = pages_text(render_certificate(facts(lines)))
    total = len(pages)
    assert total > 10
    assert f"Page 1 of {total}" in pages[0]
    assert f"Page {total} of {total}" in pages[-1]
    for page in pages[1:]:
        assert "Doc. no. MRN Patient Type" in page
    listed = set(re.findall(r"\b(1\d{4}) MRN00\1\b", " ".join(pages[1:])))
    assert len(listed) == 2000
    assert "2000 records: 2000 discharge_summary" in pages[0]
    assert "Inclusive dates 2000-01-01 to 2019-01-01" in pages[0]


NAME = "Łukasz Wąs — Jr."


def test_a_name_outside_latin_1_renders():
    text = text_of(
        render_certificate(facts((line(7, patient_name=NAME),), institution="Św. Łukasz"))
    )
    if find_unicode_font() is None:
        assert "Lukasz Was - Jr." in text
    else:
        assert NAME in text
        assert "Św. Łukasz" in text


def test_without_a_truetype_font_names_are_transliterated(monkeypatch):
    monkeypatch.setattr(certificate, "FONT_CANDIDATES", ())
    text = text_of(render_certificate(facts((line(7, patient_name=NAME),))))
    assert "Lukasz Was - Jr." in text
    assert "Page 1 of 2" in text


@pytest.mark.parametrize("truetype", [True, False])
def test_no_name_can_break_the_certificate(monkeypatch, truetype):
    if not truetype:
        monkeypatch.setattr(certificate, "FONT_CANDIDATES", ())
    # No CJK fallback: loading one takes a second, and the point here is not to crash.
    monkeypatch.setattr(certificate, "FALLBACK_FONT_CANDIDATES", ())
    odd = ("山田 太郎", "👍\u200b\x00\tEmoji", "x" * 3000, "", "Ǆemal Šarić")
    lines = tuple(line(n, patient_name=name) for n, name in enumerate(odd, start=1))
    text = text_of(render_certificate(facts(lines)))
    assert "Ǆemal Šarić" in text or "DZemal Saric" in text
    assert "5 records" in text


def test_to_latin1_keeps_latin_1_and_spells_out_the_rest():
    assert to_latin1("Zoë Müller") == "Zoë Müller"
    assert to_latin1("Łódź — “Ș”") == 'Lódz - "S"'  # ó is Latin-1
    assert to_latin1("山") == "?"


def test_a_batch_that_destroyed_nothing_still_gets_a_certificate():
    pdf = render_certificate(facts((), excluded=4, skipped=2))
    pages = pages_text(pdf)
    assert len(pages) == 1
    text = pages[0]
    assert "Certificate of Destruction" in text
    assert "No records were destroyed" in text
    assert "Excluded from the batch 4" in text
    assert "Skipped at execution 2" in text
    assert "Records destroyed none" in text
    assert "Page 1 of 1" in text


def test_times_are_stated_in_utc():
    east = timezone(timedelta(hours=2))
    text = text_of(
        render_certificate(
            facts(SMALL, executed_at=datetime(2025, 3, 2, 1, 0, tzinfo=east), approved_at=APPROVED)
        )
    )
    assert "Date of destruction 2025-03-01" in text
    assert "Executed by Bob Ng, 2025-03-01 23:00 UTC" in text


def test_the_same_facts_give_the_same_bytes():
    assert render_certificate(facts(SMALL)) == render_certificate(facts(SMALL))
    other = dataclasses.replace(facts(SMALL), batch_id=43)
    assert render_certificate(other) != render_certificate(facts(SMALL))

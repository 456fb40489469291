"""How the OCR pipeline fails: a damaged PDF, tesseract missing or too slow, a page's error
naming the page, a file type it does not read, a progress callback or a worker process that
fails; and the page executor's order and early stop. Each error is an OcrError the job records,
never a hang."""

from __future__ import annotations

import math
import os

import pytesseract
import pytest
from pdf2image.exceptions import PDFPageCountError

from archive.errors import UnsupportedMediaType
from ingest.ocr import programs, recognition, sources
from ingest.ocr.errors import OcrError
from ingest.ocr.executor import map_pages
from ingest.ocr.pipeline import process_document
from tests.ingest import scans
from tests.ingest.scans import ScannedChart

PDF, PNG = sources.PDF, sources.PNG


@pytest.fixture(scope="module")
def chart() -> ScannedChart:
    return scans.scanned_chart()


def test_damaged_pdf_is_an_ocr_error(tmp_path):
    damaged = tmp_path / "damaged.pdf"
    damaged.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Cat")
    with pytest.raises(OcrError) as caught:
        process_document(damaged, PDF, tmp_path / "work", workers=1)
    assert (caught.value.code, caught.value.http_status) == ("ocr_failed", 500)
    assert isinstance(caught.value.__cause__, PDFPageCountError)


def test_missing_tesseract_is_an_ocr_error(chart, tmp_path, monkeypatch):
    chart.images[0].crop((0, 250, 2550, 700)).save(tmp_path / "strip.pgm")
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    with pytest.raises(OcrError, match="not installed") as caught:
        recognition.recognise(tmp_path / "strip.pgm", 300)
    assert isinstance(caught.value.__cause__, pytesseract.TesseractNotFoundError)


def test_tesseract_timeout_is_an_ocr_error(chart, tmp_path, monkeypatch):
    chart.images[0].save(tmp_path / "page.pgm")
    monkeypatch.setattr(programs, "RECOGNISE_TIMEOUT", 0.01)
    with pytest.raises(OcrError, match="longer than") as caught:
        recognition.recognise(tmp_path / "page.pgm", 300)
    assert type(caught.value.__cause__) is RuntimeError


def test_page_errors_name_the_page(chart, tmp_path, monkeypatch):
    path = tmp_path / "page.png"
    chart.images[0].save(path, dpi=(300, 300))
    monkeypatch.setattr(programs, "RECOGNISE_TIMEOUT", 0.01)
    with pytest.raises(OcrError, match=r"^Page 1: .*longer than"):
        process_document(path, PNG, tmp_path / "work", workers=1)


def test_unsupported_media_type(tmp_path):
    with pytest.raises(UnsupportedMediaType):
        process_document(tmp_path / "x.docx", "application/msword", tmp_path, workers=1)


def test_executor_yields_every_page_with_its_number():
    squares = dict(map_pages(math.sqrt, [(n, float(n * n)) for n in range(1, 7)], workers=2))
    assert squares == {n: float(n) for n in range(1, 7)}


def test_executor_stops_cleanly_when_the_caller_stops_early():
    pages = map_pages(math.sqrt, [(n, float(n)) for n in range(1, 50)], workers=2)
    next(pages)
    pages.close()  # e.g. on_page failed: the pending pages are cancelled, nothing hangs


def test_a_failing_progress_callback_stops_the_document(chart, tmp_path):
    blank = chart.images[ScannedChart.BLANK - 1]
    blank.save(
        tmp_path / "backs.pdf",
        "PDF",
        resolution=300,
        save_all=True,
        append_images=[blank.copy() for _ in range(5)],
    )

    def on_page(page, total):
        raise LookupError("the database went away")

    with pytest.raises(LookupError):
        process_document(tmp_path / "backs.pdf", PDF, tmp_path / "work", workers=2, on_page=on_page)


def test_a_worker_that_dies_is_an_ocr_error():
    with pytest.raises(OcrError, match="stopped unexpectedly"):
        list(map_pages(os._exit, [(1, 3), (2, 3)], workers=2))

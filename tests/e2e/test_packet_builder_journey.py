"""A release-of-information journey in a real browser: staff open a request, choose two
documents in the packet builder, draw one box with the mouse over a word on a page image,
build the packet, and find it on the request page with one redaction; the downloaded
packet's text no longer holds the word under the box. Text-layer documents keep it quick
(the worker reads their words from the PDF instead of running OCR)."""

from __future__ import annotations

import io
import re
import subprocess
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from archive.auth.permissions import Principal
from archive.interfaces import Upload
from archive.models import Document
from archive.records.filing import add_document
from ingest.ocr import programs
from ingest.worker import Worker
from release.packet_models import ReleasePacket
from release.requests import Asked, Requester, log_request
from tests.e2e.conftest import MRN, NURSE, NURSE_PASSWORD, Seeded
from tests.search.charts import text_pdf

pytestmark = pytest.mark.e2e

SCREENSHOT_DIR = Path("/tmp")
HIDDEN, KEPT = "Zanzibar", "pneumonia"
STAFF = Principal(NURSE, "staff")


def file_text_document(ext, lines: list[str], doc_type: str) -> int:
    clerk = Principal("clerk1", "clerk", user_id=None)
    return add_document(ext, clerk, mrn=MRN, doc_type=doc_type,
                        upload=Upload(io.BytesIO(text_pdf(lines)), "chart.pdf")).version.document_id


@pytest.fixture
def release_request(live_archive: Seeded):
    """Two read text-layer documents of the patient and a request for their records."""
    app = live_archive.app
    ext = app.extensions["chartvault"]
    note = file_text_document(ext, [f"Diagnosis: {KEPT} resolved", "", "",
                                    f"Travel: {HIDDEN} last spring"], "progress_note")
    summary = file_text_document(ext, ["DISCHARGE SUMMARY", "Home with follow up"],
                                 "discharge_summary")
    worker = Worker(ext, worker_id="e2e-packet")
    while worker.run_once():
        pass
    row = log_request(ext.db, STAFF, app.config["RELEASE_CLOCKS"], mrns=[MRN],
                      requester=Requester("patient", "DOE, JANE", "1 Main St"),
                      legal_basis="right_of_access", received=date.today(),
                      asked=Asked(complete_chart=True))
    return {"id": row.id, "note": note, "summary": summary, "word": word_box(ext, note)}


def word_box(ext, document_id: int) -> tuple[float, float, float, float]:
    """The hidden word's OCR box on page 1, as fractions of the page image."""
    with ext.db.transaction() as session:
        page = session.get(Document, document_id).latest_version.pages[0]
        [(left, top, width, height)] = [tuple(word[2:6]) for word in page.words
                                        if HIDDEN in word[0]]
        return (left / page.width, top / page.height, (left + width) / page.width,
                (top + height) / page.height)


def test_staff_build_a_packet_with_a_box_drawn_over_a_word(
    page: Page, live_archive: Seeded, release_request: dict, csp_violations: list[str],
    tmp_path: Path,
) -> None:
    request_id, note = release_request["id"], release_request["note"]
    page.goto("/login")
    page.get_by_label("Username").fill(NURSE)
    page.get_by_label("Password").fill(NURSE_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"/requests/{request_id}")
    page.get_by_role("link", name="Build the packet").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Build the packet")

    page.get_by_label(f"Progress note #{note}").check()
    page.get_by_label(f"Discharge summary #{release_request['summary']}").check()
    page.get_by_role("button", name="Show chosen pages").click()
    figure = page.locator(f'.redact-page[data-document="{note}"][data-page="1"]')
    image = figure.locator("svg")
    expect(image).to_be_visible()
    page.wait_for_load_state("load")  # redact.js is deferred

    # Drag from above-left of the word to below-right of it, with some margin; the page's
    # top is scrolled to the top of the window, so the word near it is on the screen.
    image.evaluate("element => element.scrollIntoView({block: 'start'})")
    bounds = image.bounding_box()
    x0, y0, x1, y1 = release_request["word"]
    start = (bounds["x"] + (x0 - 0.01) * bounds["width"],
             bounds["y"] + (y0 - 0.01) * bounds["height"])
    end = (bounds["x"] + (x1 + 0.01) * bounds["width"],
           bounds["y"] + (y1 + 0.01) * bounds["height"])
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=5)
    page.mouse.up()
    boxes = page.locator("#redaction-list li")
    expect(boxes).to_have_count(1)
    expect(boxes).to_contain_text(f"Document {note}, page 1")
    expect(figure.locator("rect.redact-box")).to_have_count(1)
    expect(page.locator("#redaction-count")).to_have_text("1 box.")
    page.screenshot(path=str(SCREENSHOT_DIR / "chartvault-packet-builder.png"), full_page=True)

    page.get_by_role("button", name="Build packet").click()
    expect(page).to_have_url(re.compile(rf"/requests/{request_id}#packets-title$"))
    expect(page.locator(".packet-summary")).to_contain_text(
        "Packet 1: 3 pages, 2 documents, 1 redaction")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download packet 1 (PDF)").click()
    packet = Path(download_info.value.path()).read_bytes()
    text = subprocess.run(["pdftotext", "-", "-"], input=packet, capture_output=True,
                          check=True).stdout.decode()
    assert HIDDEN not in text
    assert "DISCHARGE SUMMARY" in text  # the unredacted document keeps its text
    # The box drawn covers the word, and only about it: the redacted page, read back by the
    # OCR, still says the rest of its line and the line above.
    [stored] = stored_redactions(live_archive, request_id)
    x0, y0, x1, y1 = release_request["word"]
    assert stored["box"][0] <= x0 and stored["box"][1] <= y0
    assert stored["box"][2] >= x1 and stored["box"][3] >= y1
    read = ocr_words(packet, 2, tmp_path)
    assert KEPT in read and "spring" in read
    assert not [word for word in read if HIDDEN.lower() in word]
    assert csp_violations == []


def stored_redactions(live_archive: Seeded, request_id: int) -> list[dict]:
    with live_archive.app.extensions["chartvault"].db.transaction() as session:
        return session.scalars(select(ReleasePacket.redactions).where(
            ReleasePacket.request_id == request_id)).one()


def ocr_words(pdf: bytes, page: int, workdir: Path) -> list[str]:
    """The words tesseract reads on a page of the packet, lowercased: what a reader sees."""
    path = workdir / "packet.pdf"
    path.write_bytes(pdf)
    image = programs.render_pdf_page(path, page, 150, workdir / "page.pgm")
    tsv = programs.tesseract_recognise(image, 150, workdir / "ocr", text_layer=False)
    return [row.split("\t")[-1].lower() for row in tsv.splitlines()[1:]]

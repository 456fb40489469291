"""A member of staff's search journey in a real browser (issue 4): find a phrase on page 2 of
a chart, open the hit at that page with the words boxed on the page image, download the
searchable PDF; then a restricted chart that search leaves out, opened by breaking the glass;
finally a compliance officer reviews that emergency access.

The charts are real files through the real pipeline: text-layer PDFs filed with the records
service, read by the real worker and indexed by the real outbox consumer before the browser
starts (the live server runs no background tasks of its own)."""

from __future__ import annotations

import io
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect
from sqlalchemy import select

from archive.audit import Actor
from archive.auth.accounts import create_user
from archive.auth.permissions import Principal
from archive.interfaces import Upload
from archive.models import Document
from archive.records.filing import add_document
from archive.records.patients import register_patient
from tests.e2e.conftest import MRN, NURSE, NURSE_PASSWORD, Seeded
from tests.search.charts import text_pdf
from tests.search.library import process_and_index

pytestmark = pytest.mark.e2e

OFFICER = "officer"
OFFICER_PASSWORD = "holds, hashes and reviews"
VIP = "MRN-7007"
PHRASE = "lower lobe consolidation"
HOSTILE = "Patient wrote <script>alert(1)</script> on the intake form."
CHART = (
    ["DISCHARGE SUMMARY", "Patient: DOE, JANE", "Admitted with fever and a productive cough."],
    [
        "Hospital course:",
        f"Chest radiograph showed right {PHRASE}.",
        "Treated with intravenous ceftriaxone.",
        HOSTILE,
    ],
)
VIP_CHART = (["CARDIOLOGY CONSULTATION", "Echocardiogram shows mild mitral regurgitation."],)
REASON = "ED admission, patient unconscious, needs cardiac history."
REVIEW = "Confirmed against the ED roster for tonight."


@dataclass(frozen=True)
class Library:
    chart: int  # two pages, PHRASE and HOSTILE on page 2
    vip_chart: int  # of the restricted patient VIP


@pytest.fixture(scope="module")
def library(live_archive: Seeded) -> Library:
    app = live_archive.app
    ext = app.extensions["chartvault"]
    with ext.db.transaction() as session:
        create_user(session, Actor("test"), OFFICER, "compliance", password=OFFICER_PASSWORD,
                    must_change_password=False)
        register_patient(
            session,
            Principal("test", "system"),
            mrn=VIP,
            name="VIP, VERA",
            dob=date(1960, 5, 6),
            restricted=True,
        )
    clerk = Principal("clerk1", "clerk", user_id=None)

    def file(mrn: str, doc_type: str, pages: tuple[list[str], ...]) -> int:
        return add_document(
            ext,
            clerk,
            mrn=mrn,
            doc_type=doc_type,
            upload=Upload(io.BytesIO(text_pdf(*pages)), "chart.pdf"),
        ).version.document_id

    filed = Library(
        chart=file(MRN, "discharge_summary", CHART), vip_chart=file(VIP, "consultation", VIP_CHART)
    )
    process_and_index(app)  # every queued job, the conftest's scan too, then the outbox
    with ext.db.transaction() as session:
        statuses = dict(session.execute(select(Document.id, Document.status)).all())
    assert statuses[filed.chart] == statuses[filed.vip_chart] == "ready", statuses
    return filed


@pytest.fixture
def dialogs(page: Page) -> list[str]:
    """Every JavaScript dialog the page opened (none should: OCR text is never markup)."""
    seen: list[str] = []
    page.on("dialog", lambda dialog: _record(seen, dialog))
    return seen


def _record(seen: list[str], dialog: Dialog) -> None:
    seen.append(f"{dialog.type}: {dialog.message}")
    dialog.dismiss()


@pytest.fixture
def officer_page(browser: Browser, live_archive: Seeded) -> Iterator[Page]:
    """A second person at another computer: a browser context of their own."""
    context = browser.new_context(base_url=live_archive.base_url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        yield page
    finally:
        context.close()


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("banner")).to_contain_text(username)


def search_for(page: Page, words: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Search").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Search the records")
    page.get_by_label("Words to find").fill(words)
    page.get_by_role("main").get_by_role("button", name="Search", exact=True).click()


def test_staff_finds_a_phrase_reads_the_page_and_breaks_the_glass_for_a_restricted_chart(
    page: Page,
    officer_page: Page,
    live_archive: Seeded,
    library: Library,
    dialogs: list[str],
    csp_violations: list[str],
    tmp_path: Path,
) -> None:
    log_in(page, NURSE, NURSE_PASSWORD)
    expect(page).to_have_title("Home · ChartVault")

    # --- the phrase, found on page 2 and highlighted -------------------------------------------
    search_for(page, f'"{PHRASE}"')
    results = page.get_by_role("region", name="Results")
    expect(results.get_by_role("status")).to_have_text("1 document")
    hit = results.get_by_role("listitem")
    expect(hit).to_have_count(1)
    expect(hit).to_contain_text(f"{MRN} · DOE, JANE")
    expect(hit).to_contain_text("1 matching page")
    snippet = hit.locator(".hit__snippet")
    expect(snippet).to_have_count(1)
    expect(snippet.get_by_role("link", name="Page 2", exact=True)).to_be_visible()
    expect(snippet.locator("mark")).to_have_text([PHRASE])
    # The OCR text beside it is shown as text, never run.
    expect(snippet).to_contain_text("<script>alert(1)</script>")

    # --- opened at page 2, the words boxed on the image that loaded -----------------------------
    image_path = f"/documents/{library.chart}/versions/1/pages/2/image"
    with page.expect_response(lambda response: response.url.endswith(image_path)) as loaded:
        snippet.get_by_role("link", name="Page 2", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/documents/{library.chart}/read\?.*page=2"))
    image = loaded.value
    assert image.status == 200
    assert image.headers["content-type"] == "image/jpeg"
    assert image.body()[:3] == b"\xff\xd8\xff"
    expect(page.get_by_role("heading", level=1)).to_contain_text("Discharge summary, page 2 of 2")
    breadcrumb = page.get_by_role("navigation", name="Breadcrumb")
    expect(breadcrumb.get_by_role("link", name=f'Search: "{PHRASE}"')).to_be_visible()
    expect(page.locator("#hit-summary")).to_contain_text("is on 1 page of this version: 2.")
    scan = page.get_by_role("img", name="Scanned page 2, 3 matched words boxed")
    expect(scan.locator("image")).to_have_attribute("href", image_path)
    boxes = scan.locator("rect.hit-box")
    expect(boxes).to_have_count(3)
    # One box per word of the phrase, left to right on one line of the page.
    lefts, tops = zip(
        *((float(box.get_attribute("x")), float(box.get_attribute("y"))) for box in boxes.all()),
        strict=True,
    )
    assert list(lefts) == sorted(lefts) and len(set(lefts)) == 3
    assert max(tops) - min(tops) < 5
    text = page.get_by_role("region", name="Text read from this page")
    expect(text.locator("mark")).to_have_text([PHRASE])
    expect(text).to_contain_text(HOSTILE)
    expect(page.locator("main script")).to_have_count(0)
    page.screenshot(path="/tmp/chartvault-viewer.png", full_page=True)

    # --- the searchable PDF ------------------------------------------------------------------
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the searchable PDF").click()
    download = download_info.value
    assert download.suggested_filename == f"document-{library.chart}-v1-searchable.pdf"
    pdf = tmp_path / "searchable.pdf"
    download.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF-")
    extracted = subprocess.run(
        ["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True, timeout=30
    ).stdout
    assert PHRASE in " ".join(extracted.split())

    # --- a restricted chart: left out of search, opened by breaking the glass -------------------
    search_for(page, "mitral regurgitation")
    expect(results.get_by_role("status")).to_have_text("No document matches.")
    expect(results.get_by_role("listitem")).to_have_count(0)

    chart_path = f"/documents/{library.vip_chart}/read?q=mitral"
    refused = page.goto(chart_path)
    assert refused is not None and refused.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("This patient's record is restricted")
    expect(page.get_by_role("main")).not_to_contain_text("regurgitation")
    page.get_by_label("Why do you need this record now?").fill(REASON)
    page.get_by_role("button", name="Break the glass and open the record").click()

    # Back on the page that was refused, now open, saying why and until when.
    expect(page).to_have_url(re.compile(re.escape(chart_path) + "$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Consultation, page 1 of 1")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Restricted record")
    expect(page.locator(".emergency-access")).to_contain_text(f"reason: “{REASON}”")
    expect(text.locator("mark")).to_have_text(["mitral"])
    expect(text).to_contain_text("Echocardiogram shows mild mitral regurgitation.")
    expect(page.get_by_role("img", name="Scanned page 1, 1 matched word boxed")).to_be_visible()

    # The grant lets the chart into this user's search results too.
    search_for(page, "mitral regurgitation")
    expect(results.get_by_role("status")).to_have_text("1 document")
    expect(results.get_by_role("listitem")).to_contain_text(f"{VIP} · VIP, VERA")
    assert dialogs == []
    assert csp_violations == []

    # --- compliance reviews the emergency access ------------------------------------------------
    officer_dialogs: list[str] = []
    officer_csp: list[str] = []
    officer_page.on("dialog", lambda dialog: _record(officer_dialogs, dialog))
    officer_page.on(
        "console",
        lambda message: (
            officer_csp.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    log_in(officer_page, OFFICER, OFFICER_PASSWORD)
    officer_page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Emergency access"
    ).click()
    expect(officer_page.get_by_role("heading", level=1)).to_have_text("Emergency access reviews")
    expect(officer_page.locator(".results-count")).to_have_text("1 to review of 1")
    grant = officer_page.get_by_role("row").filter(
        has=officer_page.get_by_role("rowheader", name=NURSE, exact=True)
    )
    expect(grant).to_have_count(1)
    expect(grant).to_contain_text(VIP)
    expect(grant).to_contain_text(REASON)
    expect(grant).to_contain_text("In force")
    grant.get_by_label(f"Comment on the emergency access of {NURSE} to {VIP}").fill(REVIEW)
    # (Chromium names the button "Mark reviewed : nurse, …": the hidden span is positioned.)
    grant.get_by_role("button", name=re.compile(rf"^Mark reviewed ?: {NURSE}, {VIP}$")).click()
    expect(officer_page.locator(".flashes")).to_contain_text("is marked reviewed")
    expect(officer_page.locator(".results-count")).to_have_text("0 to review of 1")
    expect(grant).to_contain_text(f"Reviewed by {OFFICER}")
    expect(grant).to_contain_text(REVIEW)
    expect(grant.get_by_role("button", name=re.compile("Mark reviewed"))).to_have_count(0)
    assert officer_dialogs == []
    assert officer_csp == []

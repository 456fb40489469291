"""A scanning clerk's journey in a real browser, with a real worker and real OCR: log in,
upload a scanned chart for a confirmed patient, watch it go through OCR to ready, then find
the quality-control flag it raised (the scan carries no MRN) and resolve it."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from archive.auth.permissions import Principal
from archive.interfaces import Upload
from archive.models import Document, utcnow
from archive.records.filing import add_document
from ingest.models import Job
from tests.e2e.conftest import CLERK, CLERK_PASSWORD, MRN, BackgroundWorker, Seeded
from tests.samples import pdf_bytes

pytestmark = pytest.mark.e2e

SCREENSHOT_DIR = Path("/tmp")
OCR_TIMEOUT_MS = 90_000
# A chart page as a clerk would scan it, but without the MRN stamp: the OCR job must raise
# a "No MRN found" flag for a person to check.
CHART = pdf_bytes(
    [
        "PROGRESS NOTE",
        "Patient: DOE, JANE",
        "Subjective: feeling better, sleeping well.",
        "Plan: continue current medication, review in two weeks.",
    ]
)


def log_in(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(CLERK)
    page.get_by_label("Password").fill(CLERK_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("banner")).to_contain_text("clerk")


def test_clerk_uploads_a_scan_watches_it_reach_ready_and_resolves_its_qc_flag(
    page: Page, live_archive: Seeded, worker: BackgroundWorker, csp_violations: list[str]
) -> None:
    log_in(page)
    nav = page.get_by_role("navigation", name="Main")

    nav.get_by_role("link", name="Upload").click()
    expect(page).to_have_url(re.compile(r"/upload$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Upload scans")

    # The MRN is confirmed with the patient's name and date of birth as it is typed.
    page.get_by_label("Medical record number (MRN)").fill(MRN)
    confirmation = page.locator("#patient-confirm")
    expect(confirmation).to_contain_text("DOE, JANE")
    expect(confirmation).to_contain_text("1970-01-02")

    page.get_by_label("Document type", exact=True).select_option("progress_note")
    page.get_by_label("Scanned files").set_input_files(
        files=[{"name": "chart.pdf", "mimeType": "application/pdf", "buffer": CHART}]
    )
    row = page.locator(".file-row", has_text="chart.pdf")
    expect(row).to_have_attribute("data-state", "pending")
    page.screenshot(path=str(SCREENSHOT_DIR / "chartvault-upload.png"), full_page=True)

    page.get_by_role("button", name="Upload and file").click()
    document_link = row.get_by_role("link", name=re.compile(r"Open document #\d+"))
    expect(document_link).to_be_visible()
    document_id = int(re.search(r"#(\d+)", document_link.inner_text()).group(1))

    # Live progress without a reload, until the worker has read the scan.
    expect(row).to_have_attribute("data-state", "ready", timeout=OCR_TIMEOUT_MS)
    expect(row.locator(".status")).to_have_text("Ready")
    expect(row).to_contain_text("1 page read")
    page.screenshot(path=str(SCREENSHOT_DIR / "chartvault-upload-ready.png"), full_page=True)

    nav.get_by_role("link", name="QC queue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Quality-control queue")
    flag_row = page.locator(f"tr[data-document='{document_id}']", has_text="No MRN found")
    expect(flag_row).to_have_count(1)
    expect(flag_row).to_contain_text("DOE, JANE")
    page.screenshot(path=str(SCREENSHOT_DIR / "chartvault-qc.png"), full_page=True)

    # Reviewing needs a comment: the browser's required field comes first.
    flag_row.get_by_label(re.compile("Comment on")).fill(
        "Checked against the face sheet: Jane Doe's note, MRN stamp missing on the scan."
    )
    flag_row.get_by_role("button", name=re.compile("Mark reviewed")).click()
    expect(page.locator(".flashes")).to_contain_text("is marked reviewed")
    expect(
        page.locator(f"tr[data-document='{document_id}']", has_text="No MRN found")
    ).to_have_count(0)

    # The document page keeps the review, with who did it and why.
    page.goto(f"/documents/{document_id}")
    expect(page.locator(".processing")).to_contain_text("Ready")
    page.get_by_text("Reviewed flags").click()
    reviewed = page.locator(".flag-card--reviewed", has_text="No MRN found")
    expect(reviewed).to_contain_text(CLERK)
    expect(reviewed).to_contain_text("MRN stamp missing on the scan")
    assert csp_violations == []


def stage_job(ext, document_id: int, document_status: str, **job_fields) -> None:
    with ext.db.transaction() as session:
        session.get(Document, document_id).status = document_status
        job = session.scalar(select(Job).where(Job.document_id == document_id))
        for name, value in job_fields.items():
            setattr(job, name, value)


def test_document_page_follows_progress_live_and_retries_a_failed_document(
    page: Page, live_archive: Seeded, worker: BackgroundWorker, csp_violations: list[str]
) -> None:
    ext = live_archive.app.extensions["chartvault"]
    with worker.paused():
        scan = pdf_bytes(["LAB REPORT", "MRN-1001", "Potassium 4.1 mmol/L"])
        document_id = add_document(
            ext, Principal("clerk", "clerk"), mrn=MRN, doc_type="lab_report",
            upload=Upload(io.BytesIO(scan), "lab.pdf"),
        ).version.document_id
        # Held by a lease of our own, the job stays where the test puts it.
        stage_job(ext, document_id, "processing", status="running", lease_owner="e2e-test",
                  lease_expires_at=utcnow() + timedelta(hours=1), progress_done=3,
                  progress_total=12)

    log_in(page)
    page.goto(f"/documents/{document_id}")
    panel = page.locator("section.processing")
    expect(panel.get_by_role("status")).to_have_text("OCR 3 of 12 pages")
    page.evaluate("window.chartvaultNotReloaded = true")

    stage_job(ext, document_id, "processing", progress_done=7)
    expect(panel.get_by_role("status")).to_have_text("OCR 7 of 12 pages")
    stage_job(ext, document_id, "failed", status="failed", lease_owner=None,
              last_error="The scan could not be read (staged by the test).")
    expect(panel.get_by_role("status")).to_have_text(
        "The scan could not be read (staged by the test)."
    )
    expect(panel.locator(".status")).to_have_text("Failed")
    retry = panel.get_by_role("button", name="Retry processing")
    expect(retry).to_be_visible()
    assert page.evaluate("window.chartvaultNotReloaded") is True  # all without a reload

    retry.click()
    expect(page.locator(".flashes")).to_contain_text("queued to be processed again")
    expect(panel.locator(".status")).to_have_text("Ready", timeout=OCR_TIMEOUT_MS)
    expect(panel.get_by_role("link", name=re.compile("Reload the page"))).to_be_visible()
    assert csp_violations == []

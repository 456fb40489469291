"""A compliance officer's retention journey in a real browser: set the default retention
policy from a preset, place a legal hold on one patient, run the retention sweep from the
schedule page, review the batch (the held patient's charts are not in it, another old
patient's are) and give it the first approval; a second officer gives the second approval
and executes it, downloads the destruction certificate and checks it against its stored
checksum, and finally releases the hold.

The charts are real text-layer PDFs filed through the records service with dates of service
decades ago (and their filing moved back past the age floor) and read by the real worker
before the browser starts. The sweep is run by the
real schedule background task (the one `chartvault serve` runs), started by a fixture here
because the live server runs no background tasks of its own."""

from __future__ import annotations

import hashlib
import io
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from archive.audit import Actor
from archive.auth.accounts import create_user
from archive.auth.permissions import Principal
from archive.interfaces import Upload
from archive.models import Document
from archive.records.filing import add_document
from archive.records.patients import register_patient
from retention.models import DispositionBatch
from retention.schedule import RETENTION_JOBS, job_named, run_schedule
from tests.e2e.conftest import Seeded
from tests.retention.disposing import file_earlier
from tests.search.charts import text_pdf
from tests.search.library import process_and_index

pytestmark = pytest.mark.e2e

OFFICER = "records.officer"
OFFICER_PASSWORD = "shred only what the law allows"
SECOND = "records.second"  # a batch needs the approvals of two different officers
SECOND_PASSWORD = "four eyes see more than two"
OLD = "MRN-2001"  # seen last in 1991: long past any retention period
HELD = "MRN-2002"  # as old, but under a legal hold
MATTER = "Estate of Hale v. Mercy General"
CONTACT = "Ruth Okafor, Legal, x4410"


@dataclass(frozen=True)
class Charts:
    old: tuple[int, ...]
    held: tuple[int, ...]


@pytest.fixture(scope="module")
def charts(live_archive: Seeded) -> Charts:
    app = live_archive.app
    ext = app.extensions["chartvault"]
    with ext.db.transaction() as session:
        create_user(session, Actor("test"), OFFICER, "compliance", password=OFFICER_PASSWORD,
                    must_change_password=False)
        create_user(session, Actor("test"), SECOND, "compliance", password=SECOND_PASSWORD,
                    must_change_password=False)
        for mrn, name in ((OLD, "ELDER, OLIVE"), (HELD, "HALE, HENRY")):
            register_patient(session, Principal("test", "system"), mrn=mrn, name=name,
                             dob=date(1931, 4, 5))
    clerk = Principal("clerk1", "clerk", user_id=None)

    def file(mrn: str, served: date, words: str) -> int:
        return add_document(
            ext, clerk, mrn=mrn, doc_type="discharge_summary", date_of_service=served,
            upload=Upload(io.BytesIO(text_pdf([f"DISCHARGE SUMMARY {words}", mrn])), "old.pdf"),
        ).version.document_id

    filed = Charts(
        old=(file(OLD, date(1989, 3, 1), "pneumonia"), file(OLD, date(1991, 9, 12), "fracture")),
        held=(file(HELD, date(1990, 6, 7), "appendectomy"),),
    )
    process_and_index(app)
    file_earlier(ext, *filed.old, *filed.held)  # scanned long ago, not minutes before
    with ext.db.transaction() as session:
        statuses = dict(session.execute(select(Document.id, Document.status)).all())
    assert {statuses[i] for i in (*filed.old, *filed.held)} == {"ready"}, statuses
    return filed


@pytest.fixture(scope="module")
def scheduler(live_archive: Seeded) -> Iterator[None]:
    """The schedule background task, polling "Run now" every half second. Only the sweep
    is scheduled: the disposition run (every 10 minutes) must not execute the batch
    before the officer does."""
    ext = live_archive.app.extensions["chartvault"]
    stop = threading.Event()
    thread = threading.Thread(
        target=run_schedule,
        args=(ext, stop),
        kwargs={"jobs": (job_named("retention_sweep", RETENTION_JOBS),), "poll_seconds": 0.5},
        name="e2e-schedule",
        daemon=True,
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("banner")).to_contain_text(username)


def log_out(page: Page) -> None:
    page.get_by_role("banner").get_by_role("button", name="Log out").click()
    expect(page.get_by_label("Username")).to_be_visible()


def go_to(page: Page, link: str, heading: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=link, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)


def test_officer_sets_a_policy_holds_a_patient_and_destroys_the_rest_with_a_certificate(
    page: Page,
    live_archive: Seeded,
    charts: Charts,
    scheduler: None,
    csp_violations: list[str],
    tmp_path: Path,
) -> None:
    ext = live_archive.app.extensions["chartvault"]
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, OFFICER, OFFICER_PASSWORD)

    # --- the default policy, from the AHIMA preset -------------------------------------------
    go_to(page, "Retention policies", "Retention policies")
    expect(page.locator("#no-default-policy")).to_contain_text("No default policy is set")
    page.get_by_label("Document type", exact=True).fill("*")
    page.screenshot(path="/tmp/chartvault-retention-policies.png", full_page=True)
    page.get_by_label("A preset", exact=False).check()
    page.get_by_label("Preset", exact=True).select_option(label="AHIMA recommendation")
    page.get_by_label("Reason for this version").fill("Adopted by the HIM committee, 2026-11.")
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Default retention policy")
    expect(page.locator(".flashes")).to_contain_text("saved as version 1")
    expect(page.locator(".current-policy")).to_contain_text("AHIMA recommendation")
    expect(page.locator(".current-policy")).to_contain_text("10 years after the last encounter")

    # --- a legal hold on one patient ---------------------------------------------------------
    go_to(page, "Legal holds", "Legal holds")
    page.get_by_label("Matter").fill(MATTER)
    page.get_by_label("Contact").fill(CONTACT)
    page.get_by_label("Reason", exact=True).fill("Counsel's preservation letter of 2 November.")
    page.get_by_label("Patients (MRNs)").fill(HELD)
    page.get_by_role("button", name="Place hold").click()
    expect(page.locator(".flashes")).to_contain_text(f"Legal hold '{MATTER}' is in force.")

    # --- the sweep, run now from the schedule page --------------------------------------------
    go_to(page, "Retention schedule", "Retention schedule")
    sweep = page.locator("#job-retention_sweep")
    sweep.get_by_role("button", name="Run retention sweep now").click()
    expect(page.locator(".flashes")).to_contain_text("Retention sweep: run requested.")
    _reload_until(page, sweep.locator(".last-summary"), "added to batch #")
    expect(sweep.locator(".last-summary")).to_contain_text("eligible but left out by legal holds")

    # --- the batch: the old patient's charts, not the held patient's --------------------------
    go_to(page, "Disposition", "Disposition")
    with ext.db.transaction() as session:
        batch_id = session.scalar(select(DispositionBatch.id))
    page.get_by_role("link", name=f"Batch #{batch_id}", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Batch #{batch_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("In review")
    items = page.locator("table.batch-items tbody tr")
    expect(items).to_have_count(len(charts.old))
    for document_id in charts.old:
        row = page.locator(f'tr[data-document="{document_id}"]')
        expect(row).to_contain_text(OLD)
        expect(row).to_contain_text("ELDER, OLIVE")
        expect(row).to_contain_text("10 years after the last encounter (1991-09-12): 2001-09-12")
        expect(row).to_contain_text("AHIMA recommendation")
    expect(page.get_by_role("main")).not_to_contain_text(HELD)
    expect(page.get_by_role("main")).not_to_contain_text("HALE, HENRY")
    page.screenshot(path="/tmp/chartvault-disposition-batch.png", full_page=True)

    # --- approved by two officers, executed ---------------------------------------------------
    page.get_by_role("button", name=f"Approve destruction of {len(charts.old)} documents").click()
    expect(page.locator(".flashes")).to_contain_text(
        f"Batch #{batch_id} has your approval, the first of two.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Awaiting second approval")
    expect(page.locator(".approvals-needed")).to_contain_text(
        f"A second approval, by a compliance officer other than {OFFICER}")
    expect(page.get_by_role("button", name="Execute now")).to_have_count(0)
    log_out(page)

    log_in(page, SECOND, SECOND_PASSWORD)
    go_to(page, "Disposition", "Disposition")
    page.get_by_role("link", name=f"Batch #{batch_id}", exact=True).click()
    expect(page.locator(".first-approval")).to_contain_text(f"by {OFFICER}")
    page.get_by_role(
        "button", name=f"Give the second approval to destroy {len(charts.old)} documents").click()
    expect(page.locator(".flashes")).to_contain_text(
        f"Batch #{batch_id} is approved by {OFFICER} and {SECOND}.")
    expect(page.locator(".second-approval")).to_contain_text(f"by {SECOND}")
    page.get_by_role("button", name="Execute now").click()
    expect(page.locator(".flashes")).to_contain_text(
        f"Batch #{batch_id}: {len(charts.old)} documents destroyed; the destruction "
        "certificate is stored.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Executed")
    expect(items.filter(has_text="Destroyed")).to_have_count(len(charts.old))

    # --- the certificate, as stored -------------------------------------------------------------
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the destruction certificate (PDF)").click()
    download = download_info.value
    assert download.suggested_filename == f"destruction-certificate-batch-{batch_id}.pdf"
    saved = tmp_path / "certificate.pdf"
    download.save_as(saved)
    certificate = saved.read_bytes()
    assert certificate.startswith(b"%PDF")
    with ext.db.transaction() as session:
        stored_sha256 = session.get(DispositionBatch, batch_id).certificate_sha256
        remaining = set(session.scalars(select(Document.id)))
    assert hashlib.sha256(certificate).hexdigest() == stored_sha256
    expect(page.locator(".certificate-sha256")).to_have_text(stored_sha256)
    assert remaining.isdisjoint(charts.old)
    assert set(charts.held) <= remaining

    # --- the hold released ----------------------------------------------------------------------
    go_to(page, "Legal holds", "Legal holds")
    page.get_by_role("link", name=MATTER).click()
    page.get_by_label("Reason for release").fill("Case settled; counsel's letter of 20 November.")
    page.get_by_role("button", name="Release hold").click()
    expect(page.locator(".flashes")).to_contain_text(f"Legal hold '{MATTER}' is released.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Released")

    assert dialogs == []
    assert csp_violations == []


def _reload_until(page: Page, locator, text: str, seconds: float = 20) -> None:
    """The schedule page does not refresh itself: reload until the worker's run shows."""
    deadline = time.monotonic() + seconds
    while True:
        if locator.count() and re.search(re.escape(text), locator.inner_text()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} did not appear within {seconds:g} s: "
                                 f"{locator.inner_text() if locator.count() else '(none)'}")
        page.wait_for_timeout(300)
        page.reload()

"""A nurse's journey in a real browser: log in, find a patient, open a document and download
its original, which must be byte-identical to what the archive stored. Plus the idle-timeout
warning, driven with Playwright's fake clock."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import MRN, NURSE, NURSE_PASSWORD, Seeded

pytestmark = pytest.mark.e2e

SCREENSHOT_DIR = Path("/tmp")


def log_in(page: Page) -> None:
    page.get_by_label("Username").fill(NURSE)
    page.get_by_label("Password").fill(NURSE_PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_nurse_finds_a_patient_and_downloads_the_original(
    page: Page, live_archive: Seeded, csp_violations: list[str]
) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")

    log_in(page)
    expect(page).to_have_url(re.compile(r"/\??$"))
    header = page.get_by_role("banner")
    expect(header).to_contain_text(NURSE)
    expect(header).to_contain_text("staff")
    expect(header.get_by_role("button", name="Log out")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Home")).to_be_visible()
    expect(nav.get_by_role("link", name="Audit")).to_have_count(0)  # compliance only

    # The lookup answers as the name is typed; the match opens the chart.
    page.get_by_label("MRN or name").press_sequentially("doe, j")
    matches = page.get_by_role("list", name="Matching patients")
    matches.get_by_role("link", name=re.compile(rf"^DOE, JANE · {MRN} · born 1970-01-02")).click()
    expect(page).to_have_url(re.compile(rf"/patients/{MRN}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("DOE, JANE")
    expect(page.locator(".facts")).to_contain_text("1970-01-02")
    table = page.get_by_role("table", name=re.compile("Discharge summary"))
    expect(table).to_be_visible()
    page.screenshot(path=str(SCREENSHOT_DIR / "chartvault-patient.png"), full_page=True)
    # Keyboard: the first Tab stop is the skip link, which moves focus to the content.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()

    table.get_by_role("link", name=f"Discharge summary #{live_archive.document_id}").click()
    expect(page).to_have_url(re.compile(rf"/documents/{live_archive.document_id}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Discharge summary")
    row = page.locator("tr[data-version='1']")
    expect(row).to_contain_text("clerk1")
    expect(row).to_contain_text("application/pdf")
    shown_sha256 = row.locator("code.sha256").inner_text().strip()
    assert shown_sha256 == live_archive.sha256
    page.screenshot(path=str(SCREENSHOT_DIR / "chartvault-document.png"), full_page=True)

    with page.expect_download() as download_info:
        row.get_by_role("link", name="Download version 1").click()
    download = download_info.value
    assert download.suggested_filename == f"document-{live_archive.document_id}-v1.pdf"
    downloaded = Path(download.path()).read_bytes()
    assert downloaded.startswith(b"%PDF-")
    assert hashlib.sha256(downloaded).hexdigest() == shown_sha256

    page.get_by_role("banner").get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_role("status")).to_contain_text("You are logged out.")
    assert csp_violations == []


def test_idle_warning_keeps_the_session_alive_then_leaves_for_login(
    page: Page, live_archive: Seeded, csp_violations: list[str]
) -> None:
    page.clock.install()
    page.goto("/login")
    log_in(page)
    expect(page.get_by_role("banner")).to_contain_text(NURSE)
    # The banner is there once the HTML is parsed; the deferred app.js starts the idle timer
    # just after. Fast-forwarding before it would skip a timer not yet set.
    page.wait_for_load_state("load")
    timeout_ms = int(page.locator("body").get_attribute("data-idle-timeout")) * 1000
    dialog = page.get_by_role("alertdialog", name="Are you still there?")
    expect(dialog).to_be_hidden()

    # A minute before the timeout: the warning, with focus on its button.
    page.clock.fast_forward(timeout_ms - 59_000)
    expect(dialog).to_be_visible()
    stay = dialog.get_by_role("button", name="Stay logged in")
    expect(stay).to_be_focused()

    with page.expect_response("**/session/keepalive") as keepalive:
        stay.click()
    assert keepalive.value.status == 200
    assert keepalive.value.json() == {"ok": True}
    expect(dialog).to_be_hidden()

    # The timer started again: no warning a minute later, a warning near the new deadline.
    page.clock.fast_forward(60_000)
    expect(dialog).to_be_hidden()
    page.clock.fast_forward(timeout_ms - 60_000 - 30_000)
    expect(dialog).to_be_visible()

    # Left alone: the page gives way to the login page (the browser has dropped the
    # expired session cookie by then; the test drops it by hand).
    page.context.clear_cookies()
    page.clock.fast_forward(40_000)
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_label("Username")).to_be_visible()
    assert csp_violations == []

"""A compliance officer reads the department dashboard in a real browser: the fixture month
(tests/stats/month.py) is filed, the officer opens March, sees each plot drawn (the canvas has
painted pixels) beside its table, narrows the range to three days with the form, sees the
table and the plot change, and downloads the filing figures as CSV: exactly the table's rows.
Everything runs under the app's Content-Security-Policy with the vendored Chart.js."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import Page, expect

from archive.audit import Actor
from archive.auth.accounts import create_user
from tests.e2e.conftest import MRN, Seeded
from tests.stats.month import fill_month, patient_id_of

pytestmark = pytest.mark.e2e

OFFICER = "records.manager"
OFFICER_PASSWORD = "numbers tell the department's story"

# How many pixels of the canvas something was painted on, and a digest of them, so that a
# redraw with other figures shows as other pixels.
CANVAS_PIXELS = """canvas => {
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0, digest = 0;
  for (let i = 3; i < data.length; i += 4) {
    if (data[i] !== 0) { painted += 1; digest = (digest * 31 + i + data[i - 1]) % 1000000007; }
  }
  return {painted, digest};
}"""


@pytest.fixture(scope="module")
def month_filed(live_archive: Seeded) -> None:
    ext = live_archive.app.extensions["chartvault"]
    with ext.db.transaction() as session:
        officer, _password = create_user(session, Actor("test"), OFFICER, "compliance",
                                          password=OFFICER_PASSWORD,
                                          must_change_password=False)
        fill_month(session, patient_id_of(session, MRN), officer.id)


def log_in(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(OFFICER)
    page.get_by_label("Password").fill(OFFICER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard")
           ).to_be_visible()


def filing_rows(page: Page) -> list[list[str]]:
    rows = page.locator('[data-chart-table="filing"] tbody tr')
    return [[cell.strip() for cell in rows.nth(n).locator("th, td").all_inner_texts()]
            for n in range(rows.count())]


def test_the_officer_changes_the_period_sees_the_plot_redrawn_and_downloads_the_csv(
    page: Page, month_filed, csp_violations: list[str]
):
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    log_in(page)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    page.get_by_label("From", exact=True).fill("2026-03-01")
    page.get_by_label("To", exact=True).fill("2026-03-31")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", name="Department dashboard")).to_be_visible()
    march = filing_rows(page)
    assert len(march) == 31 and sum(int(row[1]) for row in march) > 0
    canvas = page.locator("#figure-filing canvas")
    before = canvas.evaluate(CANVAS_PIXELS)
    assert before["painted"] > 500  # bars and axes drawn, not a blank canvas
    for name in ("ocr", "qc", "requests", "storage"):
        assert page.locator(f"#figure-{name} canvas").evaluate(CANVAS_PIXELS)["painted"] > 500

    page.get_by_label("From", exact=True).fill("2026-03-09")
    page.get_by_label("To", exact=True).fill("2026-03-11")
    page.get_by_role("button", name="Show").click()
    expect(page.locator('[data-chart-table="filing"] tbody tr')).to_have_count(3)
    days = filing_rows(page)
    assert [row[0] for row in days] == ["2026-03-09", "2026-03-10", "2026-03-11"]
    assert days == [row for row in march if row[0] in ("2026-03-09", "2026-03-10", "2026-03-11")]
    after = page.locator("#figure-filing canvas").evaluate(CANVAS_PIXELS)
    assert after["painted"] > 500 and after["digest"] != before["digest"]

    with page.expect_download() as download:
        page.locator("#figure-filing").get_by_role("link", name="Download these figures (CSV)"
                                                    ).click()
    assert download.value.suggested_filename == "filing-2026-03-09-2026-03-11.csv"
    text = download.value.path().read_text(encoding="utf-8")
    assert list(csv.reader(io.StringIO(text))) == [["date", "documents", "pages"], *days]
    assert csp_violations == [] and script_errors == []


def test_the_plots_follow_their_tables(page: Page, month_filed):
    """The OCR plot shows each table column as a series: two lines of seconds and the scans
    read as bars on a second axis (Chart.js's own record of what it drew)."""
    log_in(page)
    page.goto("/dashboard?from=2026-03-01&to=2026-03-31")
    drawn = page.locator("#figure-ocr canvas").evaluate(
        "canvas => Chart.getChart(canvas).data.datasets.map("
        "set => [set.label, set.type, set.yAxisID, set.data.filter(v => v !== null).length])")
    cells = page.locator('[data-chart-table="ocr"] tbody td').evaluate_all(
        "cells => cells.map(cell => cell.dataset.value)")
    read = cells[0::3]  # the "ready" column of each day
    assert drawn[0] == ["ready", "bar", "y1", len(read)]
    assert [row[:3] for row in drawn[1:]] == [["median seconds", "line", "y"],
                                              ["p95 seconds", "line", "y"]]
    assert drawn[1][3] == sum(1 for value in read if value != "0")

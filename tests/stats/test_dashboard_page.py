"""The department dashboard page: who sees it, its tables against the fixture month, its CSV
downloads audited, and the hospital's time zone on the shared time display."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import render_template_string
from sqlalchemy import select

from archive.models import AuditEvent
from stats.views import duration
from tests.conftest import login
from tests.stats.month import FIRST, LAST

MARCH = {"from": FIRST.isoformat(), "to": LAST.isoformat()}


def test_compliance_sees_every_figure_as_a_table_with_its_plot_and_csv(client, people, month):
    login(client, "compliance1")
    page = client.get("/dashboard", query_string=MARCH)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for name in ("filing", "ocr", "qc", "requests", "storage"):
        assert f'data-chart-table="{name}"' in html
        assert f"/dashboard/{name}.csv?from=2026-03-01&amp;to=2026-03-31" in html
    assert html.count("<canvas data-chart-canvas") == 5
    assert 'src="/static/vendor/chartjs-4.6.2/chart.umd.min.js"' in html
    filing = html[html.index('data-chart-table="filing"'):html.index('id="figure-ocr"')]
    rows = re.findall(r'<th scope="row">(\d{4}-\d{2}-\d{2})</th>\s*<td class="num" '
                      r'data-value="(\d+)">', filing)
    assert len(rows) == 31
    assert {day: int(count) for day, count in rows if count != "0"} == dict(month.documents)
    assert '<th scope="row">=formula_kind</th>' in html  # shown as it is; the CSV defuses it
    assert f'<dd data-figure="requests-overdue">{month.overdue}</dd>' in html


def test_the_dashboard_is_in_the_navigation_of_managers_only(client, people):
    login(client, "compliance1")
    assert 'href="/dashboard"' in client.get("/").get_data(as_text=True)
    staff = client.application.test_client()
    login(staff, "staff1")
    assert 'href="/dashboard"' not in staff.get("/").get_data(as_text=True)
    assert staff.get("/dashboard").status_code == 403


def test_admins_see_the_dashboard_and_clerks_do_not(client, people):
    login(client, "admin1")
    assert client.get("/dashboard").status_code == 200
    clerk = client.application.test_client()
    login(clerk, "clerk1")
    assert clerk.get("/dashboard").status_code == 403
    assert clerk.get("/dashboard/filing.csv").status_code == 403


def test_a_reversed_period_on_the_page_says_what_to_change(client, people):
    login(client, "compliance1")
    page = client.get("/dashboard", query_string={"from": "2026-03-31", "to": "2026-03-01"})
    assert page.status_code == 400
    assert "is after to" in page.get_data(as_text=True)


def test_an_unknown_figure_is_a_404(client, people):
    login(client, "compliance1")
    assert client.get("/dashboard/salaries.csv").status_code == 404


def test_each_csv_download_is_audited(client, ext, people, month):
    login(client, "compliance1")
    assert client.get("/dashboard/requests.csv", query_string=MARCH).status_code == 200
    with ext.db.transaction() as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "stats.export"))
        assert (event.actor, event.details) == (
            "compliance1", {"figure": "requests", "from": "2026-03-01", "to": "2026-03-31"})


def test_times_are_shown_in_the_hospitals_zone(app):
    # 04:30 UTC on the 11th is 23:30 on the 10th in Chicago (tests/stats/conftest.py).
    moment = datetime(2026, 3, 11, 4, 30, tzinfo=UTC)
    with app.test_request_context():
        shown = render_template_string(
            '{% from "_macros.html" import when %}{{ when(moment) }}', moment=moment)
    assert shown == '<time datetime="2026-03-10T23:30:00-05:00">2026-03-10 23:30</time>'


def test_durations_read_as_a_person_reads_them():
    assert [duration(s) for s in (45, 119, 120, 5400, 7200, 9000, 26_756_816)] == [
        "45 s", "119 s", "2 min", "90 min", "2 h", "2.5 h", "309.7 days"]

"""The patient's accounting of disclosures as a page (/patients/<mrn>/accounting): the last
six years' accountable disclosures, exempt ones behind the toggle, escaped, with CSV and PDF
downloads for the web session; linked from the request page; audited like the API; and who
may see it."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, update

from archive.models import AuditEvent
from release.models import Disclosure
from tests.release.test_accounting import court_release
from tests.release.test_queue import SCRIPT, logged_in

PAGE = "/patients/MRN-1001/accounting"


@pytest.fixture
def released(log_request, move, fulfil):
    """Log, approve and fulfil a request through the API; returns its id."""

    def release(description="discharge summary, 2 pages", **changes):
        request_id = log_request(**changes).json["id"]
        for status in ("in_review", "approved"):
            assert move(request_id, status).status_code == 200
        assert fulfil(request_id, description=description,
                      released="2026-05-05").status_code == 200
        return request_id

    return release


def views_audited(ext) -> list[dict]:
    with ext.db.transaction() as session:
        return [event.details for event in session.scalars(
            select(AuditEvent).where(AuditEvent.action == "disclosures.view")
            .order_by(AuditEvent.seq))]


def test_the_page_lists_accountable_disclosures_and_exempt_ones_behind_the_toggle(
        app, ext, released):
    court = court_release(released)
    own = released(description="own copy of the chart")  # the patient's own access: exempt
    staff = logged_in(app, "staff1")
    html = staff.get(PAGE).get_data(as_text=True)
    assert f'data-request="{court}"' in html and "County Court" in html
    assert f'data-request="{own}"' not in html
    assert f'href="{PAGE}.csv"' in html and f'href="{PAGE}.pdf"' in html
    toggled = staff.get(PAGE, query_string={"include_exempt": "1"}).get_data(as_text=True)
    assert f'data-request="{own}" data-exempt' in toggled
    assert 'exempt</span>' in toggled
    assert "/patients/MRN-1001/accounting.csv?include_exempt=1" in toggled
    assert [(d["format"], d["include_exempt"]) for d in views_audited(ext)] == [
        ("page", False), ("page", True)]


def test_disclosures_older_than_six_years_are_left_out(app, ext, released):
    court = court_release(released)
    with ext.db.transaction() as session:
        session.execute(update(Disclosure).where(Disclosure.request_id == court)
                        .values(disclosed_on=date(date.today().year - 7, 1, 15)))
    html = logged_in(app, "compliance1").get(PAGE).get_data(as_text=True)
    assert f'data-request="{court}"' not in html
    assert "No accountable disclosures in this period." in html


def test_the_downloads_work_for_the_web_session_and_are_audited(app, ext, released):
    court_release(released)
    officer = logged_in(app, "compliance1")
    as_csv = officer.get(f"{PAGE}.csv")
    assert as_csv.status_code == 200 and as_csv.mimetype == "text/csv"
    assert "County Court" in as_csv.get_data(as_text=True)
    assert as_csv.headers["Content-Disposition"] == \
        'attachment; filename="disclosures-MRN-1001.csv"'
    as_pdf = officer.get(f"{PAGE}.pdf")
    assert as_pdf.status_code == 200 and as_pdf.data.startswith(b"%PDF-")
    assert [d["format"] for d in views_audited(ext)] == ["csv", "pdf"]


def test_what_a_requester_wrote_is_escaped(app, released):
    court_release(released, description=SCRIPT)
    html = logged_in(app, "staff1").get(PAGE).get_data(as_text=True)
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_request_page_links_to_its_patients_accounting(app, log_request):
    request_id = log_request().json["id"]
    html = logged_in(app, "staff1").get(f"/requests/{request_id}").get_data(as_text=True)
    assert f'href="{PAGE}"' in html


def test_who_may_see_the_accounting(app, people, patient):
    assert logged_in(app, "clerk1").get(PAGE).status_code == 403
    assert logged_in(app, "clerk1").get(f"{PAGE}.csv").status_code == 403
    assert logged_in(app, "admin1").get(PAGE).status_code == 403
    assert app.test_client().get(PAGE).status_code == 302  # to the login page
    assert logged_in(app, "staff1").get("/patients/MRN-9999/accounting").status_code == 404


def test_the_patient_page_links_to_the_accounting_for_those_who_may_see_it(app, people,
                                                                           patient):
    link = f'href="{PAGE}"'
    assert link in logged_in(app, "staff1").get(f"/patients/{patient}").get_data(as_text=True)
    # Clerks open patients' pages but not the accounting: no link to a 403.
    clerk_page = logged_in(app, "clerk1").get(f"/patients/{patient}")
    assert clerk_page.status_code == 200
    assert link not in clerk_page.get_data(as_text=True)

"""The patient's accounting of disclosures as files (GET /api/v1/patients/<mrn>/disclosures.csv
and .pdf): accountable disclosures only unless include_exempt=true, cells safe to open in a
spreadsheet, the PDF's text naming recipient and description, compliance's permission, and
every download audited."""

from __future__ import annotations

import csv
import io

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from archive.models import AuditEvent
from release.disclosures import CSV_HEADINGS

BASE = "/api/v1/patients/MRN-1001/disclosures"


@pytest.fixture
def released(log_request, move, fulfil):
    """Log, approve and fulfil a request (with changes to the release); returns its id."""

    def release(description="discharge summary, 2 pages", released="2026-05-05", **changes):
        request_id = log_request(**changes).json["id"]
        for status in ("in_review", "approved"):
            assert move(request_id, status).status_code == 200
        response = fulfil(request_id, description=description, released=released)
        assert response.status_code == 200, response.json
        return request_id

    return release


def court_release(released, description="complete chart", **changes):
    return released(description=description, legal_basis="court_order", purpose="litigation",
                    requester={"kind": "court", "name": "County Court",
                               "address": "2 Court Sq"}, **changes)


def download(client, people, kind, role="compliance", **query):
    return client.get(f"{BASE}.{kind}", query_string=query, headers=people.headers(role))


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.data.decode("utf-8"))))


def pdf_text(response) -> str:
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(response.data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_csv_lists_accountable_disclosures_and_leaves_exempt_ones_out(client, people,
                                                                        released):
    exempt_id = released(description="copy for the patient")  # right of access: exempt
    court_id = court_release(released)
    header, *rows = csv_rows(download(client, people, "csv"))
    assert tuple(header) == CSV_HEADINGS
    assert rows == [["2026-05-05", "County Court", "2 Court Sq", "complete chart",
                     "litigation", "court_order", str(court_id)]]
    header, *rows = csv_rows(download(client, people, "csv", include_exempt="true"))
    assert header[-1] == "exempt"
    assert sorted((row[3], row[-2], row[-1]) for row in rows) == [
        ("complete chart", str(court_id), "no"),
        ("copy for the patient", str(exempt_id), "yes")]


def test_csv_keeps_the_period_filters(client, people, released):
    court_release(released)
    assert len(csv_rows(download(client, people, "csv", **{"from": "2026-05-06"}))) == 1
    assert len(csv_rows(download(client, people, "csv", to="2026-05-05"))) == 2
    assert download(client, people, "csv", **{"from": "2026-06-01",
                                              "to": "2026-05-01"}).status_code == 400


def test_a_formula_in_a_cell_is_neutralised(client, people, released):
    court_release(released, description='=HYPERLINK("http://evil","x")')
    [_, row] = csv_rows(download(client, people, "csv"))
    assert row[3] == '\'=HYPERLINK("http://evil","x")'


def test_pdf_names_patient_recipient_and_description(client, people, released):
    released(description="patient copy only")  # exempt: not in the patient's accounting
    court_release(released, description="operative report")
    text = pdf_text(download(client, people, "pdf"))
    for expected in ("Accounting of Disclosures", "MRN-1001", "County Court",
                     "operative report", "court_order"):
        assert expected in text, expected
    assert "patient copy only" not in text
    assert "No disclosures in this period" not in text
    assert "patient copy only" in pdf_text(download(client, people, "pdf",
                                                    include_exempt="true"))


def test_pdf_of_an_empty_period_says_so(client, people, patient):
    text = pdf_text(download(client, people, "pdf"))
    assert "No disclosures in this period" in text
    assert patient in text


@pytest.mark.parametrize("kind", ["csv", "pdf"])
def test_who_may_download_the_accounting(client, people, patient, kind):
    assert client.get(f"{BASE}.{kind}").status_code == 401
    for role in ("clerk", "admin"):
        assert download(client, people, kind, role=role).status_code == 403, role
    missing = client.get(f"/api/v1/patients/MRN-9999/disclosures.{kind}",
                         headers=people.headers("compliance"))
    assert missing.status_code == 404
    assert download(client, people, kind, role="staff").status_code == 200


@pytest.mark.parametrize("kind", ["csv", "pdf"])
def test_each_download_is_audited(client, people, ext, released, kind):
    court_release(released)
    assert download(client, people, kind, role="staff").status_code == 200
    with ext.db.transaction() as session:
        [event] = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "disclosures.view")).all()
        assert (event.actor, event.patient_mrn) == ("staff1", "MRN-1001")
        assert event.details["format"] == kind
        assert (event.details["count"], event.details["include_exempt"]) == (1, False)

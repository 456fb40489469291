"""Restricted charts in release of information (issue 18 items 4 and 6), on both databases:
building a packet and reading a patient's disclosures need the glass broken, as reading the
chart does, the refusals audited; and the patient's access report lists every emergency
access from the audit trail (who, when, the reason, what was opened) for compliance only,
as JSON, CSV and a page, its production audited."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from archive.models import AuditEvent
from release.packet_models import ReleasePacket
from tests.release.test_queue import SCRIPT, logged_in

RESTRICTED = "MRN-3003"
REASON = "ED admission, patient unconscious"


@pytest.fixture
def restricted(client, people):
    response = client.post("/api/v1/patients", json={"mrn": RESTRICTED, "name": "VIP, VERA",
                                                      "dob": "1960-05-06", "restricted": True},
                           headers=people.headers("clerk"))
    assert response.status_code == 201
    return RESTRICTED


def break_glass(client, people, role="staff", reason=REASON, mrn=RESTRICTED):
    response = client.post(f"/api/v1/patients/{mrn}/break-glass", json={"reason": reason},
                           headers=people.headers(role))
    assert response.status_code == 201, response.json
    return response.json


def events(ext, action: str) -> list[AuditEvent]:
    with ext.db.transaction() as session:
        return session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                               .order_by(AuditEvent.seq)).all()


def test_a_packet_of_a_restricted_chart_is_refused_audited_until_the_glass_is_broken(
        ext, client, people, filed, log_request, restricted):
    document = filed(mrn=restricted).document_id
    request_id = log_request(mrn=restricted).json["id"]
    body = {"documents": [document]}
    refused = client.post(f"/api/v1/requests/{request_id}/packet", json=body,
                          headers=people.headers("staff"))
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "restricted_record"
    assert "break the glass and give your reason" in refused.json["error"]["message"]
    [refusal] = events(ext, "chart.restricted_refused")
    assert (refusal.actor, refusal.patient_mrn, refusal.document_id) == (
        "staff1", restricted, document)
    with ext.db.transaction() as session:
        assert session.scalars(select(ReleasePacket)).all() == []
    break_glass(client, people)
    built = client.post(f"/api/v1/requests/{request_id}/packet", json=body,
                        headers=people.headers("staff"))
    assert built.status_code == 201


@pytest.mark.parametrize("path", ["disclosures", "disclosures.csv", "disclosures.pdf"])
def test_a_restricted_patients_disclosures_need_the_glass_broken(ext, client, people,
                                                                 restricted, path):
    url = f"/api/v1/patients/{restricted}/disclosures"
    url = url.replace("disclosures", path)
    for role in ("staff", "compliance"):
        refused = client.get(url, headers=people.headers(role))
        assert refused.status_code == 403, role
        assert refused.json["error"]["code"] == "restricted_record"
    assert len(events(ext, "chart.restricted_refused")) == 2
    assert events(ext, "disclosures.view") == []
    break_glass(client, people)
    assert client.get(url, headers=people.headers("staff")).status_code == 200
    assert client.get(url, headers=people.headers("compliance")).status_code == 403
    [viewed] = events(ext, "disclosures.view")
    assert (viewed.actor, viewed.patient_mrn) == ("staff1", restricted)


def test_an_unrestricted_patients_disclosures_need_no_glass(client, people, patient):
    assert client.get(f"/api/v1/patients/{patient}/disclosures",
                      headers=people.headers("staff")).status_code == 200


@pytest.fixture
def accessed(client, people, filed, restricted, patient):
    """Two emergency accesses to the restricted chart: staff opens and downloads a document,
    compliance opens nothing; staff also reads another patient's chart (not in the report)."""
    document = filed(mrn=restricted).document_id
    other = filed(mrn=patient, lines=("OTHER CHART",)).document_id
    break_glass(client, people)
    headers = people.headers("staff")
    assert client.get(f"/api/v1/documents/{document}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/documents/{document}/versions/1/original",
                      headers=headers).status_code == 200
    assert client.get(f"/api/v1/documents/{other}", headers=headers).status_code == 200
    break_glass(client, people, role="compliance", reason="=HYPERLINK(\"x\") audit check")
    return document


def report(client, people, role="compliance", suffix=""):
    return client.get(f"/api/v1/patients/{RESTRICTED}/access-report{suffix}",
                      headers=people.headers(role))


def test_the_access_report_lists_each_emergency_access_and_what_it_opened(ext, client, people,
                                                                          accessed):
    response = report(client, people)
    assert response.status_code == 200, response.json
    first, second = response.json["accesses"]
    assert (first["user"], first["reason"]) == ("staff1", REASON)
    assert [(item["action"], item["document_id"]) for item in first["opened"]] == [
        ("document.view", accessed), ("document.download", accessed)]
    assert first["opened"][1]["version"] == 1
    assert first["granted_at"] < first["expires_at"]
    assert (second["user"], second["opened"]) == ("compliance1", [])
    [produced] = events(ext, "patient.access_report")
    assert (produced.actor, produced.patient_mrn) == ("compliance1", RESTRICTED)
    assert produced.details == {"accesses": 2, "format": "json"}


def test_the_access_report_as_csv_is_safe_in_a_spreadsheet(ext, client, people, accessed):
    response = report(client, people, suffix=".csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert f"access-report-{RESTRICTED}.csv" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:5] == ["user", "source", "granted at (UTC)", "expires at (UTC)", "reason"]
    assert [(row[0], row[6], row[7]) for row in rows[1:]] == [
        ("staff1", "document.view", str(accessed)),
        ("staff1", "document.download", str(accessed)),
        ("compliance1", "", "")]
    assert rows[3][4].startswith("'=HYPERLINK")  # not a formula
    assert events(ext, "patient.access_report")[0].details["format"] == "csv"


def test_only_compliance_produces_the_access_report(ext, client, people, restricted):
    for role in ("staff", "clerk", "admin"):
        assert report(client, people, role=role).status_code == 403, role
        assert report(client, people, role=role, suffix=".csv").status_code == 403, role
    assert events(ext, "patient.access_report") == []
    assert report(client, people).json == {"mrn": RESTRICTED, "accesses": []}
    missing = client.get("/api/v1/patients/MRN-404/access-report",
                         headers=people.headers("compliance"))
    assert missing.status_code == 404
    assert "No patient with MRN MRN-404" in missing.json["error"]["message"]


def test_the_access_report_page_shows_the_accesses_escaped(ext, app, client, people, restricted,
                                                           filed):
    break_glass(client, people, reason=f"{SCRIPT} ED admission")
    officer = logged_in(app, "compliance1")
    page = officer.get(f"/patients/{RESTRICTED}/access-report")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-user="staff1"' in html and "ED admission" in html
    assert SCRIPT not in html and "&lt;script&gt;" in html
    assert f'href="/patients/{RESTRICTED}/access-report.csv"' in html
    download = officer.get(f"/patients/{RESTRICTED}/access-report.csv")
    assert download.status_code == 200 and "staff1" in download.get_data(as_text=True)
    assert [e.details["format"] for e in events(ext, "patient.access_report")] == ["page", "csv"]
    assert logged_in(app, "staff1").get(f"/patients/{RESTRICTED}/access-report").status_code == 403

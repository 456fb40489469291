"""GET /api/v1/encounters?mrn= and the patient's encounters page, on both databases: who
may read them, that each reading is audited, and the documents matched to each encounter
by their date of service."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from archive.interfaces import Upload
from archive.models import AuditEvent
from archive.records.edits import correct_metadata
from archive.records.filing import add_document
from completion.linking import encounter_of
from tests.completion import adt_messages as adt
from tests.completion.adt_messages import message
from tests.conftest import login
from tests.samples import pdf_bytes


def _file(ext, people, tmp_path, mrn: str, service: date | None, name: str) -> int:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf_bytes([name.upper()]))
    with path.open("rb") as stream:
        return add_document(ext, people.principal("clerk"), mrn=mrn, doc_type="progress_note",
                            upload=Upload(stream, path.name), date_of_service=service
                            ).version.document_id


def test_staff_read_a_patients_encounters_audited(client, ext, people, hl7_feed):
    hl7_feed.send(message(adt.EPIC_A01))
    hl7_feed.send(message(adt.EPIC_A03))
    answer = client.get("/api/v1/encounters?mrn=E1001", headers=people.headers("staff"))
    assert answer.status_code == 200
    [encounter] = answer.get_json()["encounters"]
    assert encounter["number"] == "4001234567" and encounter["class"] == "inpatient"
    assert encounter["admit"] == "2026-11-02T08:30:00+00:00"
    assert encounter["discharge"] == "2026-11-06T14:15:00+00:00"
    assert encounter["attending"] == "HOUSE, GREGORY"
    with ext.db.transaction() as session:
        assert session.scalar(select(AuditEvent.actor).where(
            AuditEvent.action == "encounter.list", AuditEvent.patient_mrn == "E1001")) == "staff1"


def test_who_may_not_and_what_is_not_there(client, people, patient):
    assert client.get(f"/api/v1/encounters?mrn={patient}",
                      headers=people.headers("clerk")).status_code == 403
    assert client.get(f"/api/v1/encounters?mrn={patient}").status_code == 401
    for role in ("compliance", "admin"):
        assert client.get(f"/api/v1/encounters?mrn={patient}",
                          headers=people.headers(role)).get_json() == {
            "mrn": patient, "encounters": []}
    missing = client.get("/api/v1/encounters?mrn=NOPE-1", headers=people.headers("staff"))
    assert missing.status_code == 404 and "NOPE-1" in missing.get_json()["error"]["message"]
    bad = client.get("/api/v1/encounters?mrn=a%20b", headers=people.headers("staff"))
    assert bad.status_code == 400 and "mrn" in bad.get_json()["error"]["message"]


def test_documents_are_matched_by_date_of_service_both_ways(ext, people, hl7_feed, tmp_path,
                                                             client):
    hl7_feed.send(message(adt.EPIC_A01))  # admitted 2026-11-02, not yet discharged
    inside = _file(ext, people, tmp_path, "E1001", date(2026, 11, 4), "inside")
    before = _file(ext, people, tmp_path, "E1001", date(2026, 10, 30), "before")
    undated = _file(ext, people, tmp_path, "E1001", None, "undated")
    later = _file(ext, people, tmp_path, "E1001", date(2026, 11, 9), "later")
    with ext.db.transaction() as session:
        assert encounter_of(session, inside).number == "4001234567"
        assert encounter_of(session, before) is None and encounter_of(session, undated) is None
        assert encounter_of(session, later).number == "4001234567"  # still in hospital
    hl7_feed.send(message(adt.EPIC_A03))  # discharged 2026-11-06: the 9th is outside now
    with ext.db.transaction() as session:
        assert encounter_of(session, later) is None
    # A clerk corrects the date of service: the document follows it.
    correct_metadata(ext, people.principal("clerk"), before, doc_type="progress_note",
                     date_of_service=date(2026, 11, 3), department=None, reason="typo")
    answer = client.get("/api/v1/encounters?mrn=E1001", headers=people.headers("staff"))
    assert sorted(answer.get_json()["encounters"][0]["documents"]) == sorted([inside, before])
    # A cancelled admission keeps no documents.
    hl7_feed.send(message(adt.EPIC_A13))
    hl7_feed.send(message(adt.with_control_id(adt.EPIC_A11, "EPIC-0006")))
    with ext.db.transaction() as session:
        assert encounter_of(session, inside) is None


def test_the_encounters_page_is_linked_from_the_patients_page(client, people, hl7_feed):
    hl7_feed.send(message(adt.EPIC_A01))
    login(client, "staff1")
    chart = client.get("/patients/E1001").get_data(as_text=True)
    assert 'href="/patients/E1001/encounters"' in chart
    page = client.get("/patients/E1001/encounters")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "4001234567" in html and "HOUSE, GREGORY" in html and "not discharged" in html
    # The patient's name, escaped as any text: O&BRIEN.
    assert "O&amp;BRIEN, MARY ANN" in html

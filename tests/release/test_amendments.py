"""Amendments (45 CFR 164.526) through /api/v1/requests/<id>/amendment/... and the request
and document pages, on both databases: an accepted amendment is a new, searchable document
linked to an original that stays byte for byte as it was; a denial letter, the patient's
statement of disagreement and the hospital's rebuttal are linked documents that every later
packet of the original carries right after it; refusals, permissions and the audit trail."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from archive.models import AuditEvent, Document
from archive.records.patients import register_patient
from archive.records.reading import get_document
from retention.destruction import erase_document_rows
from tests.conftest import SYSTEM, csrf_token_of, login
from tests.release.conftest import audit_events, request_body
from tests.release.test_packets import page_text
from tests.search.charts import text_pdf
from tests.search.library import found, process_and_index

ORIGINAL = ["DISCHARGE SUMMARY", "Allergies: none known.", "Discharged home on day four."]
AMENDED = "Allergy to penicillin (hives, 2019) omitted from the summary; add it."
BASIS = "The summary is accurate and complete as written by the attending physician."
DISAGREEMENT = "I had hives from penicillin in 2019 and the record must say so."
REBUTTAL = "The allergy history was reviewed with the patient on admission and not reported."


@pytest.fixture
def original(filed):
    return filed(data=text_pdf(ORIGINAL)).document_id


@pytest.fixture
def amendment_request(client, people, patient, original, move):
    """An amendment request naming the original, in review."""
    made = client.post("/api/v1/requests", headers=people.headers("staff"), json=request_body(
        patient, request_type="amendment", documents={"document_ids": [original]}))
    assert made.status_code == 201, made.json
    assert move(made.json["id"], "in_review").status_code == 200
    return made.json["id"]


def step(client, people, request_id, name, role="staff", **body):
    return client.post(f"/api/v1/requests/{request_id}/amendment/{name}", json=body,
                       headers=people.headers(role))


def stored_state(ext, document_id: int) -> list[tuple]:
    """Every version of a document as stored: number, checksum, store version and bytes."""
    with ext.db.transaction() as session:
        versions = [(v.number, v.sha256, v.object_key, v.store_version_id)
                    for v in get_document(session, document_id).versions]
    return [(*version, b"".join(ext.store.open(version[2], version[3])))
            for version in versions]


def filed_text(ext, document_id: int) -> str:
    [(_, _, _, _, data)] = stored_state(ext, document_id)
    return page_text(data)


def document_count(ext) -> int:
    with ext.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Document))


def test_accepting_files_a_linked_new_document_and_leaves_the_original_unchanged(
        client, people, ext, patient, original, amendment_request):
    before = stored_state(ext, original)
    accepted = step(client, people, amendment_request, "accept", text=AMENDED)
    assert accepted.status_code == 201, accepted.json
    filed = accepted.json["filed_document"]
    assert filed != original
    assert accepted.json["document_id"] == original
    assert accepted.json["kind"] == "amendment" and accepted.json["status"] == "approved"
    assert stored_state(ext, original) == before  # no new version, not one byte changed
    amendment = client.get(accepted.json["link"], headers=people.headers("staff")).json
    assert (amendment["mrn"], amendment["type"]) == (patient, "amendment")
    assert [v["number"] for v in amendment["versions"]] == [1]
    assert amendment["amendments"]["about"][0]["document_id"] == original
    text = filed_text(ext, filed)
    assert AMENDED in text and f"Amends: Document {original}: discharge summary" in text
    shown = client.get(f"/api/v1/documents/{original}", headers=people.headers("staff")).json
    assert [(m["kind"], m["filed_document"]) for m in shown["amendments"]["materials"]] == [
        ("amendment", filed)]
    request = client.get(f"/api/v1/requests/{amendment_request}",
                         headers=people.headers("staff")).json
    assert request["status"] == "approved"
    assert str(filed) in request["status_reason"]


def test_each_step_is_audited_with_its_request_and_filed_document(
        client, people, ext, original, amendment_request):
    filed = step(client, people, amendment_request, "accept", text=AMENDED).json
    [event] = audit_events(ext, "amendment.amendment", amendment_request)
    assert (event.actor, event.document_id) == ("staff1", original)
    assert event.details["filed_document"] == filed["filed_document"]
    [status] = audit_events(ext, "request.status", amendment_request)[-1:]
    assert (status.details["from"], status.details["to"]) == ("in_review", "approved")
    with ext.db.transaction() as session:
        created = session.scalar(select(AuditEvent).where(
            AuditEvent.action == "document.create",
            AuditEvent.document_id == filed["filed_document"]))
    assert created.actor == "staff1"  # filed under the staff member's own name
    state = client.get(f"/api/v1/requests/{amendment_request}/amendment",
                       headers=people.headers("compliance"))
    assert state.status_code == 200
    assert [m["kind"] for m in state.json["materials"]] == ["amendment"]
    assert audit_events(ext, "amendment.view", amendment_request)


def test_the_filed_amendment_is_read_indexed_and_found(app, client, people, amendment_request):
    filed = step(client, people, amendment_request, "accept", text=AMENDED).json
    process_and_index(app)
    assert filed["filed_document"] in found(app, people, "penicillin")


def test_the_document_page_shows_the_amendment_beside_the_original(
        app, client, people, ext, original, amendment_request):
    filed = step(client, people, amendment_request, "accept", text=AMENDED).json
    filed_id = filed["filed_document"]
    reader = app.test_client()
    assert login(reader, "staff1").status_code == 302
    page = reader.get(f"/documents/{original}").get_data(as_text=True)
    assert 'id="amendments-title"' in page
    assert f'href="/documents/{filed_id}">Amendment: document #{filed_id}</a>' in page
    back = reader.get(f"/documents/{filed_id}").get_data(as_text=True)
    assert f'Amendment of <a href="/documents/{original}">document #{original}</a>' in back
    with ext.db.transaction() as session:
        viewed = session.scalars(select(AuditEvent.document_id).where(
            AuditEvent.action == "document.view", AuditEvent.actor == "staff1")).all()
    assert {original, filed_id} <= set(viewed)


def test_denial_disagreement_and_rebuttal_go_with_every_later_packet_of_the_document(
        client, people, ext, patient, original, amendment_request, filed):
    denied = step(client, people, amendment_request, "deny", reason=BASIS)
    assert denied.status_code == 201, denied.json
    assert denied.json["status"] == "denied"
    letter = filed_text(ext, denied.json["filed_document"])
    for said in (BASIS, "statement disagreeing", "future disclosures",
                 "www.hhs.gov/ocr/complaints", "the Privacy Officer"):
        assert said in " ".join(letter.split()), said
    disagreed = step(client, people, amendment_request, "disagreement", text=DISAGREEMENT)
    rebutted = step(client, people, amendment_request, "rebuttal", text=REBUTTAL)
    assert (disagreed.status_code, rebutted.status_code) == (201, 201)
    other = filed(lines=("PROGRESS NOTE",), doc_type="progress_note").document_id
    later = client.post("/api/v1/requests", headers=people.headers("staff"),
                        json=request_body(patient, purpose="new provider")).json["id"]
    made = client.post(f"/api/v1/requests/{later}/packet", headers=people.headers("staff"),
                       json={"documents": [original, other]})
    assert made.status_code == 201, made.json
    packet = client.get(f"/api/v1/requests/{later}/packet.pdf",
                        headers=people.headers("staff")).data
    text = " ".join(page_text(packet).split())
    # Right after the original, in the order filed, before the next chosen document.
    order = [text.index(said) for said in
             ("Allergies: none known", BASIS, DISAGREEMENT, REBUTTAL)]
    assert order == sorted(order)
    cover = " ".join(page_text(packet, 1).split())
    for link in (denied, disagreed, rebutted):
        label = link.json["label"].lower()
        assert (f"Document {link.json['filed_document']}: " in cover
                and f"{label} of document {original} (request {amendment_request})" in cover)
    assert "Enclosed: 5 documents." in cover
    [built] = audit_events(ext, "request.packet", later)
    assert [d["document_id"] for d in built.details["documents"]] == [
        original, denied.json["filed_document"], disagreed.json["filed_document"],
        rebutted.json["filed_document"], other]


def test_refusals_say_why_and_file_nothing(client, people, ext, patient, original,
                                           amendment_request, log_request):
    records = log_request().json["id"]
    before = document_count(ext)
    refusals = [
        (step(client, people, records, "accept", text=AMENDED), 409, "records request"),
        (step(client, people, amendment_request, "accept", text="  "), 400, "text is required"),
        (step(client, people, amendment_request, "deny", reason=""), 400, "reason is required"),
        (step(client, people, amendment_request, "disagreement", text=DISAGREEMENT), 409,
         "no denial of the amendment yet"),
        (step(client, people, amendment_request, "rebuttal", text=REBUTTAL), 409,
         "no statement of disagreement yet"),
        (step(client, people, 999_999, "accept", text=AMENDED), 404, "No request 999999"),
        (step(client, people, amendment_request, "accept", role="clerk", text=AMENDED), 403, ""),
        (step(client, people, amendment_request, "accept", role="compliance", text=AMENDED),
         403, ""),
        (step(client, people, amendment_request, "accept", text=AMENDED, extra=1), 400, "extra"),
    ]
    for answer, status, said in refusals:
        assert answer.status_code == status, answer.json
        assert said in answer.json["error"]["message"]
    assert document_count(ext) == before  # nothing filed by a refused step
    assert step(client, people, amendment_request, "deny", reason=BASIS).status_code == 201
    again = step(client, people, amendment_request, "accept", text=AMENDED)
    assert again.status_code == 409
    assert again.json["error"]["code"] == "amendment_refused"
    assert "denied already" in again.json["error"]["message"]
    twice = step(client, people, amendment_request, "deny", reason=BASIS)
    assert "has its denial of the amendment already" in twice.json["error"]["message"]


def test_an_amendment_request_not_yet_in_review_is_not_decided(client, people, patient,
                                                               original):
    logged = client.post("/api/v1/requests", headers=people.headers("staff"), json=request_body(
        patient, request_type="amendment", documents={"document_ids": [original]})).json["id"]
    refused = step(client, people, logged, "accept", text=AMENDED)
    assert refused.status_code == 409
    assert "is logged" in refused.json["error"]["message"]


def test_an_amendment_request_names_one_document_of_its_patient(client, people, ext,
                                                                  patient, original, filed):
    with ext.db.transaction() as session:
        register_patient(session, SYSTEM, mrn="MRN-2002", name="ROE, RICHARD",
                         dob=date(1980, 3, 4))
    stranger = filed(lines=("OPERATIVE REPORT",), mrn="MRN-2002").document_id
    for documents, said in (({"document_ids": []}, "names the one document"),
                            ({"document_ids": [original, stranger]}, "names the one document"),
                            ({"document_ids": [stranger]}, "not documents of the request"),
                            ({"document_ids": [987_654]}, "not documents of the request"),
                            (None, "names the one document")):
        answer = client.post("/api/v1/requests", headers=people.headers("staff"),
                             json=request_body(patient, request_type="amendment",
                                               **({"documents": documents} if documents else {})))
        assert answer.status_code == 400, answer.json
        assert said in answer.json["error"]["message"]


def test_the_request_page_forms_accept_and_deny_with_csrf(app, client, people, ext, patient,
                                                           original, amendment_request):
    staff = app.test_client()
    assert login(staff, "staff1").status_code == 302
    url = f"/requests/{amendment_request}"
    page = staff.get(url).get_data(as_text=True)
    assert f'action="{url}/amendment/accept"' in page and f'action="{url}/amendment/deny"' in page
    token = csrf_token_of(page)
    before = document_count(ext)
    assert staff.post(f"{url}/amendment/deny", data={"reason": BASIS}).status_code == 400
    refused = staff.post(f"{url}/amendment/deny", data={"csrf_token": token, "reason": ""})
    assert refused.status_code == 400
    assert "reason is required" in refused.get_data(as_text=True)
    assert document_count(ext) == before  # neither refusal filed a letter
    denied = staff.post(f"{url}/amendment/deny", data={"csrf_token": token, "reason": BASIS})
    assert denied.status_code == 303
    page = staff.get(url).get_data(as_text=True)
    assert f'action="{url}/amendment/accept"' not in page
    assert f'action="{url}/amendment/disagreement"' in page
    assert 'data-kind="denial"' in page
    assert staff.post(f"{url}/amendment/disagreement",
                      data={"csrf_token": token, "text": DISAGREEMENT}).status_code == 303
    page = staff.get(url).get_data(as_text=True)
    assert f'action="{url}/amendment/rebuttal"' in page
    assert 'data-kind="disagreement"' in page
    with ext.db.transaction() as session:
        kinds = session.scalars(select(AuditEvent.action).where(
            AuditEvent.action.like("amendment.%"))).all()
    assert kinds == ["amendment.denial", "amendment.disagreement"]


def test_destroying_the_original_takes_its_links_and_leaves_the_filed_amendment(
        client, people, ext, original, amendment_request):
    filed = step(client, people, amendment_request, "accept", text=AMENDED).json
    with ext.db.transaction() as session:
        # Disposition's own erasure: on PostgreSQL a link left behind would break its key.
        erase_document_rows(ext, session, session.get(Document, original))
    shown = client.get(f"/api/v1/documents/{filed['filed_document']}",
                       headers=people.headers("staff"))
    assert shown.status_code == 200
    assert shown.json["amendments"] == {"materials": [], "about": []}
    state = client.get(f"/api/v1/requests/{amendment_request}/amendment",
                       headers=people.headers("staff")).json
    assert state["materials"] == []

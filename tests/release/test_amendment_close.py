"""Closing an accepted amendment request (45 CFR 164.526), on both databases: once its
amendment is filed it closes straight from approved, through the API and the request page,
and nothing enters the accounting of disclosures; before the amendment is filed, and for any
other kind of request, approved leads only on through fulfil or a hold."""

from __future__ import annotations

import pytest

from tests.conftest import csrf_token_of, login
from tests.release.conftest import audit_events, request_body
from tests.release.test_amendments import AMENDED, step
from tests.search.charts import text_pdf


@pytest.fixture
def amendment_request(client, people, patient, filed, move):
    """An amendment request naming one of the patient's documents, in review."""
    original = filed(data=text_pdf(["DISCHARGE SUMMARY", "Allergies: none known."]))
    made = client.post("/api/v1/requests", headers=people.headers("staff"), json=request_body(
        patient, request_type="amendment", documents={"document_ids": [original.document_id]}))
    assert made.status_code == 201, made.json
    assert move(made.json["id"], "in_review").status_code == 200
    return made.json["id"]


def shown(client, people, request_id: int) -> dict:
    return client.get(f"/api/v1/requests/{request_id}", headers=people.headers("staff")).json


def disclosures(client, people, patient) -> list[dict]:
    answer = client.get(f"/api/v1/patients/{patient}/disclosures",
                        headers=people.headers("staff"))
    assert answer.status_code == 200, answer.json
    return answer.json["disclosures"]


def test_an_accepted_amendment_closes_from_approved_and_discloses_nothing(
        client, people, ext, patient, amendment_request, move, fulfil):
    assert step(client, people, amendment_request, "accept", text=AMENDED).status_code == 201
    assert shown(client, people, amendment_request)["allowed_next"] == ["closed", "on_hold"]
    # Fulfil would write a disclosure of records that were never released.
    refused = fulfil(amendment_request)
    assert refused.status_code == 409
    assert "releases no records: close it" in refused.json["error"]["message"]
    closed = move(amendment_request, "closed", "Amendment filed and the patient told.")
    assert closed.status_code == 200, closed.json
    assert closed.json["status"] == "closed" and closed.json["allowed_next"] == []
    last = audit_events(ext, "request.status", amendment_request)[-1]
    assert (last.details["from"], last.details["to"], last.actor) == (
        "approved", "closed", "staff1")
    assert disclosures(client, people, patient) == []


def test_an_approved_amendment_without_its_filed_amendment_stays_open(
        client, people, amendment_request, move):
    # Approved through the status form: the decision stands, its document is still to file.
    assert move(amendment_request, "approved").status_code == 200
    assert shown(client, people, amendment_request)["allowed_next"] == ["on_hold"]
    refused = move(amendment_request, "closed")
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "transition_refused"
    assert "File the accepted amendment first" in refused.json["error"]["message"]
    assert shown(client, people, amendment_request)["status"] == "approved"
    # Filing it afterwards opens the way out.
    assert step(client, people, amendment_request, "accept", text=AMENDED).status_code == 201
    assert move(amendment_request, "closed").status_code == 200


def test_only_an_amendment_request_closes_from_approved(client, people, log_request, move):
    request_id = log_request().json["id"]
    for status in ("in_review", "approved"):
        assert move(request_id, status).status_code == 200
    refused = move(request_id, "closed")
    assert refused.status_code == 409
    assert "allowed next: fulfilled, on_hold" in refused.json["error"]["message"]
    assert shown(client, people, request_id)["allowed_next"] == ["fulfilled", "on_hold"]


def test_the_request_page_offers_the_close_and_it_closes(app, client, people, ext,
                                                        amendment_request):
    staff = app.test_client()
    assert login(staff, "staff1").status_code == 302
    url = f"/requests/{amendment_request}"
    before = staff.get(url).get_data(as_text=True)
    assert "Close the request" not in before  # in review: nothing filed yet
    assert step(client, people, amendment_request, "accept", text=AMENDED).status_code == 201
    page = staff.get(url).get_data(as_text=True)
    assert "Close the request" in page and 'id="amendment-close-hint"' in page
    assert '<option value="closed">closed</option>' in page
    assert "Record the release" not in page  # no fulfil form for an amendment
    token = csrf_token_of(page)
    assert staff.post(f"{url}/status", data={"status": "closed"}).status_code == 400  # no CSRF
    assert shown(client, people, amendment_request)["status"] == "approved"
    closed = staff.post(f"{url}/status", data={"csrf_token": token, "status": "closed",
                                               "reason": "Amendment filed."})
    assert closed.status_code == 303
    assert shown(client, people, amendment_request)["status"] == "closed"
    after = staff.get(url).get_data(as_text=True)
    assert "Close the request" not in after and 'data-status="closed"' in after

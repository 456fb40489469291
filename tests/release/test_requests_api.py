"""POST and GET /api/v1/requests as DESIGN.md fixes them, on both databases: the 201 body,
the 400s that name the bad field and what it accepts, 404s, and who may call them."""

from __future__ import annotations

from tests.release.conftest import audit_events, request_body


def test_logging_a_request_answers_201_with_id_status_and_due(client, people, ext,
                                                              log_request):
    response = log_request(documents={"types": ["discharge_summary"], "from": "2020-01-01",
                                      "to": "2024-12-31"})
    assert response.status_code == 201, response.json
    body = response.json
    assert isinstance(body["id"], int)
    assert body["status"] == "logged"
    assert body["due"] == "2026-05-31"
    shown = client.get(f"/api/v1/requests/{body['id']}", headers=people.headers("compliance"))
    assert shown.status_code == 200
    assert shown.json["mrns"] == ["MRN-1001"]
    assert shown.json["requester"]["address"] == "1 Main St, Springfield"
    assert shown.json["documents"]["types"] == ["discharge_summary"]
    assert shown.json["documents"]["from"] == "2020-01-01"
    assert shown.json["legal_basis"] == "right_of_access"
    [viewed] = audit_events(ext, "request.view", body["id"])
    assert viewed.actor == "compliance1"


def test_without_documents_the_complete_chart_is_asked(log_request):
    assert log_request().json["documents"]["complete_chart"] is True


def test_a_payer_with_its_claim_number_and_several_patients(client, people, log_request):
    client.post("/api/v1/patients", json={"mrn": "MRN-2002", "name": "DOE, JOHN",
                                          "dob": "1972-03-04"}, headers=people.headers("clerk"))
    response = log_request(mrns=["MRN-2002"], legal_basis="tpo",
                           requester={"kind": "payer", "name": "Acme Health",
                                      "address": "PO Box 1", "claim_number": "CLM-77"})
    assert response.status_code == 201, response.json
    assert response.json["mrns"] == ["MRN-1001", "MRN-2002"]
    assert response.json["requester"]["claim_number"] == "CLM-77"


def test_a_bad_legal_basis_is_a_400_naming_the_field_and_the_values(log_request):
    response = log_request(legal_basis="curiosity")
    assert response.status_code == 400
    message = response.json["error"]["message"]
    assert message.startswith("legal_basis:")
    assert "right_of_access" in message and "court_order" in message


def test_a_bad_requester_kind_is_a_400_naming_the_field_and_the_values(log_request):
    response = log_request(requester={"kind": "journalist", "name": "X"})
    assert response.status_code == 400
    message = response.json["error"]["message"]
    assert message.startswith("requester.kind:")
    assert "attorney" in message and "law_enforcement" in message


def test_bad_dates_are_400s_naming_the_field(log_request):
    for bad in ("1 May 2026", "2026-02-30", ""):
        response = log_request(received=bad)
        assert response.status_code == 400, bad
        assert response.json["error"]["message"].startswith("received"), bad
    future = log_request(received="2999-01-01")
    assert future.status_code == 400
    assert "future" in future.json["error"]["message"]


def test_an_unknown_mrn_or_request_is_a_404(client, people, log_request):
    unknown = log_request(mrn="MRN-9999")
    assert unknown.status_code == 404
    assert "MRN-9999" in unknown.json["error"]["message"]
    missing = client.get("/api/v1/requests/4242", headers=people.headers("staff"))
    assert missing.status_code == 404
    moved = client.post("/api/v1/requests/4242/status", json={"status": "in_review"},
                        headers=people.headers("staff"))
    assert moved.status_code == 404


def test_documents_must_belong_to_the_request_s_patients(log_request):
    response = log_request(documents={"document_ids": [987]})
    assert response.status_code == 400
    assert "987" in response.json["error"]["message"]


def test_a_token_is_needed_and_the_role_must_allow_it(client, people, patient, log_request):
    body = request_body(patient)
    anonymous = client.post("/api/v1/requests", json=body)
    assert anonymous.status_code == 401
    for role in ("clerk", "admin", "compliance"):
        refused = client.post("/api/v1/requests", json=body, headers=people.headers(role))
        assert refused.status_code == 403, role
    request_id = log_request().json["id"]
    for role in ("clerk", "admin"):
        shown = client.get(f"/api/v1/requests/{request_id}", headers=people.headers(role))
        assert shown.status_code == 403, role
    assert client.get(f"/api/v1/requests/{request_id}").status_code == 401

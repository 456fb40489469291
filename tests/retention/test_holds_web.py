"""Legal holds through the REST API (DESIGN.md contract) and on the compliance pages."""

from __future__ import annotations

import io
import re

import pytest

from retention.holds import COVERED_PAGE_SIZE
from tests.conftest import csrf_token_of, login
from tests.retention.holding import CONTACT, events, file_document, place
from tests.samples import pdf_bytes

SMITH = {
    "name": "Smith v. Mercy",
    "reason": "Litigation expected",
    "issuer": "Hale & Partners LLP",
    "contact": CONTACT,
}


@pytest.fixture
def document_id(ext, people, patient) -> int:
    return file_document(ext, people.principal("clerk"), patient, "DISCHARGE SUMMARY").document_id


def logged_in(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    client.token = csrf_token_of(client.get("/").get_data(as_text=True))
    return client


def error_of(response) -> tuple[int, str]:
    return response.status_code, response.json["error"]["code"]


# --- API ---------------------------------------------------------------------------------------


def test_placing_a_hold_answers_201_with_its_id_and_the_covered_count(client, people, patient,
                                                                       document_id):
    response = client.post("/api/v1/holds", headers=people.headers("compliance"),
                           json={**SMITH, "scope": {"mrns": [patient], "types": [],
                                                    "from": None, "to": "2030-12-31"}})

    assert response.status_code == 201
    body = response.json
    assert body["covered_documents"] == 1 and body["in_force"] is True
    assert body["scope"] == {"mrns": [patient], "to": "2030-12-31"}
    assert (body["placed_by"], body["released_at"]) == ("compliance1", None)
    listed = client.get("/api/v1/holds", headers=people.headers("compliance")).json["holds"]
    assert [(h["id"], h["name"], h["covered_documents"]) for h in listed] == [
        (body["id"], "Smith v. Mercy", 1)]
    document = client.get(f"/api/v1/documents/{document_id}", headers=people.headers("clerk"))
    assert [(h["id"], h["name"], h["contact"]) for h in document.json["holds"]] == [
        (body["id"], "Smith v. Mercy", CONTACT)]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({**SMITH, "scope": {}}, 400, "bad_request"),
        ({**SMITH, "scope": {"mrns": ["MRN-9999"]}}, 422, "unknown_mrn"),
        ({**SMITH, "name": 7, "scope": {"types": ["note"]}}, 400, "bad_request"),
        ({"reason": "x", "scope": {"types": ["note"]}}, 400, "bad_request"),
        ([SMITH], 400, "bad_request"),
    ],
)
def test_a_bad_placement_is_refused_with_a_code(client, people, patient, body, status, code):
    response = client.post("/api/v1/holds", headers=people.headers("compliance"), json=body)
    assert error_of(response) == (status, code)
    assert response.json["error"]["message"]


@pytest.mark.parametrize("role", ["clerk", "staff", "admin"])
def test_only_compliance_may_use_the_holds_api(client, people, patient, role):
    hold = place(client.application.extensions["chartvault"], people.principal("compliance"),
                 mrns=[patient])
    headers = people.headers(role)
    assert error_of(client.get("/api/v1/holds", headers=headers)) == (403, "permission_denied")
    placed = client.post("/api/v1/holds", headers=headers,
                         json={**SMITH, "scope": {"mrns": [patient]}})
    assert error_of(placed) == (403, "permission_denied")
    released = client.post(f"/api/v1/holds/{hold.id}/release", headers=headers,
                           json={"reason": "x"})
    assert error_of(released) == (403, "permission_denied")
    assert error_of(client.get("/api/v1/holds")) == (401, "authentication_required")


def test_release_through_the_api_needs_a_reason(client, people, ext, patient):
    hold = place(ext, people.principal("compliance"), mrns=[patient])
    headers = people.headers("compliance")

    no_reason = client.post(f"/api/v1/holds/{hold.id}/release", headers=headers, json={})
    released = client.post(f"/api/v1/holds/{hold.id}/release", headers=headers,
                           json={"reason": "Case settled"})
    again = client.post(f"/api/v1/holds/{hold.id}/release", headers=headers,
                        json={"reason": "Case settled"})
    unknown = client.post("/api/v1/holds/999/release", headers=headers, json={"reason": "x"})

    assert error_of(no_reason) == (400, "bad_request")
    assert released.status_code == 200
    assert released.json["in_force"] is False
    assert (released.json["released_by"], released.json["release_reason"]) == (
        "compliance1", "Case settled")
    assert released.json["released_at"]
    assert error_of(again) == (409, "conflict")
    assert error_of(unknown) == (404, "not_found")


def test_a_new_version_of_a_held_document_is_refused_409_naming_the_hold(client, people, ext,
                                                                       patient, document_id):
    place(ext, people.principal("compliance"), mrns=[patient])

    response = client.post(
        f"/api/v1/documents/{document_id}/versions",
        headers=people.headers("clerk"),
        data={"reason": "rescan", "file": (io.BytesIO(pdf_bytes(["RESCAN"])), "rescan.pdf")},
    )

    assert error_of(response) == (409, "document_on_hold")
    assert "'Smith v. Mercy' (contact: Jane Roe, Legal, x4411)" in response.json["error"][
        "message"]
    assert len(events(ext, "hold.refused")) == 1


# --- compliance pages ---------------------------------------------------------------------------


def test_compliance_places_a_hold_on_its_page_and_sees_what_it_covers(app, ext, people, patient,
                                                                      document_id):
    officer = logged_in(app, "compliance1")
    page = officer.get("/holds").get_data(as_text=True)
    assert "No hold is in force." in page
    assert 'href="/holds"' in page  # the navigation link

    response = officer.post("/holds", data={
        "csrf_token": officer.token, **SMITH, "mrns": f" {patient}, ", "document_ids": "",
        "types": "discharge_summary", "from": "", "to": ""})

    assert response.status_code == 303
    hold_page = officer.get(response.headers["Location"]).get_data(as_text=True)
    assert "Legal hold &#39;Smith v. Mercy&#39; is in force." in hold_page
    assert f'data-document="{document_id}"' in hold_page
    assert "1 document" in hold_page
    listing = officer.get("/holds").get_data(as_text=True)
    assert re.search(r'data-hold="\d+">.*?Smith v. Mercy.*?<td class="num">1</td>', listing,
                     re.S)


def test_a_refused_placement_keeps_what_was_typed(app, people, patient):
    officer = logged_in(app, "compliance1")

    response = officer.post("/holds", data={
        "csrf_token": officer.token, **SMITH, "mrns": "MRN-9999", "document_ids": "",
        "types": "", "from": "", "to": ""})

    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "No patient with MRN MRN-9999 is registered" in html
    assert 'value="MRN-9999"' in html and 'value="Smith v. Mercy"' in html
    assert officer.post("/holds", data={"name": "x"}).status_code == 400  # no CSRF token


def test_compliance_releases_a_hold_with_a_reason_on_its_page(app, ext, people, patient):
    hold = place(ext, people.principal("compliance"), mrns=[patient])
    officer = logged_in(app, "compliance1")
    url = f"/holds/{hold.id}"

    refused = officer.post(f"{url}/release", data={"csrf_token": officer.token, "reason": " "})
    assert refused.status_code == 400
    assert "Say why the hold is released" in refused.get_data(as_text=True)

    released = officer.post(f"{url}/release", data={"csrf_token": officer.token,
                                                    "reason": "Case settled"})
    assert (released.status_code, released.headers["Location"]) == (303, url)
    html = officer.get(url).get_data(as_text=True)
    assert "Released" in html and "Case settled" in html and "compliance1" in html
    assert "Release this hold" not in html
    assert "No hold has been released." not in officer.get("/holds").get_data(as_text=True)


def test_the_covered_documents_list_pages(app, ext, people, patient):
    clerk = people.principal("clerk")
    for n in range(COVERED_PAGE_SIZE + 1):
        file_document(ext, clerk, patient, f"NOTE {n}")
    hold = place(ext, people.principal("compliance"), mrns=[patient])
    officer = logged_in(app, "compliance1")

    first = officer.get(f"/holds/{hold.id}").get_data(as_text=True)
    second = officer.get(f"/holds/{hold.id}?page=2").get_data(as_text=True)

    assert first.count("data-document=") == COVERED_PAGE_SIZE
    assert second.count("data-document=") == 1
    assert "page 2 of 2" in second


@pytest.mark.parametrize("role", ["clerk", "staff", "admin"])
def test_the_hold_pages_are_for_compliance_only(app, ext, people, patient, role):
    hold = place(ext, people.principal("compliance"), mrns=[patient])
    user = logged_in(app, role + "1")
    assert user.get("/holds").status_code == 403
    assert user.get(f"/holds/{hold.id}").status_code == 403
    assert 'href="/holds"' not in user.get("/").get_data(as_text=True)


def test_the_document_page_shows_the_hold_and_whom_to_call(app, ext, people, patient,
                                                           document_id):
    hold = place(ext, people.principal("compliance"), mrns=[patient])

    clerk_view = logged_in(app, "clerk1").get(f"/documents/{document_id}").get_data(as_text=True)
    officer_view = logged_in(app, "compliance1").get(f"/documents/{document_id}").get_data(
        as_text=True)

    assert "This document is under legal hold" in clerk_view
    assert "Smith v. Mercy" in clerk_view and CONTACT in clerk_view
    assert f'href="/holds/{hold.id}"' not in clerk_view
    assert f'href="/holds/{hold.id}"' in officer_view


def test_a_clerk_correcting_a_held_document_is_told_whom_to_call(app, ext, people, patient,
                                                                 document_id):
    place(ext, people.principal("compliance"), mrns=[patient])
    clerk = logged_in(app, "clerk1")

    response = clerk.post(f"/documents/{document_id}/metadata", data={
        "csrf_token": clerk.token, "doc_type": "progress_note", "date_of_service": "",
        "department": "", "reason": "mistyped"})

    assert response.status_code == 409
    assert (f"Document {document_id} is under legal hold &#39;Smith v. Mercy&#39; (contact: "
            f"{CONTACT}); it cannot be edited") in response.get_data(as_text=True)

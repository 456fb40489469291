"""Signed authorizations (issue 18 item 1) through POST /api/v1/requests/<id>/authorization,
GET the same, and POST .../authorization/revoke, on both databases: the scan filed in the
patient's chart like any scan (stored, checksummed, OCRed by real tesseract), its link with
the expiry, the refusals of packets and releases without a valid one, revocation that leaves
earlier releases standing, the 400s and 409s, who may call them, and the audit events."""

from __future__ import annotations

import hashlib
import io
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from archive.models import Document, Page
from ingest.models import IndexOutbox
from ingest.worker import Worker
from release.authorization_models import ReleaseAuthorization
from release.models import Disclosure
from tests.release.conftest import audit_events
from tests.samples import pdf_bytes

TODAY = date.today()
NEXT_YEAR = (TODAY + timedelta(days=365)).isoformat()
SCAN = pdf_bytes(["AUTHORIZATION TO RELEASE", "JANE DOE SIGNED"])


@pytest.fixture
def approved(log_request, move):
    """A request made under an authorization, approved; returns its id."""
    response = log_request(legal_basis="authorization",
                           requester={"kind": "attorney", "name": "LAW, LEE",
                                      "address": "3 Bar St"}, purpose="personal injury claim")
    assert response.status_code == 201, response.json
    request_id = response.json["id"]
    for status in ("in_review", "approved"):
        assert move(request_id, status).status_code == 200
    return request_id


@pytest.fixture
def attach(client, people):
    def attach_scan(request_id: int, data: bytes = SCAN, role: str = "staff", **fields):
        form = {"expires": NEXT_YEAR, "signed": TODAY.isoformat(), **fields}
        if data is not None:
            form["file"] = (io.BytesIO(data), "authorization.pdf")
        return client.post(f"/api/v1/requests/{request_id}/authorization", data=form,
                           content_type="multipart/form-data", headers=people.headers(role))

    return attach_scan


def revoke(client, people, request_id, role="staff", **changes):
    body = {"revoked_on": TODAY.isoformat(), "reason": "patient's signed letter", **changes}
    return client.post(f"/api/v1/requests/{request_id}/authorization/revoke", json=body,
                       headers=people.headers(role))


def build(client, people, request_id, document_id):
    return client.post(f"/api/v1/requests/{request_id}/packet",
                       json={"documents": [document_id]}, headers=people.headers("staff"))


def test_the_scan_is_filed_in_the_chart_and_linked_with_its_expiry(ext, client, people,
                                                                   approved, attach):
    response = attach(approved)
    assert response.status_code == 201, response.json
    answer = response.json
    assert (answer["on_file"], answer["expires"], answer["signed"]) == (
        True, NEXT_YEAR, TODAY.isoformat())
    assert answer["revoked_on"] is None
    with ext.db.transaction() as session:
        document = session.get(Document, answer["document_id"])
        version = document.latest_version
        assert (document.doc_type, document.patient.mrn, document.date_of_service) == (
            "authorization", "MRN-1001", TODAY)
        assert version.sha256 == hashlib.sha256(SCAN).hexdigest()
        key, version_id = version.object_key, version.store_version_id
        version_row_id = version.id
        link = session.scalars(select(ReleaseAuthorization)).one()
        assert (link.request_id, link.document_id) == (approved, document.id)
    assert b"".join(ext.store.open(key, version_id)) == SCAN
    # Like any scan: read by the OCR worker (real tesseract), its text on the page rows.
    assert Worker(ext, worker_id="w1").run_once()
    with ext.db.transaction() as session:
        assert session.get(Document, answer["document_id"]).status == "ready"
        text = " ".join(session.scalars(select(Page.text)).all())
    assert "AUTHORIZATION" in text
    with ext.db.transaction() as session:  # and queued for the search index
        assert session.scalars(select(IndexOutbox.page_number)
                               .where(IndexOutbox.version_id == version_row_id)).all() == [1]
    shown = client.get(f"/api/v1/requests/{approved}/authorization",
                       headers=people.headers("compliance"))
    assert shown.json["on_file"] is True
    [on_file] = shown.json["authorizations"]
    assert (on_file["mrn"], on_file["document_id"]) == ("MRN-1001", answer["document_id"])
    [event] = audit_events(ext, "request.authorization_attach", approved)
    assert event.details["document"] == answer["document_id"]
    assert event.details["expires"] == NEXT_YEAR
    assert len(audit_events(ext, "request.authorization_view", approved)) == 1


def test_without_an_authorization_packets_and_releases_are_refused(ext, client, people, filed,
                                                                   approved, fulfil):
    document = filed().document_id
    refused = build(client, people, approved, document)
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "authorization_required"
    message = refused.json["error"]["message"]
    assert "no authorization is on file" in message
    assert "Attach a valid signed authorization" in message and "on hold" in message
    refused = fulfil(approved)
    assert refused.status_code == 409
    assert "no authorization is on file" in refused.json["error"]["message"]
    with ext.db.transaction() as session:
        assert session.scalars(select(Disclosure)).all() == []
    assert audit_events(ext, "request.fulfil", approved) == []
    assert audit_events(ext, "request.packet", approved) == []


def test_with_a_valid_authorization_the_packet_and_the_release_go_ahead(client, people, filed,
                                                                        approved, attach,
                                                                        fulfil):
    document = filed().document_id
    assert attach(approved).status_code == 201
    assert build(client, people, approved, document).status_code == 201
    assert fulfil(approved).status_code == 200


def test_an_expired_authorization_refuses_a_release_dated_after_it(ext, client, people, filed,
                                                                   approved, attach, fulfil):
    expires = TODAY.isoformat()  # valid through today
    assert attach(approved, expires=expires,
                  signed=(TODAY - timedelta(days=30)).isoformat()).status_code == 201
    # Expired by tomorrow: set the row's date back as time would.
    with ext.db.transaction() as session:
        link = session.scalars(select(ReleaseAuthorization)).one()
        link.expires_on = TODAY - timedelta(days=1)
    refused = build(client, people, approved, filed().document_id)
    assert refused.status_code == 409
    assert (f"expired on {(TODAY - timedelta(days=1)).isoformat()}"
            in refused.json["error"]["message"])
    # A release that went out before the expiry may still be recorded.
    earlier = TODAY - timedelta(days=2)  # the request was received months before
    assert fulfil(approved, released=earlier.isoformat()).status_code == 200


def test_revocation_refuses_what_follows_and_leaves_earlier_releases(ext, client, people,
                                                                     filed, log_request, move,
                                                                     approved, attach,
                                                                     fulfil):
    assert attach(approved).status_code == 201
    assert fulfil(approved).status_code == 200
    revoked = revoke(client, people, approved)
    assert revoked.status_code == 200, revoked.json
    assert revoked.json["revoked_on"] == TODAY.isoformat()
    with ext.db.transaction() as session:
        [disclosure] = session.scalars(select(Disclosure)).all()
        assert disclosure.request_id == approved  # the earlier release stands
    [event] = audit_events(ext, "request.authorization_revoke", approved)
    assert event.reason == "patient's signed letter"
    assert revoke(client, people, approved).status_code == 409  # once only


def test_a_revoked_authorization_refuses_a_packet(client, people, filed, approved, attach):
    assert attach(approved).status_code == 201
    assert revoke(client, people, approved).status_code == 200
    refused = build(client, people, approved, filed().document_id)
    assert refused.status_code == 409
    assert f"revoked on {TODAY.isoformat()}" in refused.json["error"]["message"]
    # A new signature replaces the revoked one.
    assert attach(approved, data=pdf_bytes(["AUTHORIZATION SIGNED AGAIN"])).status_code == 201
    assert build(client, people, approved, filed().document_id).status_code == 201


def test_other_legal_bases_need_no_authorization(client, people, filed, log_request, attach):
    request_id = log_request().json["id"]  # right of access
    assert build(client, people, request_id, filed().document_id).status_code == 201
    refused = attach(request_id)
    assert refused.status_code == 409
    assert "not under an authorization" in refused.json["error"]["message"]


@pytest.mark.parametrize("fields, data, status, words", [
    ({"expires": ""}, SCAN, 400, "expires"),
    ({"expires": "31 May"}, SCAN, 400, "expires: must be a date written YYYY-MM-DD"),
    ({"expires": (TODAY - timedelta(days=1)).isoformat(), "signed": ""}, SCAN, 400,
     "expired on"),
    ({"signed": (TODAY + timedelta(days=1)).isoformat()}, SCAN, 400, "in the future"),
    ({"expires": (TODAY - timedelta(days=1)).isoformat()}, SCAN, 400, "is before signed"),
    ({"mrn": "MRN-9999"}, SCAN, 400, "not a patient of request"),
    ({}, None, 400, "multipart field 'file'"),
    ({}, b"", 400, "empty"),
    ({}, b"just some words", 415, "not a PDF, TIFF, PNG or JPEG"),
])
def test_bad_attachments_are_refused_and_file_nothing(ext, approved, attach, fields, data,
                                                      status, words):
    response = attach(approved, data=data, **fields)
    assert response.status_code == status
    assert words in response.json["error"]["message"]
    with ext.db.transaction() as session:
        assert session.scalars(select(Document)).all() == []
        assert session.scalars(select(ReleaseAuthorization)).all() == []


def test_bad_revocations_are_refused(client, people, approved, attach):
    assert revoke(client, people, approved).status_code == 409  # nothing to revoke
    assert attach(approved).status_code == 201
    future = revoke(client, people, approved,
                    revoked_on=(TODAY + timedelta(days=1)).isoformat())
    assert future.status_code == 400 and "in the future" in future.json["error"]["message"]
    no_reason = revoke(client, people, approved, reason=" ")
    assert no_reason.status_code == 400 and "reason" in no_reason.json["error"]["message"]
    before = revoke(client, people, approved,
                    revoked_on=(TODAY - timedelta(days=1)).isoformat())
    assert before.status_code == 400 and "before the authorization was signed" in (
        before.json["error"]["message"])


def test_a_closed_request_takes_no_authorization(approved, attach, fulfil, move):
    assert attach(approved).status_code == 201
    assert fulfil(approved).status_code == 200
    refused = attach(approved, data=pdf_bytes(["ANOTHER FORM"]))
    assert refused.status_code == 409
    assert "only while the request is open" in refused.json["error"]["message"]


def test_who_may_attach_read_and_revoke(client, people, approved, attach):
    for role in ("clerk", "compliance", "admin"):
        assert attach(approved, role=role).status_code == 403, role
        assert revoke(client, people, approved, role=role).status_code == 403, role
    for role in ("clerk", "admin"):
        assert client.get(f"/api/v1/requests/{approved}/authorization",
                          headers=people.headers(role)).status_code == 403
    assert attach(approved).status_code == 201
    assert revoke(client, people, approved).status_code == 200


def test_each_patient_of_a_family_request_authorizes_their_own_records(
        ext, client, people, filed, log_request, move, attach):
    client.post("/api/v1/patients", json={"mrn": "MRN-2002", "name": "DOE, JOHN",
                                          "dob": "1972-03-04"}, headers=people.headers("clerk"))
    request_id = log_request(mrns=["MRN-2002"], legal_basis="authorization").json["id"]
    document = filed().document_id
    unnamed = attach(request_id)
    assert unnamed.status_code == 400 and "mrn is required" in unnamed.json["error"]["message"]
    assert attach(request_id, mrn="MRN-1001").json["mrn"] == "MRN-1001"
    refused = build(client, people, request_id, document)
    assert refused.status_code == 409
    assert ("patient MRN-2002's authorization, and no authorization is on file"
            in refused.json["error"]["message"])
    second = attach(request_id, data=pdf_bytes(["JOHN DOE AUTHORIZES"]), mrn="MRN-2002")
    assert second.status_code == 201
    with ext.db.transaction() as session:
        assert session.get(Document, second.json["document_id"]).patient.mrn == "MRN-2002"
    assert build(client, people, request_id, document).status_code == 201
    assert revoke(client, people, request_id).status_code == 400  # whose?
    assert revoke(client, people, request_id, mrn="MRN-2002").status_code == 200
    shown = client.get(f"/api/v1/requests/{request_id}/authorization",
                       headers=people.headers("staff")).json
    assert [(a["mrn"], a["revoked_on"]) for a in shown["authorizations"]] == [
        ("MRN-1001", None), ("MRN-2002", TODAY.isoformat())]
    refused = build(client, people, request_id, document)
    assert f"patient MRN-2002's authorization, and it was revoked on {TODAY.isoformat()}" in (
        refused.json["error"]["message"])


def test_a_release_made_before_the_revocation_may_still_be_recorded(client, people, approved,
                                                                    attach, fulfil):
    assert attach(approved, signed=(TODAY - timedelta(days=10)).isoformat()).status_code == 201
    assert revoke(client, people, approved).status_code == 200  # received today
    refused = fulfil(approved)  # released today: on the day of the revocation
    assert refused.status_code == 409
    assert f"revoked on {TODAY.isoformat()}" in refused.json["error"]["message"]
    earlier = fulfil(approved, released=(TODAY - timedelta(days=1)).isoformat())
    assert earlier.status_code == 200, earlier.json

"""Time-limited links (issue 18 item 2, delivery) through the API and the public pages, on both
databases: a link hands out exactly the packet it pinned, counts and audits each download,
answers 410 Gone once used up, expired or revoked, keeps only its token's hash, and only
release managers may make or revoke one."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from archive.models import AuditEvent, utcnow
from release.link_models import ReleaseLink
from tests.release.conftest import audit_events

AGENT = "Mozilla/5.0 (records-test)"


@pytest.fixture
def approved(log_request, move):
    """An approved request (logged, reviewed, approved); its id."""
    request_id = log_request().json["id"]
    for status in ("in_review", "approved"):
        assert move(request_id, status).status_code == 200
    return request_id


@pytest.fixture
def packet_of(client, people, filed):
    """Build a packet of one freshly filed document for a request; returns the packet's JSON."""

    def build(request_id: int, lines=("DISCHARGE SUMMARY",)) -> dict:
        document = filed(lines=lines).document_id
        made = client.post(f"/api/v1/requests/{request_id}/packet",
                           json={"documents": [document]}, headers=people.headers("staff"))
        assert made.status_code == 201, made.json
        return made.json

    return build


def make_link(client, people, request_id, role="staff", **body):
    return client.post(f"/api/v1/requests/{request_id}/links", json=body,
                       headers=people.headers(role))


def token_of(url: str) -> str:
    return url.rsplit("/release/", 1)[1]


def download(client, token):
    return client.get(f"/release/{token}/packet.pdf", headers={"User-Agent": AGENT})


def packet_bytes(client, people, request_id) -> bytes:
    response = client.get(f"/api/v1/requests/{request_id}/packet.pdf",
                          headers=people.headers("staff"))
    assert response.status_code == 200
    return response.data


def test_a_link_hands_out_its_packet_until_its_downloads_are_used_up(client, people, ext,
                                                                      approved, packet_of):
    packet = packet_of(approved)
    made = make_link(client, people, approved, max_downloads=2)
    assert made.status_code == 201, made.json
    link = made.json
    assert link["url"].startswith("http://localhost/release/")
    assert (link["max_downloads"], link["downloads"], link["status"]) == (2, 0, "active")
    assert link["packet"] == packet["id"]
    token = token_of(link["url"])

    page = client.get(f"/release/{token}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"Records for request #{approved}" in html and "DOE, JANE" in html
    assert link["expires"][:10] in html and f"/release/{token}/packet.pdf" in html

    expected = packet_bytes(client, people, approved)
    for _ in range(2):
        got = download(client, token)
        assert got.status_code == 200
        assert got.data == expected
        assert hashlib.sha256(got.data).hexdigest() == packet["sha256"]
    gone = download(client, token)
    assert gone.status_code == 410
    text = gone.get_data(as_text=True)
    assert "used for all 2 downloads" in text and f"request number {approved}" in text
    assert client.get(f"/release/{token}").status_code == 410

    [listed] = client.get(f"/api/v1/requests/{approved}/links",
                          headers=people.headers("compliance")).json["links"]
    assert (listed["downloads"], listed["status"]) == (2, "used_up")
    assert "url" not in listed

    downloads = audit_events(ext, "request.link_download", approved)
    assert [event.details["download"] for event in downloads] == [1, 2]
    for event in downloads:
        assert event.actor == f"link:{link['id']}" and event.patient_mrn == "MRN-1001"
        assert event.details["link"] == link["id"]
        assert event.details["remote_address"] == "127.0.0.1"
        assert event.details["user_agent"] == AGENT
    assert len(audit_events(ext, "request.link_view", approved)) == 1
    refused = audit_events(ext, "request.link_refused", approved)
    assert [(e.outcome, e.details["state"]) for e in refused] == [("refused", "used_up")] * 2


def test_the_token_is_kept_only_as_its_hash(client, people, ext, approved, packet_of):
    packet_of(approved)
    token = token_of(make_link(client, people, approved).json["url"])
    assert len(token) == 43
    with ext.db.transaction() as session:
        [row] = session.scalars(select(ReleaseLink)).all()
        stored = {column.name: getattr(row, column.name) for column in ReleaseLink.__table__.c}
        trail = [json.dumps(event.details) for event in session.scalars(select(AuditEvent))]
    assert stored["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert not any(token in str(value) for value in stored.values())
    assert not any(token in details for details in trail)


def test_an_expired_link_is_gone(client, people, ext, approved, packet_of):
    packet_of(approved)
    token = token_of(make_link(client, people, approved).json["url"])
    with ext.db.transaction() as session:
        session.execute(update(ReleaseLink).values(expires_at=utcnow() - timedelta(minutes=1)))
    for response in (client.get(f"/release/{token}"), download(client, token)):
        assert response.status_code == 410
        assert "expired on" in response.get_data(as_text=True)
    [listed] = client.get(f"/api/v1/requests/{approved}/links",
                          headers=people.headers("staff")).json["links"]
    assert (listed["status"], listed["downloads"]) == ("expired", 0)


def test_a_revoked_link_is_gone(client, people, ext, approved, packet_of):
    packet_of(approved)
    link = make_link(client, people, approved).json
    token = token_of(link["url"])
    assert download(client, token).status_code == 200
    url = f"/api/v1/requests/{approved}/links/{link['id']}/revoke"
    assert client.post(url, headers=people.headers("compliance")).status_code == 403
    revoked = client.post(url, headers=people.headers("staff"))
    assert revoked.status_code == 200
    assert (revoked.json["status"], revoked.json["revoked_by"]) == ("revoked", "staff1")
    gone = download(client, token)
    assert gone.status_code == 410
    assert "withdrawn by the hospital" in gone.get_data(as_text=True)
    again = client.post(url, headers=people.headers("staff"))
    assert again.status_code == 409 and "already revoked" in again.json["error"]["message"]
    [event] = audit_events(ext, "request.link_revoke", approved)
    assert (event.actor, event.details["link"], event.details["downloads"]) == (
        "staff1", link["id"], 1)
    other = client.post(f"/api/v1/requests/{approved}/links/999/revoke",
                        headers=people.headers("staff"))
    assert other.status_code == 404


def test_a_link_keeps_the_packet_that_was_latest_when_it_was_made(client, people, approved,
                                                                   packet_of):
    first = packet_of(approved, lines=("FIRST PACKET",))
    token = token_of(make_link(client, people, approved).json["url"])
    second = packet_of(approved, lines=("SECOND PACKET",))
    assert first["sha256"] != second["sha256"]
    got = download(client, token)
    assert hashlib.sha256(got.data).hexdigest() == first["sha256"]
    newer = token_of(make_link(client, people, approved).json["url"])
    assert hashlib.sha256(download(client, newer).data).hexdigest() == second["sha256"]


def test_unknown_tokens_are_404(client, approved, packet_of):
    for token in ("A" * 43, "short", "not a token at all"):
        assert client.get(f"/release/{token}").status_code == 404
        assert download(client, token).status_code == 404


def test_a_link_needs_an_approved_request_with_a_packet_and_sane_terms(
        app, client, people, log_request, approved, packet_of):
    no_packet = make_link(client, people, approved)
    assert no_packet.status_code == 409
    assert "no packet yet" in no_packet.json["error"]["message"]
    logged = log_request().json["id"]
    packet_of(logged)
    not_approved = make_link(client, people, logged)
    assert not_approved.status_code == 409 and "logged" in not_approved.json["error"]["message"]
    packet_of(approved)
    app.config["RELEASE_LINK_MAX_DAYS"] = 14
    too_long = make_link(client, people, approved, expires_in_days=15)
    assert too_long.status_code == 400
    assert "between 1 and 14" in too_long.json["error"]["message"]
    assert make_link(client, people, approved, max_downloads=0).status_code == 400
    assert make_link(client, people, approved, token="x").status_code == 400
    assert client.get(f"/api/v1/requests/{approved}/links",
                      headers=people.headers("staff")).json["links"] == []
    made = make_link(client, people, approved, expires_in_days=14).json
    expires = (utcnow() + timedelta(days=14)).isoformat()
    assert made["expires"][:13] == expires[:13] and made["max_downloads"] == 3


def test_who_may_make_and_list_links(client, people, approved, packet_of):
    packet_of(approved)
    for role in ("clerk", "compliance", "admin"):
        assert make_link(client, people, approved, role=role).status_code == 403
    assert client.post(f"/api/v1/requests/{approved}/links").status_code == 401
    assert make_link(client, people, approved).status_code == 201
    listing = f"/api/v1/requests/{approved}/links"
    assert client.get(listing, headers=people.headers("compliance")).status_code == 200
    assert client.get(listing, headers=people.headers("clerk")).status_code == 403


def test_the_link_pages_are_rate_limited(app, client, people, approved, packet_of):
    packet_of(approved)
    token = token_of(make_link(client, people, approved).json["url"])
    app.config["RELEASE_LINK_RATE"] = "2 per minute"
    statuses = [client.get(f"/release/{token}").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert download(client, "B" * 43).status_code == 429

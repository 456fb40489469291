"""Sessions that end: a saved cookie or token opens nothing once its session was ended by
logout, a password change, a role change, a reset or a deactivation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from archive.auth import accounts
from archive.auth.tokens import create_token
from archive.models import ApiToken, UserSession, utcnow
from tests.conftest import PASSWORD, SYSTEM, csrf_token_of, login

COOKIE = "chartvault_session"


def saved_cookie(client) -> str:
    return client.get_cookie(COOKIE).value


def replay(app, cookie: str):
    """A second browser that presents a copy of a saved session cookie."""
    other = app.test_client()
    other.set_cookie(COOKIE, cookie)
    return other


def opens_chart(client, document_id: int) -> bool:
    return client.get(f"/documents/{document_id}").status_code == 200


def post_form(client, path: str, data: dict):
    token = csrf_token_of(client.get("/").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def test_logout_kills_the_saved_cookie(app, client, people, filed):
    version = filed()
    login(client, "staff1")
    cookie = saved_cookie(client)
    assert opens_chart(replay(app, cookie), version.document_id)
    assert post_form(client, "/logout", {}).status_code == 302
    thief = replay(app, cookie)
    response = thief.get(f"/documents/{version.document_id}")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    download = thief.get(f"/documents/{version.document_id}/versions/1/original")
    assert download.status_code == 302


def test_logout_closes_the_server_session_row(client, people, ext):
    login(client, "staff1")
    post_form(client, "/logout", {})
    with ext.db.transaction() as session:
        [row] = session.scalars(select(UserSession)).all()
    assert row.ended_at is not None and row.end_reason == "logout"


def test_password_change_ends_every_other_session_and_token(app, client, people, ext):
    other_browser = app.test_client()
    login(other_browser, "staff1")
    login(client, "staff1")
    token_headers = people.headers("staff")
    assert client.get("/api/v1/patients/MRN-0", headers=token_headers).status_code == 404
    cookie = saved_cookie(client)
    page = client.get("/account/password").get_data(as_text=True)
    new = "a completely new passphrase"
    changed = client.post("/account/password", data={
        "csrf_token": csrf_token_of(page), "current_password": PASSWORD,
        "new_password": new, "confirm_password": new})
    assert changed.status_code == 302
    assert client.get("/").status_code == 200  # the browser that changed it goes on
    assert other_browser.get("/").status_code == 302
    assert replay(app, cookie).get("/").status_code == 302
    assert client.get("/api/v1/patients/MRN-0", headers=token_headers).status_code == 401


@pytest.mark.parametrize("change", [
    lambda session: accounts.change_role(session, SYSTEM, "staff1", "compliance"),
    lambda session: accounts.reset_password(session, SYSTEM, "staff1"),
    lambda session: accounts.set_active(session, SYSTEM, "staff1", False),
], ids=["role change", "password reset", "deactivation"])
def test_an_administrative_change_ends_sessions_and_tokens_at_once(app, client, people, ext,
                                                                   change):
    login(client, "staff1")
    headers = people.headers("staff")
    assert client.get("/").status_code == 200
    with ext.db.transaction() as session:
        change(session)
    assert client.get("/").status_code == 302
    assert client.get("/api/v1/patients/MRN-0", headers=headers).status_code == 401
    with ext.db.transaction() as session:
        token = session.scalar(select(ApiToken).where(ApiToken.user.has(username="staff1")))
        assert token.revoked_at is not None and token.revoked_reason


def test_an_expired_token_is_refused(client, people, ext):
    with ext.db.transaction() as session:
        token = create_token(session, SYSTEM.actor, "staff1", "expiring",
                             expires_at=utcnow() + timedelta(seconds=30))
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/patients/MRN-0", headers=headers).status_code == 404
    with ext.db.transaction() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == "expiring"))
        row.expires_at = utcnow() - timedelta(seconds=1)
    assert client.get("/api/v1/patients/MRN-0", headers=headers).status_code == 401


def test_idle_timeout_closes_the_server_session(app, client, people, ext):
    login(client, "staff1")
    client.get("/")
    cookie = saved_cookie(client)
    with client.session_transaction() as session:
        session["last_seen"] -= app.permanent_session_lifetime.total_seconds() + 1
    assert client.get("/").status_code == 302
    with ext.db.transaction() as session:
        [row] = session.scalars(select(UserSession)).all()
    assert row.end_reason == "idle"
    assert replay(app, cookie).get("/").status_code == 302

"""Login sessions: password check, lockout, idle timeout, CSRF, cookie flags, first login."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from archive.models import AuditEvent, User
from tests.conftest import PASSWORD, add_user, csrf_token_of, login


def events(ext, action):
    with ext.db.transaction() as session:
        return session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                               .order_by(AuditEvent.seq)).all()


def alert_of(response) -> str:
    return re.search(r'role="alert".*?</div>', response.get_data(as_text=True), re.S).group(0)


def test_login_with_the_right_password_opens_a_session(client, people, ext):
    response = login(client, "staff1")
    assert response.status_code == 302
    home = client.get("/")
    assert home.status_code == 200
    page = home.get_data(as_text=True)
    assert "staff1" in page and "staff" in page
    assert [(e.actor, e.outcome) for e in events(ext, "auth.login")] == [("staff1", "success")]


def test_session_cookie_is_httponly_and_samesite_strict(client, people):
    response = login(client, "staff1")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_wrong_password_is_refused_and_audited(client, people, ext):
    response = login(client, "staff1", "not the password")
    assert response.status_code == 401
    assert "Wrong username or password" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    assert [e.outcome for e in events(ext, "auth.login")] == ["failure"]


def test_unknown_user_gets_the_same_message_as_a_wrong_password(client, people, ext):
    response = login(client, "nobody-here", "whatever password")
    assert response.status_code == 401
    assert "Wrong username or password" in response.get_data(as_text=True)
    assert [e.actor for e in events(ext, "auth.login")] == ["nobody-here"]


def test_repeated_failures_lock_the_account_even_for_the_right_password(client, people, ext):
    threshold = ext.settings.lockout_threshold
    for _ in range(threshold):
        assert login(client, "staff1", "wrong password!").status_code == 401
    locked = login(client, "staff1", PASSWORD)
    # Locked looks exactly like a wrong password or an unknown name: nothing to enumerate.
    unknown = login(client, "nobody-here", PASSWORD)
    assert locked.status_code == unknown.status_code == 401
    assert alert_of(locked) == alert_of(unknown)
    assert client.get("/").status_code == 302
    assert len(events(ext, "auth.lockout")) == 1
    assert events(ext, "auth.login")[-2].details == {"why": "account locked"}
    with ext.db.transaction() as session:
        assert session.scalar(select(User.locked_until).where(User.username == "staff1"))


def test_idle_session_is_logged_out(client, people, ext, app):
    login(client, "staff1")
    assert client.get("/").status_code == 200
    with client.session_transaction() as session:
        session["last_seen"] -= app.permanent_session_lifetime.total_seconds() + 1
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert client.get("/").status_code == 302


def test_form_post_without_csrf_token_is_refused(client, people):
    login(client, "staff1")
    response = client.post("/logout")
    assert response.status_code == 400
    assert client.get("/").status_code == 200  # still logged in: the forged logout failed


def test_login_form_itself_needs_the_csrf_token(client, people):
    response = client.post("/login", data={"username": "staff1", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_logout_ends_the_session(client, people, ext):
    login(client, "staff1")
    token = csrf_token_of(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302
    assert len(events(ext, "auth.logout")) == 1


def test_one_time_password_must_be_changed_before_anything_else(client, ext):
    add_user(ext, "newclerk", "clerk", must_change_password=True)
    response = login(client, "newclerk")
    assert response.headers["Location"] == "/account/password"
    assert client.get("/").headers["Location"] == "/account/password"
    page = client.get("/account/password").get_data(as_text=True)
    changed = client.post("/account/password", data={
        "csrf_token": csrf_token_of(page), "current_password": PASSWORD,
        "new_password": "a much better passphrase", "confirm_password": "a much better passphrase"})
    assert changed.status_code == 302
    assert client.get("/").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token_of(client.get("/").get_data(True))})
    assert login(client, "newclerk", "a much better passphrase").status_code == 302


def test_short_new_password_is_refused(client, people):
    login(client, "staff1")
    page = client.get("/account/password").get_data(as_text=True)
    response = client.post("/account/password", data={
        "csrf_token": csrf_token_of(page), "current_password": PASSWORD,
        "new_password": "short", "confirm_password": "short"})
    assert response.status_code == 400
    assert "at least 12 characters" in response.get_data(as_text=True)


@pytest.mark.parametrize("target", ["//evil.example/x", "/%5Cevil.example/x",
                                    "https://evil.example/x"])
def test_login_redirect_never_leaves_the_site(client, people, target):
    # "/\\evil.example" is read by browsers as "//evil.example".
    page = client.get(f"/login?next={target}").get_data(as_text=True)
    response = client.post(f"/login?next={target}", data={
        "username": "staff1", "password": PASSWORD, "csrf_token": csrf_token_of(page)})
    assert response.headers["Location"] == "/"


def test_revoked_or_bogus_api_token_is_401(client, people):
    response = client.get("/api/v1/patients/MRN-1", headers={"Authorization": "Bearer cvt_nope"})
    assert response.status_code == 401


def test_pages_carry_security_headers(client, people):
    login(client, "staff1")
    response = client.get("/")
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_login_page_after_idle_logout_lands_at_home_after_logging_in(client, people, app):
    login(client, "staff1")
    client.get("/")
    with client.session_transaction() as session:
        session["last_seen"] -= app.permanent_session_lifetime.total_seconds() + 1
    page = client.get("/login")
    assert page.status_code == 200  # the form, not a redirect loop
    response = client.post("/login", data={"username": "staff1", "password": PASSWORD,
                                           "csrf_token": csrf_token_of(page.get_data(True))})
    assert response.headers["Location"] == "/"
    assert client.get("/login").headers["Location"] == "/"


def test_logins_are_throttled_per_account_known_or_not(client, people, ext):
    limit = int(ext.settings.login_rate_per_account.split()[0])
    for name in ("staff1", "nobody-here"):
        statuses = [login(client, name, "wrong password!").status_code for _ in range(limit + 1)]
        assert statuses[:limit] == [401] * limit
        assert statuses[limit] == 429, name
    # Another account from the same address is not held back by those.
    assert login(client, "clerk1").status_code == 302


def test_logins_are_throttled_per_client_address(settings, people):
    from archive.app import create_app

    settings.login_rate_per_address = "3 per minute"
    app = create_app(settings, testing=True)
    client = app.test_client()
    statuses = [login(client, f"user{n}", "wrong password!").status_code for n in range(4)]
    assert statuses == [401, 401, 401, 429]
    refused = login(client, "staff1")
    assert refused.status_code == 429
    assert "Too many login attempts" in refused.get_data(as_text=True)
    app.extensions["chartvault"].db.dispose()


def test_a_bad_rate_setting_names_the_variable(settings):
    from archive.app import create_app

    settings.login_rate_per_account = "lots"
    with pytest.raises(ValueError, match="CHARTVAULT_LOGIN_RATE_PER_ACCOUNT"):
        create_app(settings, testing=True)

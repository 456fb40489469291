"""The administrator's user pages: add, role, reset, unlock, deactivate, reactivate, API
tokens; secrets shown once; refusals on the page; every change audited."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from archive.models import ApiToken, AuditEvent, User, utcnow
from tests.conftest import csrf_token_of, login


def admin_client(app):
    client = app.test_client()
    assert login(client, "admin1").status_code == 302
    return client


def post(client, path, **data):
    token = csrf_token_of(client.get("/admin/users").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data})


def secret_of(response) -> str:
    return re.search(r'<code class="mono" id="secret">([^<]+)</code>',
                     response.get_data(as_text=True)).group(1)


def audited(ext, action) -> list[dict]:
    with ext.db.transaction() as session:
        return [e.details for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action == action))]


def test_the_list_shows_role_state_and_last_login(app, people):
    page = admin_client(app).get("/admin/users").get_data(as_text=True)
    assert "clerk1" in page and "compliance1" in page
    assert re.search(r"admin1</a></th>\s*<td></td>\s*<td>admin</td>", page)
    assert "never" in page  # staff1 has not logged in


def test_adding_a_user_shows_the_one_time_password_once_and_forces_a_change(app, people, ext):
    admin = admin_client(app)
    added = post(admin, "/admin/users", username="newclerk", full_name="New Clerk", role="clerk")
    assert added.status_code == 200
    one_time = secret_of(added)
    assert audited(ext, "user.create")[-1] == {"username": "newclerk", "role": "clerk"}
    clerk = app.test_client()
    assert login(clerk, "newclerk", one_time).headers["Location"] == "/account/password"
    assert clerk.get("/qc").headers["Location"] == "/account/password"


def test_a_refused_addition_says_why_on_the_page(app, people):
    refused = post(admin_client(app), "/admin/users", username="staff1", role="staff")
    assert refused.status_code == 409
    assert "already exists" in refused.get_data(as_text=True)


def test_deactivation_ends_the_users_open_session(app, people, ext):
    staff = app.test_client()
    login(staff, "staff1")
    assert staff.get("/").status_code == 200
    done = post(admin_client(app), "/admin/users/staff1/deactivate")
    assert done.status_code == 303
    assert staff.get("/").headers["Location"].startswith("/login")
    assert login(staff, "staff1").status_code == 401
    post(admin_client(app), "/admin/users/staff1/reactivate")
    assert login(staff, "staff1").status_code == 302


def test_role_change_and_reset_from_the_web(app, people, ext):
    admin = admin_client(app)
    assert post(admin, "/admin/users/staff1/role", role="compliance").status_code == 303
    with ext.db.transaction() as session:
        assert session.scalar(select(User.role).where(User.username == "staff1")) == "compliance"
    reset = post(admin, "/admin/users/staff1/reset-password")
    one_time = secret_of(reset)
    assert login(app.test_client(), "staff1", one_time).status_code == 302
    assert audited(ext, "user.role")[-1]["to"] == "compliance"


def test_unlock_from_the_web(app, people, ext):
    with ext.db.transaction() as session:
        session.scalar(select(User).where(User.username == "clerk1")).locked_until = (
            utcnow() + timedelta(minutes=5))
    admin = admin_client(app)
    assert "Unlock" in admin.get("/admin/users/clerk1").get_data(as_text=True)
    assert post(admin, "/admin/users/clerk1/unlock").status_code == 303
    assert login(app.test_client(), "clerk1").status_code == 302


def test_an_admin_cannot_lock_themselves_out(app, people):
    refused = post(admin_client(app), "/admin/users/admin1/deactivate")
    assert refused.status_code == 409
    assert "your own account" in refused.get_data(as_text=True)


def test_api_tokens_from_the_web(app, people, ext):
    admin = admin_client(app)
    created = post(admin, "/admin/users/staff1/tokens", name="ward printer", expires="2099-01-31")
    token = secret_of(created)
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/patients/MRN-0", headers=headers).status_code == 404
    page = admin.get("/admin/users/staff1").get_data(as_text=True)
    assert "ward printer" in page and "2099-02-01" in page and token not in page
    token_id = re.search(r"/admin/users/staff1/tokens/(\d+)/revoke", page).group(1)
    assert post(admin, f"/admin/users/staff1/tokens/{token_id}/revoke").status_code == 303
    assert api.get("/api/v1/patients/MRN-0", headers=headers).status_code == 401
    # A token id of another user, under this user's address: not found, not revoked.
    with ext.db.transaction() as session:
        staff_token = session.scalar(select(ApiToken.id).where(ApiToken.name == "tests",
                                                               ApiToken.user.has(username="staff1")))
    assert post(admin, f"/admin/users/clerk1/tokens/{staff_token}/revoke").status_code == 404


def test_an_unknown_user_is_404(app, people):
    assert admin_client(app).get("/admin/users/ghost").status_code == 404

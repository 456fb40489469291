"""Account administration through the REST API (admins only), audited, as on the web."""

from __future__ import annotations

from sqlalchemy import select

from archive.models import AuditEvent
from tests.conftest import login


def test_an_admin_adds_a_user_and_manages_their_token(client, people, ext, app):
    admin = people.headers("admin")
    added = client.post("/api/v1/users", json={"username": "newclerk", "role": "clerk"},
                        headers=admin)
    assert added.status_code == 201
    one_time = added.json["one_time_password"]
    assert login(app.test_client(), "newclerk", one_time).headers["Location"] == (
        "/account/password")
    listed = {u["username"]: u for u in client.get("/api/v1/users", headers=admin).json["users"]}
    assert listed["newclerk"]["state"] == "must change password"

    issued = client.post("/api/v1/tokens", json={"username": "newclerk", "name": "scanner 3",
                                                 "expires": "2099-01-01"}, headers=admin)
    assert issued.status_code == 201
    token = {"Authorization": f"Bearer {issued.json['token']}"}
    assert client.get("/api/v1/patients/MRN-0", headers=token).status_code == 404
    [row] = client.get("/api/v1/tokens?user=newclerk", headers=admin).json["tokens"]
    assert row["name"] == "scanner 3" and row["state"] == "live" and "token" not in row
    assert client.post(f"/api/v1/tokens/{row['id']}/revoke", headers=admin).status_code == 200
    assert client.get("/api/v1/patients/MRN-0", headers=token).status_code == 401


def test_role_change_disable_enable_and_reset_through_the_api(client, people, ext):
    admin = people.headers("admin")
    staff = people.headers("staff")
    changed = client.post("/api/v1/users/staff1/role", json={"role": "compliance"},
                          headers=admin)
    assert changed.status_code == 200 and changed.json["role"] == "compliance"
    assert client.get("/api/v1/patients/MRN-0", headers=staff).status_code == 401
    assert client.post("/api/v1/users/clerk1/disable", headers=admin).json["state"] == (
        "deactivated")
    assert client.post("/api/v1/users/clerk1/enable", headers=admin).json["state"] == "active"
    reset = client.post("/api/v1/users/clerk1/reset-password", headers=admin)
    assert len(reset.json["one_time_password"]) >= 12
    with ext.db.transaction() as session:
        actions = set(session.scalars(select(AuditEvent.action)))
    assert {"user.role", "user.disable", "user.enable", "user.password_reset"} <= actions


def test_refusals_come_as_json_errors(client, people):
    admin = people.headers("admin")
    assert client.post("/api/v1/users/admin1/disable", headers=admin).status_code == 409
    assert client.post("/api/v1/users/ghost/unlock", headers=admin).status_code == 404
    bad = client.post("/api/v1/users", json={"username": "x y", "role": "clerk"}, headers=admin)
    assert bad.status_code == 400 and bad.json["error"]["message"].startswith("username")
    assert client.get("/api/v1/users", headers=people.headers("compliance")).status_code == 403

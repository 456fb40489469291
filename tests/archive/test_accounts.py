"""Account administration from the CLI (the same service functions serve the web pages):
disable, enable, unlock, reset-password, role, list; API tokens listed, expiring, revoked;
every change audited; nobody can remove the last administrator."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from archive.auth import accounts
from archive.errors import Conflict
from archive.models import AuditEvent, User, utcnow
from tests.archive.test_cli import run  # noqa: F401 - the CLI fixture
from tests.conftest import SYSTEM, add_user


def actions(ext) -> list[str]:
    with ext.db.transaction() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def user(ext, name) -> User:
    with ext.db.transaction() as session:
        return session.scalar(select(User).where(User.username == name))


@pytest.fixture
def cli(run, ext):  # noqa: F811
    """The CLI against the same database as ``ext``."""
    return run


def test_disable_and_enable_from_the_cli(cli, ext, people):
    result = cli("user", "disable", "staff1")
    assert result.exit_code == 0, result.output
    assert user(ext, "staff1").active is False
    assert "user.disable" in actions(ext) and "user.sessions_ended" in actions(ext)
    assert cli("user", "disable", "staff1").exit_code == 1  # already deactivated: said so
    assert cli("user", "enable", "staff1").exit_code == 0
    assert user(ext, "staff1").active is True


def test_unlock_from_the_cli(cli, ext, people):
    with ext.db.transaction() as session:
        session.scalar(select(User).where(User.username == "staff1")).locked_until = (
            utcnow() + timedelta(minutes=10))
    assert cli("user", "unlock", "staff1").exit_code == 0
    assert user(ext, "staff1").locked_until is None
    again = cli("user", "unlock", "staff1")
    assert again.exit_code == 1 and "not locked" in again.output


def test_reset_password_prints_a_one_time_password_that_works_once(cli, ext, people, client):
    result = cli("user", "reset-password", "staff1")
    assert result.exit_code == 0
    one_time = result.output.strip()
    assert len(one_time) >= 12
    from tests.conftest import login

    response = login(client, "staff1", one_time)
    assert response.headers["Location"] == "/account/password"  # must choose a new one
    assert user(ext, "staff1").must_change_password is True


def test_user_list_shows_role_state_and_last_login(cli, ext, people):
    cli("user", "disable", "clerk1")
    lines = cli("user", "list").output.splitlines()
    by_name = {line.split("\t")[0]: line.split("\t") for line in lines}
    assert by_name["clerk1"][1:3] == ["clerk", "deactivated"]
    assert by_name["staff1"][1:3] == ["staff", "active"]
    assert by_name["staff1"][3] == "last login never"


def test_token_list_revoke_and_expiry(cli, ext, people, client):
    created = cli("token", "create", "staff1", "--name", "lab interface", "--expires",
                  "2099-12-31")
    assert created.exit_code == 0
    token = created.output.strip()
    lines = cli("token", "list", "staff1").output.splitlines()
    [line] = [line for line in lines if "lab interface" in line]
    token_id = line.split("\t")[0]
    assert "live" in line and "expires 2100-01-01 00:00 UTC" in line and token not in line
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/patients/MRN-0", headers=headers).status_code == 404
    assert cli("token", "revoke", token_id).exit_code == 0
    assert client.get("/api/v1/patients/MRN-0", headers=headers).status_code == 401
    assert "revoked" in [x for x in cli("token", "list").output.splitlines()
                         if x.startswith(token_id + "\t")][0]
    assert cli("token", "revoke", token_id).exit_code == 1
    assert cli("token", "revoke", "99999").exit_code == 1
    assert "token.revoke" in actions(ext)


def test_a_past_expiry_is_refused(cli, people):
    result = cli("token", "create", "staff1", "--expires", "2001-01-01")
    assert result.exit_code == 1 and "past" in result.output


def test_the_last_administrator_cannot_be_removed(ext, people):
    with ext.db.transaction() as session, pytest.raises(Conflict, match="last active"):
        accounts.set_active(session, SYSTEM, "admin1", False)
    with ext.db.transaction() as session, pytest.raises(Conflict, match="last active"):
        accounts.change_role(session, SYSTEM, "admin1", "staff")
    add_user(ext, "admin2", "admin")
    with ext.db.transaction() as session:
        accounts.set_active(session, SYSTEM, "admin1", False)
    assert user(ext, "admin1").active is False


def test_an_administrator_cannot_deactivate_themselves(ext, people):
    add_user(ext, "admin2", "admin")
    admin = people.principal("admin")
    with ext.db.transaction() as session, pytest.raises(Conflict, match="your own"):
        accounts.set_active(session, admin, "admin1", False)


@pytest.mark.parametrize("password, why", [
    ("aaaaaaaaaaaa", "Repeats"),
    ("password1234", "common"),
    ("short", "at least 12"),
    ("staff1staff1staff1", "stronger"),
])
def test_weak_passwords_are_refused_with_the_reason(cli, password, why):
    result = cli("user", "add", "staff1", "--role", "staff", "--password-stdin",
                 input=password + "\n")
    assert result.exit_code == 1
    assert why in result.output

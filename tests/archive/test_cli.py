"""The ``chartvault`` command, run through Click's runner on both databases."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session

from archive.cli import cli
from archive.models import AuditEvent, Patient, User


@pytest.fixture
def run(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CHARTVAULT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CHARTVAULT_DATABASE_URL", database_url)
    monkeypatch.delenv("CHARTVAULT_ADMIN_PASSWORD", raising=False)
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    return invoke


def rows(database_url, model):
    engine = create_engine(database_url)
    with Session(engine) as session:
        found = session.scalars(select(model)).all()
    engine.dispose()
    return found


def test_init_on_an_empty_data_dir_migrates_and_creates_one_admin(tmp_path, monkeypatch):
    data = tmp_path / "fresh"
    monkeypatch.setenv("CHARTVAULT_DATA_DIR", str(data))
    monkeypatch.delenv("CHARTVAULT_DATABASE_URL", raising=False)
    first = CliRunner().invoke(cli, ["init"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    password = re.search(r"one-time password: (\S+)", first.output).group(1)
    assert (data / "chartvault.db").exists()
    assert (data / "secret_key").stat().st_mode & 0o077 == 0
    again = CliRunner().invoke(cli, ["init"], catch_exceptions=False)
    assert again.exit_code == 0 and "one-time password" not in again.output
    users = rows(f"sqlite:///{data / 'chartvault.db'}", User)
    assert [(u.username, u.role, u.must_change_password) for u in users] == [
        ("admin", "admin", True)]
    assert len(password) >= 12


def test_init_takes_the_admin_password_from_the_environment(run, monkeypatch, database_url):
    monkeypatch.setenv("CHARTVAULT_ADMIN_PASSWORD", "a long admin passphrase")
    result = run("init")
    assert result.exit_code == 0
    assert "one-time" not in result.output
    [admin] = rows(database_url, User)
    # Whoever set the variable knows the password: the admin must choose their own.
    assert admin.must_change_password is True


def test_user_add_with_password_from_stdin_and_token_create(run, database_url):
    result = run("user", "add", "nurse", "--role", "staff", "--password-stdin",
                 input="a long nurse passphrase\n")
    assert result.exit_code == 0, result.output
    token = run("token", "create", "nurse").output.strip()
    assert token.startswith("cvt_")
    [user] = rows(database_url, User)
    assert user.role == "staff" and token not in user.password_hash


def test_user_add_refuses_an_unknown_role(run):
    result = run("user", "add", "x1", "--role", "janitor")
    assert result.exit_code != 0
    assert "janitor" in result.output


def test_token_for_unknown_user_is_a_clear_error(run):
    result = run("token", "create", "ghost")
    assert result.exit_code == 1
    assert "No user named 'ghost'" in result.output


def test_patient_add_and_duplicate(run, database_url):
    ok = run("patient", "add", "MRN-77", "--name", "DOE, JOHN", "--dob", "1960-02-29")
    assert ok.exit_code == 0, ok.output
    dup = run("patient", "add", "MRN-77", "--name", "DOE, JOHN", "--dob", "1960-02-29")
    assert dup.exit_code == 1
    assert "already registered" in dup.output
    bad = run("patient", "add", "MRN-78", "--name", "X", "--dob", "29/02/1960")
    assert bad.exit_code == 1 and "YYYY-MM-DD" in bad.output
    assert [p.mrn for p in rows(database_url, Patient)] == ["MRN-77"]
    actors = {e.actor for e in rows(database_url, AuditEvent)}
    assert all(a.startswith("cli:") for a in actors)


def test_audit_verify_reports_intact_then_names_the_tampered_event(run, database_url):
    run("patient", "add", "MRN-1", "--name", "A, B", "--dob", "1990-01-01")
    run("patient", "add", "MRN-2", "--name", "C, D", "--dob", "1990-01-01")
    intact = run("audit", "verify")
    assert intact.exit_code == 0 and "2 events verified" in intact.output
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(reason="edited"))
    engine.dispose()
    broken = run("audit", "verify")
    assert broken.exit_code == 1
    assert "broken at event 2" in broken.output


def test_serve_refuses_to_start_on_an_old_schema(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARTVAULT_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("CHARTVAULT_SECRET_KEY", "x" * 32)
    monkeypatch.setenv("CHARTVAULT_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = CliRunner().invoke(cli, ["serve", "--port", "1"])
    assert result.exit_code == 1
    assert "chartvault init" in result.output


def test_init_writes_the_audit_key_for_its_owner_only_and_the_chain_verifies_with_it(
    tmp_path, monkeypatch
):
    data = tmp_path / "fresh"
    monkeypatch.setenv("CHARTVAULT_DATA_DIR", str(data))
    monkeypatch.delenv("CHARTVAULT_DATABASE_URL", raising=False)
    monkeypatch.delenv("CHARTVAULT_AUDIT_KEY")

    first = CliRunner().invoke(cli, ["init"], catch_exceptions=False)

    assert first.exit_code == 0, first.output
    key_file = data / "audit_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = key_file.read_text()
    assert len(key) == 64 and "keep a copy" in first.output
    again = CliRunner().invoke(cli, ["init"], catch_exceptions=False)
    assert again.exit_code == 0 and key_file.read_text() == key
    verified = CliRunner().invoke(cli, ["audit", "verify"], catch_exceptions=False)
    assert verified.exit_code == 0, verified.output
    assert "Audit chain intact: 1 events" in verified.output
    events = rows(f"sqlite:///{data / 'chartvault.db'}", AuditEvent)
    assert [e.mac for e in events] == ["hmac-sha256"]

    key_file.write_text("f" * 64)  # another key: the chain is not this key's
    wrong = CliRunner().invoke(cli, ["audit", "verify"], catch_exceptions=False)
    assert wrong.exit_code == 1 and "Audit chain broken at event 1" in wrong.output


def test_commands_that_audit_refuse_without_an_audit_key(run, monkeypatch, database_url):
    monkeypatch.delenv("CHARTVAULT_AUDIT_KEY")

    result = run("patient", "add", "MRN-1", "--name", "DOE, JANE", "--dob", "1970-01-02")

    assert result.exit_code == 1
    assert "CHARTVAULT_AUDIT_KEY" in result.output and "chartvault init" in result.output
    assert rows(database_url, Patient) == []

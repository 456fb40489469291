"""Shared fixtures. Every DB-touching test runs twice: on SQLite (the embedded default)
and on a throwaway PostgreSQL cluster (the production database)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, text

from archive import migrate
from archive.app import TESTING_AUDIT_KEY, create_app
from archive.audit import GENESIS_HASH, Actor
from archive.auth.passwords import hash_password
from archive.auth.permissions import SYSTEM_ROLE, Principal
from archive.auth.tokens import create_token
from archive.config import Settings
from archive.extensions import Archive
from archive.interfaces import Upload
from archive.models import ROLES, Base, User
from archive.records.filing import add_document
from archive.records.patients import register_patient
from tests.pg import ThrowawayPostgres
from tests.samples import pdf_bytes

PASSWORD = "correct horse battery staple"
# Tables whose rows the migration itself seeds; everything else is wiped between tests.
SEEDED_TABLES = {"roles", "audit_head", "alembic_version"}


@pytest.fixture(autouse=True)
def audit_key_in_environment(monkeypatch):
    """Commands run through the CLI (not in testing mode) read the audit key from the
    environment: the same key the testing apps use, so both write and verify one chain.
    A test of the key's absence removes it."""
    monkeypatch.setenv("CHARTVAULT_AUDIT_KEY", TESTING_AUDIT_KEY)


@pytest.fixture(scope="session")
def postgres() -> Iterator[ThrowawayPostgres]:
    with ThrowawayPostgres() as cluster:
        yield cluster


@dataclass
class DatabaseTemplate:
    backend: str
    url: str  # for PostgreSQL the live database; for SQLite a migrated file to copy


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_template(request, tmp_path_factory) -> Iterator[DatabaseTemplate]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
        url = f"sqlite:///{path}"
    else:
        # Pytest may tear this template down and build it again when the order of the tests
        # switches between the backends (as it does when pytest-xdist hands a worker files
        # whose parameters interleave): start from no database, and leave none behind.
        cluster = request.getfixturevalue("postgres")
        cluster.drop_database("chartvault_test")
        url = cluster.create_database("chartvault_test")
        request.addfinalizer(lambda: cluster.drop_database("chartvault_test"))
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield DatabaseTemplate(request.param, url)


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    tables = [t.name for t in Base.metadata.sorted_tables if t.name not in SEEDED_TABLES]
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        connection.execute(text("UPDATE audit_head SET last_seq = 0, last_hash = :genesis"),
                           {"genesis": GENESIS_HASH})
    engine.dispose()


def _drop_replication_slots(url: str) -> None:
    """A test that ran the database journal left its slot, which would keep every byte of
    WAL the rest of the session writes."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_drop_replication_slot(slot_name) "
                                "FROM pg_replication_slots WHERE NOT active"))
    engine.dispose()


@pytest.fixture
def database_url(database_template: DatabaseTemplate, tmp_path: Path) -> Iterator[str]:
    """A fresh, fully migrated database for one test."""
    if database_template.backend == "sqlite":
        target = tmp_path / "chartvault.db"
        shutil.copyfile(database_template.url.removeprefix("sqlite:///"), target)
        yield f"sqlite:///{target}"
        return
    _reset_postgres(database_template.url)
    yield database_template.url
    _drop_replication_slots(database_template.url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings, testing=True)
    yield app
    app.extensions["chartvault"].db.dispose()


@pytest.fixture
def ext(app: Flask) -> Archive:
    return app.extensions["chartvault"]


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@cache
def _password_hash() -> str:
    # scrypt is deliberately slow; one hash serves every test user.
    return hash_password(PASSWORD)


SYSTEM = Principal(username="tests", role=SYSTEM_ROLE, source="tests")


@dataclass
class People:
    """One user of each role, with an API token each."""

    ext: Archive
    tokens: dict[str, str]

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def principal(self, role: str) -> Principal:
        with self.ext.db.transaction() as session:
            user = session.query(User).filter_by(username=role + "1").one()
            return Principal(user.username, user.role, user.id, "tests")


def add_user(ext: Archive, username: str, role: str, **fields) -> None:
    with ext.db.transaction() as session:
        defaults = {"active": True, "failed_logins": 0, "must_change_password": False}
        session.add(User(username=username, role=role, password_hash=_password_hash(),
                         **{**defaults, **fields}))


@pytest.fixture
def people(ext: Archive) -> People:
    tokens = {}
    for role in ROLES:
        add_user(ext, role + "1", role)
        with ext.db.transaction() as session:
            tokens[role] = create_token(session, Actor("tests"), role + "1", "tests")
    return People(ext, tokens)


@pytest.fixture
def patient(ext: Archive) -> str:
    with ext.db.transaction() as session:
        register_patient(session, SYSTEM, mrn="MRN-1001", name="DOE, JANE", dob=date(1970, 1, 2))
    return "MRN-1001"


def login(client, username: str, password: str = PASSWORD):
    """Log in through the real form, CSRF token included."""
    page = client.get("/login")
    token = csrf_token_of(page.get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token})


def csrf_token_of(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


@pytest.fixture
def filed(ext, people, patient, tmp_path):
    """File a one-page scan through the real service; returns its DocumentVersion."""

    def file(lines=("DISCHARGE SUMMARY",), mrn=None, doc_type="discharge_summary", data=None):
        path = tmp_path / f"scan-{len(list(tmp_path.iterdir()))}.pdf"
        path.write_bytes(data if data is not None else pdf_bytes(list(lines)))
        with path.open("rb") as stream:
            return add_document(ext, people.principal("clerk"), mrn=mrn or patient,
                                doc_type=doc_type, upload=Upload(stream, path.name)).version

    return file

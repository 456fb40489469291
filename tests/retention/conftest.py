"""Fixtures of the retention (and backup) tests: a replica endpoint (moto over HTTP),
settings that put the replica there when a test asks for it, two filed charts, and a second
compliance officer."""

from __future__ import annotations

from datetime import date

import pytest
from moto.server import ThreadedMotoServer
from sqlalchemy import select

from archive.auth.permissions import Principal
from archive.config import Settings
from archive.models import User
from archive.records.patients import register_patient
from tests.backup.replicas import CHART, NOTE, with_s3_replica
from tests.conftest import SYSTEM, add_user
from tests.search.library import file_chart


@pytest.fixture
def replica_server() -> ThreadedMotoServer:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(request, database_url, tmp_path) -> Settings:
    """The default settings; with an S3 replica for a test that asks for ``replica_server``."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    if "replica_server" not in request.fixturenames:
        return settings
    return with_s3_replica(settings, request.getfixturevalue("replica_server"))


@pytest.fixture
def charts(app, ext, people) -> list[int]:
    """Two filed and processed charts of one patient."""
    clerk = people.principal("clerk")
    with ext.db.transaction() as session:
        register_patient(session, SYSTEM, mrn="REP-1", name="COPY, ANN", dob=date(1940, 3, 1))
    return [
        file_chart(app, clerk, "REP-1", CHART, date_of_service=date(2001, 2, 3)),
        file_chart(app, clerk, "REP-1", NOTE, doc_type="clinic_note",
                   date_of_service=date(2024, 5, 6)),
    ]


@pytest.fixture
def second_officer(ext, people) -> Principal:
    """Another compliance officer ("compliance2"): a disposition batch needs the approvals of
    two different ones, and ``people`` has one user per role."""
    add_user(ext, "compliance2", "compliance")
    with ext.db.transaction() as session:
        user = session.scalars(select(User).where(User.username == "compliance2")).one()
        return Principal(user.username, user.role, user.id, "tests")

"""Fixtures of the fault matrix: real parts a test may stop and start again. An S3 endpoint
(moto over HTTP) of the test's own, an app on it, a PostgreSQL cluster of the module's own
(never the session's, which every other test uses), and a size-limited tmpfs."""

from __future__ import annotations

import io
import subprocess
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from moto.server import ThreadedMotoServer
from sqlalchemy import create_engine
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from archive import migrate
from archive.app import create_app
from archive.audit import Actor
from archive.auth.tokens import create_token
from archive.config import Settings
from archive.records.patients import register_patient
from tests.conftest import SYSTEM, People, add_user
from tests.ingest import scans
from tests.pg import ThrowawayPostgres
from tests.storefixtures import ACCESS_KEY, REGION, SECRET_KEY, endpoint_of, start_moto

MRN = "MRN-1001"


# --- S3 (moto over HTTP) ------------------------------------------------------------------


class Endpoint:
    """A moto S3 server that can be stopped and started again on the same address. moto
    keeps its buckets in this process, so what was stored before the outage is there after."""

    def __init__(self) -> None:
        self.server = start_moto()
        self.address = endpoint_of(self.server)
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.server.stop()
            self.running = False

    def start(self) -> None:
        if not self.running:
            host, port = self.server.get_host_and_port()
            self.server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
            self.server.start()
            self.running = True


@pytest.fixture
def endpoint(monkeypatch) -> Iterator[Endpoint]:
    """A moto server of this test's own, so the test may stop it."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    endpoint = Endpoint()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def moto_server(endpoint) -> ThreadedMotoServer:
    return endpoint.server


@pytest.fixture
def s3_app(database_url, tmp_path, endpoint) -> Iterator[Flask]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        storage="s3",
        s3_endpoint=endpoint.address,
        s3_access_key=ACCESS_KEY,
        s3_secret_key=SECRET_KEY,
        s3_bucket=f"chartvault-{uuid.uuid4().hex}",  # moto keeps every test's buckets
        s3_region=REGION,
        ocr_workers=1,  # OCR in this process: no fork server to start for one small page
    )
    app = create_app(settings, testing=True)
    yield app
    app.extensions["chartvault"].db.dispose()


@pytest.fixture
def patient_on(s3_app) -> str:
    with s3_app.extensions["chartvault"].db.transaction() as session:
        register_patient(session, SYSTEM, mrn=MRN, name="DOE, JANE", dob=date(1970, 1, 2))
    return MRN


@pytest.fixture
def s3_people(s3_app, patient_on) -> People:
    return people_of(s3_app, ("clerk", "staff"))


def post_scan(client, people: People, data: bytes, mrn: str = MRN):
    """Upload a scan through the API as the clerk. The body is encoded here, in memory: the
    test client spools a large one to a temporary file it never closes (a ResourceWarning,
    an error in this suite)."""
    scan = FileStorage(io.BytesIO(data), "scan.pdf")
    boundary, body = encode_multipart({"mrn": mrn, "type": "progress_note", "file": scan})
    return client.post("/api/v1/documents", headers=people.headers("clerk"),
                       content_type=f"multipart/form-data; boundary={boundary}", data=body)


def blank_then_text_chart(tmp_path: Path) -> bytes:
    """A two-page scanned chart: a blank page, read in a moment, then a page of text, which
    takes tesseract a second or two. A fault that strikes once the first page is done
    strikes in the middle of the document."""
    full = scans.scanned_chart()
    pages = (full.BLANK - 1, len(full.images) - 1)
    chart = scans.ScannedChart(tuple(full.images[page] for page in pages),
                               tuple(full.texts[page] for page in pages))
    return chart.save_pdf(tmp_path / "chart.pdf").read_bytes()


def people_of(app: Flask, roles) -> People:
    """One user and API token of each of ``roles`` in ``app``."""
    ext = app.extensions["chartvault"]
    for role in roles:
        add_user(ext, role + "1", role)
    with ext.db.transaction() as session:
        tokens = {role: create_token(session, Actor("tests"), role + "1", "t") for role in roles}
    return People(ext, tokens)


# --- a PostgreSQL cluster the tests may stop ----------------------------------------------


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[ThrowawayPostgres]:
    with ThrowawayPostgres() as cluster:
        yield cluster


@pytest.fixture
def stoppable_database(own_postgres) -> Iterator[str]:
    """A fresh, migrated database on the module's own cluster; the server is running again
    after the test, whatever the test did to it."""
    name = f"faults_{uuid.uuid4().hex[:12]}"
    url = own_postgres.create_database(name)
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    if not (own_postgres.data_dir / "postmaster.pid").exists():
        own_postgres.start_server()
    own_postgres.drop_database(name)


# --- a small disk -------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted where the test's archive keeps its objects (the objects
    directory of ``tmp_path / "data"``), unmounted after the test. Mounting needs root, as
    CI runs."""
    mount_point = tmp_path / "data" / "objects"
    mount_point.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(mount_point)],
                   check=True, capture_output=True)
    yield mount_point
    subprocess.run(["umount", "--lazy", str(mount_point)], check=True, capture_output=True)

"""The API on the production object store (S3 over HTTP, moto) — and with it failing."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from archive.app import create_app
from archive.config import Settings
from archive.models import Document, DocumentVersion
from archive.storage.s3 import S3Store
from tests.samples import pdf_bytes
from tests.storefixtures import ACCESS_KEY, REGION, SECRET_KEY, endpoint_of, start_moto


@pytest.fixture
def moto_server(monkeypatch) -> Iterator:
    """A moto server of this test's own, so the test may stop it."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    server = start_moto()
    yield server
    server.stop()


@pytest.fixture
def s3_app(database_url, tmp_path, moto_server):
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        storage="s3",
        s3_endpoint=endpoint_of(moto_server),
        s3_access_key=ACCESS_KEY,
        s3_secret_key=SECRET_KEY,
        s3_bucket="chartvault",
        s3_region=REGION,
    )
    app = create_app(settings, testing=True)
    yield app
    app.extensions["chartvault"].db.dispose()


@pytest.fixture
def s3_people(s3_app, patient_on):
    from archive.audit import Actor
    from archive.auth.tokens import create_token
    from tests.conftest import People, add_user

    ext = s3_app.extensions["chartvault"]
    add_user(ext, "clerk1", "clerk")
    add_user(ext, "staff1", "staff")
    with ext.db.transaction() as session:
        tokens = {
            role: create_token(session, Actor("tests"), role + "1", "t")
            for role in ("clerk", "staff")
        }
    return People(ext, tokens)


@pytest.fixture
def patient_on(s3_app):
    from datetime import date

    from archive.records.service import register_patient
    from tests.conftest import SYSTEM

    with s3_app.extensions["chartvault"].db.transaction() as session:
        register_patient(session, SYSTEM, mrn="MRN-1001", name="DOE, JANE", dob=date(1970, 1, 2))


def post_scan(client, people, data):
    return client.post(
        "/api/v1/documents",
        headers=people.headers("clerk"),
        content_type="multipart/form-data",
        data={"mrn": "MRN-1001", "type": "progress_note", "file": (io.BytesIO(data), "scan.pdf")},
    )


def documents_in(ext) -> tuple[int, int]:
    with ext.db.transaction() as session:
        return (
            session.scalar(select(func.count()).select_from(Document)),
            session.scalar(select(func.count()).select_from(DocumentVersion)),
        )


def test_upload_and_download_through_s3(s3_app, s3_people):
    client = s3_app.test_client()
    data = pdf_bytes(["RADIOLOGY REPORT"])
    created = post_scan(client, s3_people, data)
    assert created.status_code == 202
    got = client.get(
        f"/api/v1/documents/{created.json['id']}/versions/1/original",
        headers=s3_people.headers("staff"),
    )
    assert got.status_code == 200 and got.data == data
    ext = s3_app.extensions["chartvault"]
    [info] = ext.store.list_versions(f"documents/{_uid(ext)}/original")
    assert info.size == len(data)


def _uid(ext) -> str:
    with ext.db.transaction() as session:
        return session.scalar(select(Document.uid))


class StopsEndpointMidPut(S3Store):
    """Fault injection: the S3 endpoint goes down while the original is streaming in."""

    def __init__(self, inner: S3Store, server):
        self.__dict__.update(inner.__dict__)
        self._server = server

    def put(self, key, stream, **kwargs):
        server, original_read = self._server, stream.read

        def read(n=-1):
            chunk = original_read(n)
            if server is not None:
                server.stop()
            return chunk

        stream.read = read
        return super().put(key, stream, **kwargs)


def test_s3_stopped_mid_upload_gives_503_and_no_row(s3_app, s3_people, moto_server):
    client = s3_app.test_client()
    ext = s3_app.extensions["chartvault"]
    assert post_scan(client, s3_people, pdf_bytes(["FIRST"])).status_code == 202
    ext.__dict__["store"] = StopsEndpointMidPut(ext.store, moto_server)

    response = post_scan(client, s3_people, pdf_bytes(["SECOND"]) * 3)
    assert response.status_code == 503
    assert response.json["error"]["code"] == "storage_unavailable"
    assert "try again" in response.json["error"]["message"]
    assert documents_in(ext) == (1, 1)  # only the first upload, whose object exists


def test_health_is_503_while_s3_is_down(s3_app, moto_server):
    client = s3_app.test_client()
    assert client.get("/api/v1/health").status_code == 200
    moto_server.stop()
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json["database"] == "ok"
    assert response.json["storage"].startswith("unavailable")

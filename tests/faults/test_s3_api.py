"""The API on the production object store (S3 over HTTP, moto) — and with it failing."""

from __future__ import annotations

import io
import random

from PIL import Image
from sqlalchemy import func, select

from archive.models import Document, DocumentVersion
from archive.storage.s3 import PART_SIZE, S3Store
from tests.faults.checks import assert_archive_consistent, partial_objects
from tests.faults.conftest import post_scan
from tests.samples import pdf_bytes


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
    """Fault injection (the stop itself is real): the S3 endpoint goes down once the store
    has read ``after`` bytes of the upload to send (its SHA-256 pass over the stream, which
    precedes the upload, not counted). With 0, before the first byte has left."""

    def __init__(self, inner: S3Store, endpoint, after: int = 0):
        self.__dict__.update(inner.__dict__)
        self._endpoint, self._after = endpoint, after

    def put(self, key, stream, **kwargs):
        size = stream.seek(0, io.SEEK_END)
        stream.seek(0)
        original_read, read_so_far = stream.read, 0

        def read(n=-1):
            nonlocal read_so_far
            if read_so_far >= size + self._after:
                self._endpoint.stop()
            chunk = original_read(n)
            read_so_far += len(chunk)
            return chunk

        stream.read = read
        return super().put(key, stream, **kwargs)


def assert_s3_outage_answer(response, endpoint) -> None:
    """503, saying which store did not answer and what to do about it."""
    assert response.status_code == 503
    error = response.json["error"]
    assert error["code"] == "storage_unavailable"
    assert endpoint.address in error["message"]
    assert "is running" in error["message"] and "try again" in error["message"]


def test_s3_stopped_mid_upload_gives_503_and_no_row(s3_app, s3_people, endpoint):
    client = s3_app.test_client()
    ext = s3_app.extensions["chartvault"]
    assert post_scan(client, s3_people, pdf_bytes(["FIRST"])).status_code == 202
    real = ext.store
    ext.__dict__["store"] = StopsEndpointMidPut(real, endpoint)

    response = post_scan(client, s3_people, pdf_bytes(["SECOND"]) * 3)
    assert_s3_outage_answer(response, endpoint)
    assert documents_in(ext) == (1, 1)  # only the first upload, whose object exists

    endpoint.start()
    ext.__dict__["store"] = real
    assert_archive_consistent(s3_app)


def large_scan() -> bytes:
    """An uncompressed TIFF of noise, larger than one part of a multipart upload."""
    side = 3400  # 11.6 MB: two parts
    assert side * side > PART_SIZE
    image = Image.frombytes("L", (side, side), random.Random(16).randbytes(side * side))
    buffer = io.BytesIO()
    image.save(buffer, "TIFF")
    return buffer.getvalue()


def test_s3_stopped_between_the_parts_of_a_large_upload_gives_503_and_no_row(
    s3_app, s3_people, endpoint
):
    client = s3_app.test_client()
    ext = s3_app.extensions["chartvault"]
    real = ext.store
    ext.__dict__["store"] = StopsEndpointMidPut(real, endpoint, after=PART_SIZE)

    response = post_scan(client, s3_people, large_scan())

    assert_s3_outage_answer(response, endpoint)
    assert documents_in(ext) == (0, 0)
    endpoint.start()
    ext.__dict__["store"] = real
    assert real.list_keys() == []  # no object, not even a version no row names
    # The first part reached S3 before it stopped, and the SDK's abort of the multipart
    # upload could not reach it either: S3 keeps the part as an unfinished upload. It is no
    # object (nothing lists or reads it) and no row names it; MinIO, the production store,
    # deletes such uploads after a day by itself (its stale_uploads_expiry), AWS S3 by a
    # lifecycle rule. moto keeps it, so it is named here.
    [key] = [upload.removeprefix("unfinished multipart upload of ")
             for upload in partial_objects(real)]
    assert key.startswith("documents/") and key.endswith("/original")
    assert_archive_consistent(s3_app, unfinished_uploads=[key])


def test_health_is_503_while_s3_is_down(s3_app, endpoint):
    client = s3_app.test_client()
    assert client.get("/api/v1/health").status_code == 200
    endpoint.stop()
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.json["database"] == "ok"
    assert response.json["storage"].startswith("unavailable")

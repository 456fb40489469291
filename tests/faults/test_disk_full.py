"""The filesystem store's disk fills up (a real 1 MiB tmpfs under the objects directory),
on both databases: the upload that does not fit is answered 503 naming the disk and what
to check, nothing of it is recorded or left on the disk, and the archive goes on filing
what does fit."""

from __future__ import annotations

import io
import random
import shutil

import pytest
from PIL import Image
from sqlalchemy import func, select

from archive.config import Settings
from archive.models import Document, DocumentVersion
from tests.faults.checks import assert_archive_consistent, partial_objects
from tests.faults.conftest import post_scan
from tests.samples import pdf_bytes


@pytest.fixture
def settings(database_url, tmp_path, small_disk) -> Settings:
    """The default settings (overrides tests/conftest.py), the objects on the small disk."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    assert settings.objects_dir == small_disk
    return settings


def scan_larger_than(size: int) -> bytes:
    """An uncompressed TIFF of noise: no compression makes it smaller than ``size``."""
    side = int(size**0.5) + 16
    image = Image.frombytes("L", (side, side), random.Random(16).randbytes(side * side))
    buffer = io.BytesIO()
    image.save(buffer, "TIFF")
    return buffer.getvalue()


def documents_in(ext) -> tuple[int, int]:
    with ext.db.transaction() as session:
        return (session.scalar(select(func.count()).select_from(Document)),
                session.scalar(select(func.count()).select_from(DocumentVersion)))


def test_a_full_disk_refuses_the_upload_with_503_and_keeps_nothing_of_it(
    app, ext, people, patient, small_disk
):
    client = app.test_client()
    assert post_scan(client, people, pdf_bytes(["FIRST"])).status_code == 202
    used = shutil.disk_usage(small_disk).used

    response = post_scan(client, people, scan_larger_than(shutil.disk_usage(small_disk).total))

    assert response.status_code == 503
    error = response.json["error"]
    assert error["code"] == "storage_unavailable"
    assert str(small_disk) in error["message"]
    assert "No space left on device" in error["message"]
    assert "not full" in error["message"] and "try again" in error["message"]
    assert documents_in(ext) == (1, 1)
    assert partial_objects(ext.store) == []
    assert shutil.disk_usage(small_disk).used == used  # the partial write's space is back

    # What fits is still filed, on the same disk.
    assert post_scan(client, people, pdf_bytes(["THIRD"])).status_code == 202
    assert documents_in(ext) == (2, 2)
    assert_archive_consistent(app)

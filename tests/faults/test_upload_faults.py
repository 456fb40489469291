"""Uploads that break part-way must leave nothing half-written."""

from __future__ import annotations

import socket
import time
import urllib.parse

import pytest
from sqlalchemy import func, select

from archive.models import Document, DocumentVersion
from tests.faults.checks import assert_archive_consistent
from tests.live import serving
from tests.samples import pdf_bytes


def stored_files(ext):
    root = ext.settings.objects_dir
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# Werkzeug's form parser drops its half-filled SpooledTemporaryFile unclosed when the
# client vanishes (a ResourceWarning from inside Werkzeug, not from the archive).
@pytest.mark.filterwarnings("ignore:Exception ignored in. <function SpooledTemporaryFile")
@pytest.mark.parametrize("server", ["werkzeug", "waitress"])
def test_client_that_disconnects_mid_upload_leaves_nothing(app, ext, people, patient, server):
    data = pdf_bytes(["A LONG SCAN"] * 10) * 20
    boundary = "chartvaultboundary"
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"mrn\"\r\n\r\n{patient}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\nnote\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n"
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    body = head + data + f"\r\n--{boundary}--\r\n".encode()
    with serving(app, server) as base:
        url = urllib.parse.urlsplit(base)
        with socket.create_connection((url.hostname, url.port)) as sock:
            sock.sendall((
                f"POST /api/v1/documents HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"Authorization: Bearer {people.tokens['clerk']}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode())
            sock.sendall(body[: len(body) // 2])  # ... and the scanner PC loses its network
        time.sleep(0.5)  # let the server notice the closed connection
    with ext.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Document)) == 0
        assert session.scalar(select(func.count()).select_from(DocumentVersion)) == 0
    assert stored_files(ext) == []
    assert_archive_consistent(app)

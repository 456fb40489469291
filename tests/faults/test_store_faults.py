"""Object stores whose backing service or disk goes away must fail fast and clearly."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from archive.errors import StorageUnavailable
from archive.interfaces import CHUNK_SIZE
from archive.storage.filesystem import FilesystemStore
from tests.storefixtures import endpoint_of, s3_store, start_moto

FAIL_FAST_SECONDS = 5


class StopsServerMidStream(io.RawIOBase):
    """Fault injection: an upload stream that stops the S3 endpoint once it has handed over
    ``chunks_before_stop`` chunks, as if the server died mid-upload."""

    def __init__(self, data: bytes, server, chunks_before_stop: int = 1):
        self._data = io.BytesIO(data)
        self._server = server
        self._chunks_before_stop = chunks_before_stop
        self.chunks_read = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.chunks_read == self._chunks_before_stop:
            self._server.stop()
        self.chunks_read += 1
        return self._data.read(CHUNK_SIZE if n < 0 else min(n, CHUNK_SIZE))


def test_s3_endpoint_stopped_mid_put_raises_storage_unavailable():
    server = start_moto()
    endpoint = endpoint_of(server)
    store = s3_store(endpoint)
    store.ping()  # the bucket exists before the fault
    stream = StopsServerMidStream(b"\x5a" * (3 * CHUNK_SIZE), server)

    started = time.monotonic()
    with pytest.raises(StorageUnavailable) as caught:
        store.put("documents/fault/original", stream, media_type="application/pdf")
    elapsed = time.monotonic() - started

    assert stream.chunks_read > 1  # the fault really happened mid-stream
    assert elapsed < FAIL_FAST_SECONDS
    assert endpoint in caught.value.message
    assert "running" in caught.value.message


def test_s3_endpoint_stopped_between_multipart_parts_is_not_taken_for_a_short_upload():
    # Known length, 25 MiB: the first 10 MiB part is uploaded, then the server dies while
    # the second part is read. That is an unavailable store, not a truncated upload.
    server = start_moto()
    store = s3_store(endpoint_of(server))
    store.ping()
    size = 25 * CHUNK_SIZE
    stream = StopsServerMidStream(b"\xa5" * size, server, chunks_before_stop=12)

    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match="did not answer"):
        store.put("documents/fault/original", stream, media_type="application/pdf", length=size)
    assert time.monotonic() - started < FAIL_FAST_SECONDS


def test_s3_stopped_endpoint_ping_raises_storage_unavailable():
    server = start_moto()
    endpoint = endpoint_of(server)
    store = s3_store(endpoint)
    store.ping()
    server.stop()

    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match=endpoint):
        store.ping()
    assert time.monotonic() - started < FAIL_FAST_SECONDS


def test_filesystem_root_that_is_not_a_directory_fails_ping(tmp_path: Path):
    root = tmp_path / "objects"
    root.write_bytes(b"not a directory")

    with pytest.raises(StorageUnavailable, match=str(root)):
        FilesystemStore(root).ping()
    with pytest.raises(StorageUnavailable):
        FilesystemStore(root).put(
            "documents/x/original", io.BytesIO(b"x"), media_type="application/pdf"
        )

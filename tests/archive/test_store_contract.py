"""The ObjectStore contract, run against every backend (fixture ``store``: filesystem, s3).

Where the backends differ by design (S3 keeps the SHA-256 only for seekable uploads), the
test says so explicitly.
"""

from __future__ import annotations

import hashlib
import io
import os
from datetime import UTC, datetime, timedelta

import pytest
from minio import Minio

from archive.errors import (
    BadRequest,
    IntegrityError,
    ObjectLocked,
    ObjectNotFound,
    StorageUnavailable,
)
from archive.interfaces import CHUNK_SIZE, ObjectStore
from archive.storage.filesystem import VERSIONS_DIR, FilesystemStore
from archive.storage.s3 import S3Store
from tests.storefixtures import ACCESS_KEY, REGION, SECRET_KEY

KEY = "documents/6f1c0e3a-8a59-4f5e-9b1e-2d0c4f7a9b10/original"
PDF = "application/pdf"
UNKNOWN_VERSION = "00000000000000000000-deadbeef"


def payload(size: int, seed: int = 0) -> bytes:
    # Distinct bytes per seed without paying os.urandom for megabytes on every test.
    block = hashlib.sha256(seed.to_bytes(4, "big")).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_all(store: ObjectStore, key: str, version_id: str, **kwargs) -> bytes:
    return b"".join(store.open(key, version_id, **kwargs))


class Unseekable(io.RawIOBase):
    """A socket-like upload: read() only, no seek, no length."""

    def __init__(self, data: bytes, fail_after: int | None = None, error: Exception | None = None):
        self._data = io.BytesIO(data)
        self._fail_after = fail_after
        self._error = error or OSError("connection reset by client")
        self._sent = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._fail_after is not None and self._sent >= self._fail_after:
            raise self._error
        n = CHUNK_SIZE if n < 0 else min(n, CHUNK_SIZE)
        chunk = self._data.read(n)
        self._sent += len(chunk)
        return chunk


def test_put_and_open_roundtrip_multi_chunk_data(store: ObjectStore):
    data = payload(int(2.5 * CHUNK_SIZE))

    stored = store.put(KEY, io.BytesIO(data), media_type=PDF)

    assert stored.key == KEY
    assert stored.sha256 == sha(data)
    assert stored.size == len(data)
    chunks = list(store.open(KEY, stored.version_id))
    assert len(chunks) > 1
    assert all(len(chunk) <= CHUNK_SIZE for chunk in chunks)
    assert b"".join(chunks) == data


def test_empty_object_roundtrips(store: ObjectStore):
    stored = store.put(KEY, io.BytesIO(b""), media_type="text/plain")

    assert (stored.size, stored.sha256) == (0, sha(b""))
    assert read_all(store, KEY, stored.version_id) == b""


def test_every_put_is_a_new_version_and_old_ones_stay_readable(store: ObjectStore):
    first, second = payload(3000, seed=1), payload(5000, seed=2)

    v1 = store.put(KEY, io.BytesIO(first), media_type=PDF)
    v2 = store.put(KEY, io.BytesIO(second), media_type=PDF)

    assert v1.version_id != v2.version_id
    assert read_all(store, KEY, v1.version_id) == first
    assert read_all(store, KEY, v2.version_id) == second
    versions = store.list_versions(KEY)
    assert [v.version_id for v in versions] == [v1.version_id, v2.version_id]
    assert [v.sha256 for v in versions] == [sha(first), sha(second)]
    assert [v.size for v in versions] == [3000, 5000]


def test_list_versions_is_oldest_first_and_ignores_neighbouring_keys(store: ObjectStore):
    ids = [store.put(KEY, io.BytesIO(b"v%d" % i), media_type=PDF).version_id for i in range(4)]
    store.put(KEY + "2", io.BytesIO(b"other key"), media_type=PDF)
    store.put(KEY + "/child", io.BytesIO(b"nested key"), media_type=PDF)

    assert [v.version_id for v in store.list_versions(KEY)] == ids
    assert store.list_versions("documents/unknown/original") == []


def test_list_keys_lists_each_key_once_sorted_under_a_plain_prefix(store: ObjectStore):
    for key in ("audit/anchors/000002-b.json", "audit/anchors/000001-a.json",
                "audit/anchors/000001-a.json", "audit/anchors/000010-c.json",
                "audit/anchorsx/other", "audit/other", "audit/anchors/000003-d.json/nested"):
        store.put(key, io.BytesIO(key.encode()), media_type="application/json")

    assert store.list_keys("audit/anchors/") == [
        "audit/anchors/000001-a.json", "audit/anchors/000002-b.json",
        "audit/anchors/000003-d.json/nested", "audit/anchors/000010-c.json"]
    # A prefix ending inside a segment selects by the start of that segment.
    assert store.list_keys("audit/anchors/00000") == [
        "audit/anchors/000001-a.json", "audit/anchors/000002-b.json",
        "audit/anchors/000003-d.json/nested"]
    assert store.list_keys("audit/anchor") == [
        *store.list_keys("audit/anchors/"), "audit/anchorsx/other"]
    assert len(store.list_keys()) == 7 - 1
    assert store.list_keys("nothing/here/") == []


def test_list_keys_drops_a_key_whose_versions_are_all_deleted(store: ObjectStore):
    gone = store.put("keys/gone", io.BytesIO(b"x"), media_type=PDF)
    kept = store.put("keys/kept", io.BytesIO(b"y"), media_type=PDF)
    store.put("keys/kept", io.BytesIO(b"z"), media_type=PDF)

    store.delete_version("keys/gone", gone.version_id)
    store.delete_version("keys/kept", kept.version_id)

    assert store.list_keys("keys/") == ["keys/kept"]


def test_is_empty_until_a_version_is_stored_and_again_once_it_is_deleted(store: ObjectStore):
    assert store.is_empty()
    stored = store.put("documents/a/original", io.BytesIO(b"x"), media_type=PDF)
    assert not store.is_empty()
    store.delete_version("documents/a/original", stored.version_id)
    assert store.is_empty()


def test_stat_reports_what_put_stored(store: ObjectStore):
    before = datetime.now(UTC) - timedelta(seconds=2)  # S3 dates have one-second resolution
    stored = store.put(KEY, io.BytesIO(b"%PDF-1.7 chart"), media_type=PDF)

    info = store.stat(KEY, stored.version_id)

    assert (info.key, info.version_id, info.size) == (KEY, stored.version_id, 14)
    assert info.sha256 == stored.sha256
    assert info.media_type == PDF
    assert info.created_at.tzinfo is not None
    assert before <= info.created_at <= datetime.now(UTC) + timedelta(seconds=2)
    assert info.legal_hold is False
    assert info.retain_until is None


def test_unknown_key_or_version_raises_object_not_found(store: ObjectStore):
    stored = store.put(KEY, io.BytesIO(b"x"), media_type=PDF)
    unknown_key = "documents/00000000-0000-0000-0000-000000000000/original"

    for key, version_id in [(unknown_key, stored.version_id), (KEY, UNKNOWN_VERSION)]:
        with pytest.raises(ObjectNotFound):
            store.stat(key, version_id)
        with pytest.raises(ObjectNotFound):
            store.open(key, version_id, expected_sha256=stored.sha256)
        with pytest.raises(ObjectNotFound):
            store.delete_version(key, version_id)
        with pytest.raises(ObjectNotFound):
            store.set_legal_hold(key, version_id, True)


def test_delete_version_removes_only_that_version(store: ObjectStore):
    v1 = store.put(KEY, io.BytesIO(b"first"), media_type=PDF)
    v2 = store.put(KEY, io.BytesIO(b"second"), media_type=PDF)

    store.delete_version(KEY, v1.version_id)

    assert [v.version_id for v in store.list_versions(KEY)] == [v2.version_id]
    with pytest.raises(ObjectNotFound):
        store.stat(KEY, v1.version_id)
    assert read_all(store, KEY, v2.version_id) == b"second"


def test_legal_hold_blocks_delete_until_released(store: ObjectStore):
    stored = store.put(KEY, io.BytesIO(b"held"), media_type=PDF)

    store.set_legal_hold(KEY, stored.version_id, True)

    assert store.stat(KEY, stored.version_id).legal_hold is True
    with pytest.raises(ObjectLocked, match="legal hold"):
        store.delete_version(KEY, stored.version_id)
    assert read_all(store, KEY, stored.version_id) == b"held"

    store.set_legal_hold(KEY, stored.version_id, False)

    assert store.stat(KEY, stored.version_id).legal_hold is False
    store.delete_version(KEY, stored.version_id)
    assert store.list_versions(KEY) == []


def test_retention_blocks_delete(store: ObjectStore):
    stored = store.put(KEY, io.BytesIO(b"retained"), media_type=PDF)
    until = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)

    store.set_retention(KEY, stored.version_id, until)

    assert store.stat(KEY, stored.version_id).retain_until == until
    with pytest.raises(ObjectLocked, match="retained until"):
        store.delete_version(KEY, stored.version_id)
    assert [v.version_id for v in store.list_versions(KEY)] == [stored.version_id]


def test_retention_can_be_extended_but_never_shortened(store: ObjectStore):
    stored = store.put(KEY, io.BytesIO(b"retained"), media_type=PDF)
    until = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    store.set_retention(KEY, stored.version_id, until)

    with pytest.raises(ObjectLocked, match="only be extended"):
        store.set_retention(KEY, stored.version_id, until - timedelta(hours=1))
    assert store.stat(KEY, stored.version_id).retain_until == until

    store.set_retention(KEY, stored.version_id, until)  # same date again: allowed
    store.set_retention(KEY, stored.version_id, until + timedelta(days=365))
    assert store.stat(KEY, stored.version_id).retain_until == until + timedelta(days=365)


def test_retention_needs_an_aware_datetime(store: ObjectStore):
    stored = store.put(KEY, io.BytesIO(b"x"), media_type=PDF)

    with pytest.raises(ValueError, match="timezone-aware"):
        store.set_retention(KEY, stored.version_id, datetime(2040, 1, 1))


def test_wrong_expected_sha_stops_the_read_before_the_last_chunk(store: ObjectStore):
    data = payload(int(2.5 * CHUNK_SIZE))
    stored = store.put(KEY, io.BytesIO(data), media_type=PDF)
    received = bytearray()

    with pytest.raises(IntegrityError, match="integrity check"):
        for chunk in store.open(KEY, stored.version_id, expected_sha256="0" * 64):
            received += chunk

    assert 0 < len(received) < len(data)
    assert data.startswith(received)


def _corrupt(store: ObjectStore, key: str, data: bytes) -> str:
    """Leave a version whose stored bytes no longer match its recorded SHA-256."""
    if isinstance(store, FilesystemStore):
        version_id = store.put(key, io.BytesIO(data), media_type=PDF).version_id
        path = store.root.joinpath(*key.split("/"), VERSIONS_DIR, version_id)
        os.chmod(path, 0o644)
        with path.open("r+b") as fh:
            fh.seek(len(data) // 2)
            byte = fh.read(1)
            fh.seek(-1, os.SEEK_CUR)
            fh.write(bytes([byte[0] ^ 0xFF]))
        return version_id
    # An S3 version cannot be altered in place; bit rot looks like this from the client.
    store.ping()  # creates the bucket
    raw = Minio(store.endpoint, ACCESS_KEY, SECRET_KEY, secure=False, region=REGION)
    flipped = (
        data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1 :]
    )
    result = raw.put_object(
        store.bucket, key, io.BytesIO(flipped), len(flipped), metadata={"sha256": sha(data)}
    )
    return result.version_id


def test_corrupted_bytes_raise_integrity_error_on_read(store: ObjectStore):
    data = payload(int(2.5 * CHUNK_SIZE))
    version_id = _corrupt(store, KEY, data)
    received = bytearray()

    with pytest.raises(IntegrityError):
        for chunk in store.open(KEY, version_id):
            received += chunk

    assert len(received) < len(data)


class FailingSeekable(io.BytesIO):
    """A seekable upload (a spooled temp file) whose disk fails after ``fail_after`` bytes."""

    def __init__(self, data: bytes, fail_after: int):
        super().__init__(data)
        self._fail_after = fail_after

    def read(self, n: int | None = -1) -> bytes:
        if self.tell() >= self._fail_after:
            raise OSError("input/output error")
        return super().read(n if n is not None and n >= 0 else CHUNK_SIZE)


@pytest.mark.parametrize("seekable", [False, True], ids=["unseekable", "seekable"])
def test_stream_failing_half_way_leaves_no_version(store: ObjectStore, seekable: bool):
    # 11 MiB: on S3 the first 10 MiB part is already uploaded when the stream fails.
    data, fail_after = payload(12 * CHUNK_SIZE), 11 * CHUNK_SIZE
    broken = FailingSeekable(data, fail_after) if seekable else Unseekable(data, fail_after)

    with pytest.raises(StorageUnavailable, match="Upload the file again"):
        store.put(KEY, broken, media_type=PDF)

    assert store.list_versions(KEY) == []
    if isinstance(store, FilesystemStore):  # not even a temp file is left behind
        assert list(store.root.joinpath(*KEY.split("/"), VERSIONS_DIR).iterdir()) == []


def test_caller_exception_from_stream_propagates_and_leaves_no_version(store: ObjectStore):
    class Cancelled(Exception):
        pass

    broken = Unseekable(payload(3 * CHUNK_SIZE), fail_after=CHUNK_SIZE, error=Cancelled())

    with pytest.raises(Cancelled):
        store.put(KEY, broken, media_type=PDF)

    assert store.list_versions(KEY) == []


def test_stream_shorter_than_announced_length_is_rejected(store: ObjectStore):
    with pytest.raises(BadRequest, match="ended after 100 of 200 bytes"):
        store.put(KEY, Unseekable(payload(100)), media_type=PDF, length=200)

    assert store.list_versions(KEY) == []


def test_unseekable_stream_of_unknown_length(store: ObjectStore):
    data = payload(int(1.5 * CHUNK_SIZE), seed=7)

    stored = store.put(KEY, Unseekable(data), media_type=PDF)

    assert (stored.sha256, stored.size) == (sha(data), len(data))
    assert read_all(store, KEY, stored.version_id, expected_sha256=stored.sha256) == data
    if isinstance(store, S3Store):
        # S3 metadata precedes the body, so the hash of an unseekable upload is not kept
        # there: the caller (the database) must supply it.
        assert store.stat(KEY, stored.version_id).sha256 is None
        with pytest.raises(ValueError, match="expected_sha256"):
            store.open(KEY, stored.version_id)
    else:
        assert store.stat(KEY, stored.version_id).sha256 == stored.sha256
        assert read_all(store, KEY, stored.version_id) == data


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "documents/../../etc",
        "..",
        "documents//original",
        "documents/",
        "documents/./original",
        "documents/.versions/x",
        "documents\\original",
    ],
)
def test_unsafe_keys_are_rejected(store: ObjectStore, key: str):
    with pytest.raises(ValueError):
        store.put(key, io.BytesIO(b"x"), media_type=PDF)
    with pytest.raises(ValueError):
        store.list_versions(key)


def test_ping_answers(store: ObjectStore):
    store.ping()


def test_batch_writer_puts_are_readable_during_and_after_the_block(store: ObjectStore):
    data = [payload(1000 + number, seed=number) for number in range(3)]

    with store.batch_writer() as batch:
        stored = [batch.put(f"{KEY}-{number}", io.BytesIO(body), media_type=PDF)
                  for number, body in enumerate(data)]
        assert read_all(batch, f"{KEY}-0", stored[0].version_id) == data[0]

    for number, body in enumerate(data):
        assert read_all(store, f"{KEY}-{number}", stored[number].version_id) == body
        assert store.stat(f"{KEY}-{number}", stored[number].version_id).sha256 == sha(body)


class Counts:
    """Instrumentation, not a fake: passes a function through, counting its calls."""

    def __init__(self, real):
        self.real, self.calls = real, 0

    def __call__(self, *args):
        self.calls += 1
        return self.real(*args)


def test_filesystem_batch_writer_defers_durability_to_the_end_of_its_block(tmp_path, monkeypatch):
    from archive.storage import filesystem

    store = FilesystemStore(tmp_path)
    fsyncs, syncfs = Counts(os.fsync), Counts(filesystem._syncfs)
    monkeypatch.setattr(os, "fsync", fsyncs)
    monkeypatch.setattr(filesystem, "_syncfs", syncfs)
    store.put(KEY, io.BytesIO(b"one"), media_type=PDF)
    assert fsyncs.calls >= 3  # the file, the sidecar, the directory: durable at once

    before = fsyncs.calls
    with store.batch_writer() as batch:
        for number in range(20):
            batch.put(f"{KEY}-{number}", io.BytesIO(b"x" * number), media_type=PDF)
        assert (fsyncs.calls, syncfs.calls) == (before, 0)  # nothing flushed one by one
    assert syncfs.calls == 1  # one flush of the file system settles all twenty


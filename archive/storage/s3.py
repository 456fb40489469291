"""Versioned object store on S3 / MinIO (production), through the minio SDK.

The bucket is created with object lock, which also turns versioning on: every ``put``
becomes a new S3 version. Legal hold and retention are S3's own (retention in GOVERNANCE
mode), set after the upload. This store checks hold and retention itself before deleting
as well, because not every S3 implementation enforces them (moto does not enforce
COMPLIANCE mode, for one).

SHA-256: S3 user metadata must be sent before the body, so the hash is recorded in
``x-amz-meta-sha256`` only when the stream is seekable; it is then hashed once up front and
rewound (the upload hashes again and must agree). For a non-seekable stream the hash is
known only after the upload: ``put`` returns it, ``stat`` reports ``sha256=None`` and
``open`` needs ``expected_sha256`` from the caller (the database is authoritative anyway).

Memory: minio buffers one part at a time (``PART_SIZE``); parts are uploaded one after the
other so a failed upload leaves no worker threads behind and memory stays bounded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import BinaryIO
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error
from minio.retention import GOVERNANCE, Retention
from urllib3.util import Retry, Timeout

from archive.errors import (
    BadRequest,
    IntegrityError,
    ObjectLocked,
    ObjectNotFound,
    StorageError,
    StorageUnavailable,
)
from archive.interfaces import CHUNK_SIZE, ObjectInfo, StoredObject
from archive.storage.hashing import HashingReader, verified_chunks
from archive.storage.rules import refuse_if_locked, split_key, stat_listed

PART_SIZE = 10 * 1024 * 1024
_MAX_PARTS = 10_000
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 30.0
SHA256_META = "x-amz-meta-sha256"
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "NoSuchObject"})
# S3 answers these for a malformed version id or a version that is a delete marker.
_BAD_VERSION_CODES = frozenset({"InvalidArgument", "MethodNotAllowed"})
_BUCKET_EXISTS_CODES = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})


class _SourceReadError(Exception):
    """The caller's stream failed; carried through minio so it is not taken for S3's fault."""


class _GuardedReader:
    """Hashes the caller's stream and tags its I/O errors (see ``_SourceReadError``)."""

    def __init__(self, stream: BinaryIO):
        self.hashing = HashingReader(stream)
        self.ended = False  # the stream said EOF (minio reads past the end only when short)

    def read(self, n: int = -1) -> bytes:
        try:
            data = self.hashing.read(n)
        except OSError as err:
            raise _SourceReadError(str(err)) from err
        if n != 0 and not data:
            self.ended = True
        return data


def _source_failed(key: str, err: _SourceReadError) -> StorageUnavailable:
    return StorageUnavailable(
        f"Reading the upload of {key} failed part-way ({err}); nothing was stored. "
        "Upload the file again."
    )


def _http_client() -> urllib3.PoolManager:
    """Short timeouts and few retries: a stopped endpoint must fail in seconds, not minutes.
    Reads are not retried, so an upload whose answer was lost is never sent twice (which
    would leave a stray extra version)."""
    return urllib3.PoolManager(
        timeout=Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
        maxsize=10,
        retries=Retry(
            total=2,
            connect=2,
            read=0,
            status=2,
            backoff_factor=0.2,
            status_forcelist=[500, 502, 503, 504],
            raise_on_status=False,
        ),
    )


def _header_datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value).astimezone(UTC)


def _prehash(stream: BinaryIO) -> tuple[str, int] | None:
    """(sha256, size) of a seekable stream from its current position, which is restored;
    None when the stream cannot be rewound."""
    try:
        if not stream.seekable():
            return None
        start = stream.tell()
    except (AttributeError, OSError, ValueError):
        return None
    reader = _GuardedReader(stream)
    while reader.read(CHUNK_SIZE):
        pass
    stream.seek(start)
    return reader.hashing.sha256, reader.hashing.size


class S3Store:
    """``ObjectStore`` on an S3-compatible endpoint with an object-lock bucket."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        secure: bool = False,
        region: str = "us-east-1",
    ):
        # Accept "http://host:port" as well as the documented "host:port".
        if "://" in endpoint:
            parts = urlsplit(endpoint)
            secure = parts.scheme == "https"
            endpoint = parts.netloc
        self.endpoint = endpoint
        self.bucket = bucket
        self._url = f"{'https' if secure else 'http'}://{endpoint}"
        self._http = _http_client()
        self._client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=self._http,
        )
        self._bucket_ready = False

    # --- error translation ---------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(
        self,
        action: str,
        key: str | None = None,
        version_id: str | None = None,
        *,
        denied_means_locked: bool = False,
    ) -> Iterator[None]:
        """Turn minio, urllib3 and socket errors into the archive's own exceptions."""
        try:
            yield
        except S3Error as err:
            raise self._from_s3_error(err, action, key, version_id, denied_means_locked) from err
        except MinioException as err:  # ServerError, InvalidResponseError
            raise StorageUnavailable(
                f"The object store at {self._url} gave an unexpected answer while trying to "
                f"{action} ({err}). Check the S3/MinIO service's health and logs, then try "
                "again."
            ) from err
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise self._unreachable(action, err) from err

    def _unreachable(self, action: str, err: Exception) -> StorageUnavailable:
        reason = getattr(err, "reason", None) or err
        return StorageUnavailable(
            f"The object store at {self._url} did not answer while trying to {action} "
            f"({type(reason).__name__}). Check that the S3/MinIO service is running and "
            "reachable and that CHARTVAULT_S3_ENDPOINT points at it, then try again."
        )

    def _from_s3_error(
        self,
        err: S3Error,
        action: str,
        key: str | None,
        version_id: str | None,
        denied_means_locked: bool,
    ) -> StorageError:
        what = f"version {version_id} of {key}" if version_id else str(key)
        if err.code in _NOT_FOUND_CODES or (version_id and err.code in _BAD_VERSION_CODES):
            return ObjectNotFound(f"The archive has no {what}.")
        if err.code == "AccessDenied" and denied_means_locked:
            return ObjectLocked(
                f"The object store refused to delete {what}: it is under legal hold or "
                "retention there."
            )
        if err.code == "AccessDenied":
            return StorageUnavailable(
                f"The object store at {self._url} denied access while trying to {action}. "
                "Check CHARTVAULT_S3_ACCESS_KEY / CHARTVAULT_S3_SECRET_KEY and the bucket "
                "policy."
            )
        if err.code == "NoSuchBucket":
            return StorageUnavailable(
                f"The bucket {self.bucket!r} does not exist at {self._url}. Check "
                "CHARTVAULT_S3_BUCKET; the archive creates it on first use."
            )
        return StorageError(
            f"The object store at {self._url} refused to {action} ({err.code}: {err.message})."
        )

    # --- bucket --------------------------------------------------------------------------

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        with self._errors(f"prepare bucket {self.bucket}"):
            if not self._client.bucket_exists(self.bucket):
                try:
                    self._client.make_bucket(self.bucket, object_lock=True)
                except S3Error as err:
                    if err.code not in _BUCKET_EXISTS_CODES:  # lost a creation race: fine
                        raise
            try:
                self._client.get_object_lock_config(self.bucket)
            except S3Error as err:
                if err.code != "ObjectLockConfigurationNotFoundError":
                    raise
                raise StorageError(
                    f"The bucket {self.bucket!r} at {self._url} was created without object "
                    "lock, so legal holds and retention cannot be kept there. Point "
                    "CHARTVAULT_S3_BUCKET at a new bucket; the archive creates it with "
                    "object lock."
                ) from err
        self._bucket_ready = True

    # --- ObjectStore ---------------------------------------------------------------------

    def put(
        self, key: str, stream: BinaryIO, *, media_type: str, length: int | None = None
    ) -> StoredObject:
        split_key(key)
        self._ensure_bucket()
        try:
            prehashed = _prehash(stream)
        except _SourceReadError as err:
            raise _source_failed(key, err) from err
        metadata = None
        if prehashed is not None:
            sha256, size = prehashed
            if length is not None and length != size:
                raise BadRequest(
                    f"The upload of {key} has {size} bytes, not the {length} announced; "
                    "nothing was stored. Upload the file again."
                )
            length = size
            metadata = {"sha256": sha256}
        reader = _GuardedReader(stream)
        use_length = -1 if length is None else length
        part_size = PART_SIZE if use_length <= PART_SIZE * _MAX_PARTS else 0
        try:
            with self._errors(f"store {key}", key):
                result = self._client.put_object(
                    self.bucket,
                    key,
                    reader,
                    use_length,
                    content_type=media_type,
                    metadata=metadata,
                    part_size=part_size,
                    num_parallel_uploads=1,
                )
        except _SourceReadError as err:
            raise _source_failed(key, err) from err
        except StorageUnavailable as err:
            if reader.ended and length is not None and reader.hashing.size < length:
                # minio raises a plain IOError when the stream ends early.
                raise BadRequest(
                    f"The upload of {key} ended after {reader.hashing.size} of {length} "
                    "bytes; nothing was stored. Upload the file again."
                ) from err
            raise
        version_id = result.version_id
        if not version_id:
            raise StorageError(
                f"The bucket {self.bucket!r} at {self._url} is not versioned, so {key} "
                "would overwrite earlier versions. Use a bucket created with object lock."
            )
        hashed = reader.hashing
        problem = None
        if prehashed is not None and hashed.sha256 != prehashed[0]:
            problem = IntegrityError(
                f"The file for {key} changed while it was being stored; nothing was kept. "
                "Upload it again."
            )
        elif prehashed is None and length is not None and reader.read(1):
            problem = BadRequest(
                f"The upload of {key} is longer than the {length} bytes announced; nothing "
                "was kept. Upload the file again."
            )
        if problem is not None:
            with self._errors(f"remove the rejected upload of {key}", key, version_id):
                self._client.remove_object(self.bucket, key, version_id=version_id)
            raise problem
        return StoredObject(key=key, version_id=version_id, sha256=hashed.sha256, size=hashed.size)

    def open(
        self, key: str, version_id: str, *, expected_sha256: str | None = None
    ) -> Iterator[bytes]:
        split_key(key)
        self._ensure_bucket()
        with self._errors(f"read {key}", key, version_id):
            response = self._client.get_object(self.bucket, key, version_id=version_id)
        expected = expected_sha256 or response.headers.get(SHA256_META)
        if not expected:
            response.close()
            response.release_conn()
            raise ValueError(
                f"Version {version_id} of {key} was stored without a recorded SHA-256; "
                "pass expected_sha256 (from the database) to read it."
            )
        what = f"Version {version_id} of {key}"
        return verified_chunks(self._body(response, key, version_id), expected, what)

    def _body(self, response, key: str, version_id: str) -> Iterator[bytes]:
        try:
            with self._errors(f"read {key}", key, version_id):
                yield from response.stream(CHUNK_SIZE)
        finally:
            response.close()
            response.release_conn()

    def stat(self, key: str, version_id: str) -> ObjectInfo:
        split_key(key)
        self._ensure_bucket()
        with self._errors(f"look up {key}", key, version_id):
            obj = self._client.stat_object(self.bucket, key, version_id=version_id)
        headers = obj.metadata
        return ObjectInfo(
            key=key,
            version_id=obj.version_id or version_id,
            size=obj.size,
            sha256=headers.get(SHA256_META),
            media_type=obj.content_type or "application/octet-stream",
            created_at=obj.last_modified,
            # Read from HEAD: moto implements no GetObjectRetention.
            legal_hold=headers.get("x-amz-object-lock-legal-hold", "").upper() == "ON",
            retain_until=_header_datetime(headers.get("x-amz-object-lock-retain-until-date")),
        )

    def list_versions(self, key: str) -> list[ObjectInfo]:
        split_key(key)
        self._ensure_bucket()
        with self._errors(f"list versions of {key}", key):
            version_ids = [
                obj.version_id
                for obj in self._client.list_objects(self.bucket, prefix=key, include_version=True)
                if obj.object_name == key and not obj.is_delete_marker and not obj.is_dir
            ]
        version_ids.reverse()  # S3 lists a key's versions newest first
        return stat_listed(self.stat, key, version_ids)

    def list_keys(self, prefix: str = "") -> list[str]:
        self._ensure_bucket()
        with self._errors(f"list the keys under {prefix!r}"):
            # With versions: a key hidden behind a delete marker still has versions that
            # list_versions lists (and an anchor someone "deleted" that way is still there).
            keys = {
                obj.object_name
                for obj in self._client.list_objects(
                    self.bucket, prefix=prefix or None, recursive=True, include_version=True
                )
                if not obj.is_delete_marker and not obj.is_dir
            }
        return sorted(keys)

    def is_empty(self) -> bool:
        self._ensure_bucket()
        with self._errors("list its keys"):
            # Lazily paged by the client: the first page settles it unless it holds only
            # delete markers.
            return not any(
                not obj.is_delete_marker and not obj.is_dir
                for obj in self._client.list_objects(self.bucket, recursive=True,
                                                     include_version=True)
            )

    def set_legal_hold(self, key: str, version_id: str, on: bool) -> None:
        self.stat(key, version_id)  # ObjectNotFound before S3 answers something vaguer
        with self._errors(f"change the legal hold of {key}", key, version_id):
            if on:
                self._client.enable_object_legal_hold(self.bucket, key, version_id=version_id)
            else:
                self._client.disable_object_legal_hold(self.bucket, key, version_id=version_id)

    def set_retention(self, key: str, version_id: str, until: datetime) -> None:
        if until.tzinfo is None:
            raise ValueError("retention dates must be timezone-aware (UTC)")
        until = until.astimezone(UTC)
        current = self.stat(key, version_id).retain_until
        # S3 keeps milliseconds; compare at that precision so re-setting a date is a no-op.
        if current is not None and current > until.replace(
            microsecond=until.microsecond // 1000 * 1000
        ):
            raise ObjectLocked(
                f"Version {version_id} of {key} is retained until {current.isoformat()}; "
                f"retention can only be extended, not shortened to {until.isoformat()}."
            )
        with self._errors(f"set the retention of {key}", key, version_id):
            self._client.set_object_retention(
                self.bucket, key, Retention(GOVERNANCE, until), version_id=version_id
            )

    def delete_version(self, key: str, version_id: str) -> None:
        refuse_if_locked(self.stat(key, version_id))
        with self._errors(f"delete {key}", key, version_id, denied_means_locked=True):
            self._client.remove_object(self.bucket, key, version_id=version_id)

    @contextlib.contextmanager
    def batch_writer(self) -> Iterator[S3Store]:
        """Each put is durable once the endpoint acknowledges it: nothing to settle."""
        yield self

    def ping(self) -> None:
        with self._errors(f"reach bucket {self.bucket}"):
            exists = self._client.bucket_exists(self.bucket)
        if not exists:
            self._bucket_ready = False
            self._ensure_bucket()

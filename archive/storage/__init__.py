"""Object storage backends and the registry that picks one from configuration."""

from __future__ import annotations

from pathlib import Path

from archive.config import Settings
from archive.errors import ArchiveError
from archive.interfaces import ObjectStore


def open_store(settings: Settings) -> ObjectStore:
    """The primary object store named by ``CHARTVAULT_STORAGE``."""
    return _open(
        "CHARTVAULT_", settings.storage, settings.objects_dir, settings,
        s3=(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key,
            settings.s3_bucket),
    )


def open_replica_store(settings: Settings) -> ObjectStore:
    """The replica store named by ``CHARTVAULT_REPLICA_STORAGE``: for the embedded default a
    filesystem store in ``CHARTVAULT_REPLICA_DIR`` (by default the directory beside the data
    directory, ``data-replica``, so that losing ``data`` does not lose the replica too;
    point it at another disk), in production a second S3/MinIO endpoint."""
    return _open(
        "CHARTVAULT_REPLICA_", settings.replica_storage or "filesystem", settings.replica_root,
        settings,
        s3=(settings.replica_s3_endpoint, settings.replica_s3_access_key,
            settings.replica_s3_secret_key, settings.replica_s3_bucket),
    )


def _open(
    prefix: str, kind: str, directory: Path, settings: Settings,
    *, s3: tuple[str | None, str | None, str | None, str],
) -> ObjectStore:
    if kind == "filesystem":
        from archive.storage.filesystem import FilesystemStore

        return FilesystemStore(directory)
    if kind == "s3":
        from archive.storage.s3 import S3Store

        endpoint, access_key, secret_key, bucket = s3
        if not (endpoint and access_key and secret_key):
            raise ArchiveError(
                f"{prefix}STORAGE=s3 needs {prefix}S3_ENDPOINT, {prefix}S3_ACCESS_KEY and "
                f"{prefix}S3_SECRET_KEY."
            )
        return S3Store(endpoint=endpoint, access_key=access_key, secret_key=secret_key,
                       bucket=bucket, secure=settings.s3_secure, region=settings.s3_region)
    raise ArchiveError(f"Unknown {prefix}STORAGE={kind!r}; use 'filesystem' or 's3'.")

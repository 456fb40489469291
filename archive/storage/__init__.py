"""Object storage backends and the registry that picks one from configuration."""

from __future__ import annotations

from archive.config import Settings
from archive.errors import ArchiveError
from archive.interfaces import ObjectStore


def open_store(settings: Settings) -> ObjectStore:
    """The primary object store named by ``CHARTVAULT_STORAGE``."""
    if settings.storage == "filesystem":
        from archive.storage.filesystem import FilesystemStore

        return FilesystemStore(settings.objects_dir)
    if settings.storage == "s3":
        from archive.storage.s3 import S3Store

        if not (settings.s3_endpoint and settings.s3_access_key and settings.s3_secret_key):
            raise ArchiveError(
                "CHARTVAULT_STORAGE=s3 needs CHARTVAULT_S3_ENDPOINT, CHARTVAULT_S3_ACCESS_KEY "
                "and CHARTVAULT_S3_SECRET_KEY."
            )
        return S3Store(
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            bucket=settings.s3_bucket,
            secure=settings.s3_secure,
            region=settings.s3_region,
        )
    raise ArchiveError(
        f"Unknown CHARTVAULT_STORAGE={settings.storage!r}; use 'filesystem' or 's3'."
    )

"""Protocols of the archive's pluggable backends.

Each implementation is named after its technology and chosen by configuration through
``archive.storage.open_store``; every implementation runs the same contract tests
(tests/archive/test_store_contract.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, NamedTuple, Protocol, runtime_checkable

from archive.errors import ObjectNotFound

CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class StoredObject:
    """What a successful ``put`` created."""

    key: str
    version_id: str
    sha256: str  # lowercase hex
    size: int


class Relocation(NamedTuple):
    """A stored object written again (a repair from the replica, a restore): the rows that
    name ``key`` at version ``old`` must name ``new``."""

    key: str
    old: str
    new: str


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    version_id: str
    size: int
    sha256: str | None  # None when the backend has no record of it (the DB is authoritative)
    media_type: str
    created_at: datetime
    legal_hold: bool
    retain_until: datetime | None


@dataclass(frozen=True)
class Upload:
    """A file offered to the archive: a seekable binary stream and its client name."""

    stream: BinaryIO
    filename: str = ""


@runtime_checkable
class ObjectStore(Protocol):
    """Versioned, checksummed storage of immutable objects.

    A key names a logical object; every ``put`` to a key creates a new version and never
    alters an earlier one. Errors are the project's own: ``ObjectNotFound``,
    ``StorageUnavailable``, ``ObjectLocked``, ``IntegrityError`` (archive.errors).
    """

    def put(
        self, key: str, stream: BinaryIO, *, media_type: str, length: int | None = None
    ) -> StoredObject:
        """Store ``stream`` as a new version of ``key``.

        The SHA-256 is computed while streaming, in chunks: the whole object is never held
        in memory. The version becomes visible only once it is completely and durably
        written; a failure part-way leaves no version behind and raises
        ``StorageUnavailable``.
        """
        ...

    def open(
        self, key: str, version_id: str, *, expected_sha256: str | None = None
    ) -> Iterator[bytes]:
        """Return the version's bytes as an iterator of chunks that hashes as it reads.

        The last chunk is held back until the SHA-256 of everything read matches
        ``expected_sha256`` (or the hash recorded at ``put`` when None); on a mismatch
        ``IntegrityError`` is raised instead, so a corrupted object never reads completely.
        Raises ``ObjectNotFound`` for an unknown key or version.
        """
        ...

    def stat(self, key: str, version_id: str) -> ObjectInfo:
        """Metadata of one version, including its legal hold and retention."""
        ...

    def list_versions(self, key: str) -> list[ObjectInfo]:
        """Every version of ``key``, oldest first; empty when the key is unknown."""
        ...

    def list_keys(self, prefix: str = "") -> list[str]:
        """Every key that starts with ``prefix`` and has a version ``list_versions`` would
        list, sorted. ``prefix`` is a plain string prefix: it need not end at a ``/``. A
        key whose versions were all deleted is not listed."""
        ...

    def is_empty(self) -> bool:
        """Whether the store holds no version of any key (``list_keys`` would list none). It
        stops at the first version it finds, so it is quick whatever the store's size."""
        ...

    def set_legal_hold(self, key: str, version_id: str, on: bool) -> None:
        """Set or clear the legal-hold flag of a version. A held version cannot be deleted."""
        ...

    def set_retention(self, key: str, version_id: str, until: datetime) -> None:
        """Forbid deleting the version before ``until`` (UTC). Retention can only be
        extended, never shortened."""
        ...

    def delete_version(self, key: str, version_id: str) -> None:
        """Delete one version for good. Raises ``ObjectLocked`` while it is under legal
        hold or retention, ``ObjectNotFound`` when it does not exist."""
        ...

    def batch_writer(self) -> AbstractContextManager[ObjectStore]:
        """This store for many puts whose durability may be settled together: every version
        put through it is durable once the block exits without error (not before; a writer
        records the versions only after it). A store that is durable per put yields
        itself."""
        ...

    def ping(self) -> None:
        """Return when the store answers; raise ``StorageUnavailable`` otherwise."""
        ...


def holds_version(store: ObjectStore, key: str, version_id: str) -> bool:
    """Whether ``store`` still has that version of ``key`` (its bytes unread)."""
    try:
        store.stat(key, version_id)
    except ObjectNotFound:
        return False
    return True

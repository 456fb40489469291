"""Restore, step 4, the copying itself: a batch's objects from the replica into the new
primary store, each checked against the SHA-256 the database recorded. Run in worker
processes (backup.restore_objects decides), so it touches no database, and imports only the
stores: a worker starts by importing this module, and a light import is a quick start."""
from __future__ import annotations

import tempfile
from contextlib import suppress
from dataclasses import dataclass, field

from archive.errors import IntegrityError, ObjectNotFound, StorageError
from archive.interfaces import ObjectStore

# Objects up to this size are spooled in memory between the replica and the primary, larger
# ones in a temporary file: memory stays flat whatever the objects' sizes.
SPOOL_IN_MEMORY = 8 * 1024 * 1024


@dataclass(frozen=True)
class StoredRef:
    """One stored object version the restored database refers to."""

    key: str
    version_id: str
    sha256: str
    kind: str
    replica_version_id: str | None


@dataclass(frozen=True)
class Placed:
    """What restoring one object came to: "copied", "present" or "lost", and the version its
    rows must move to (None when they already name it, or it is lost)."""

    ref: StoredRef
    outcome: str
    new_version: str | None = None


@dataclass(frozen=True)
class Placing:
    """How a batch is placed. ``look_first``: the primary may hold some objects already (it
    was not empty when the copying began), so each is looked for before it is copied.
    ``named``: for a resumed restore, the version ids some row names, by key; any other
    version with the right bytes is a copy the restore cut short made (see
    ``_copy_cut_short``). Read from the database by the parent, which workers never open."""

    look_first: bool
    resumed: bool
    named: dict[str, frozenset[str]] = field(default_factory=dict)


def place_keys(source: ObjectStore, target: ObjectStore, keys: list[list[StoredRef]],
               placing: Placing) -> list[Placed]:
    """Each key's versions in the order they were stored (a worker's share of a batch);
    ``target`` is the primary's batch writer."""
    return [restore_object(source, target, ref, placing) for refs in keys for ref in refs]


def restore_object(source: ObjectStore, target: ObjectStore, ref: StoredRef,
                   placing: Placing) -> Placed:
    """Put one object back into the primary (``target``: its batch writer)."""
    if placing.look_first:
        with suppress(ObjectNotFound):
            if target.stat(ref.key, ref.version_id).sha256 == ref.sha256:
                return Placed(ref, "present")
    if placing.resumed:
        adopted = _copy_cut_short(target, ref, placing.named.get(ref.key, frozenset()))
        if adopted:
            return Placed(ref, "present", adopted)
    for candidate in _replica_candidates(source, ref):
        try:
            new_version = copy_checked(source, candidate, target, ref.key, ref.sha256)
        except (ObjectNotFound, IntegrityError):
            continue  # this copy is gone or damaged: another may do
        return Placed(ref, "copied", new_version)
    return Placed(ref, "lost")


def copy_checked(source: ObjectStore, source_version: str, target: ObjectStore, key: str,
                 sha256: str) -> str:
    """Write one version of ``key`` from ``source`` into ``target`` as a new version; its
    version id. The source's bytes are checked against ``sha256`` as they are read, and
    the checksum the target computed as it wrote them too; a copy that does not match is
    deleted. Not read back here: the restore ends with the full verify, which reads every
    copy, and replication.copy_verified adds the read-back for the callers that do not.
    Kept in this light module for the restore's worker processes."""
    media_type = source.stat(key, source_version).media_type
    # Spooled first: the whole object is read (and its checksum checked) before the target
    # sees a byte, and S3 gets a seekable file, so it records the SHA-256 with the copy.
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        for chunk in source.open(key, source_version, expected_sha256=sha256):
            spool.write(chunk)
        length = spool.tell()
        spool.seek(0)
        stored = target.put(key, spool, media_type=media_type, length=length)
    if stored.sha256 != sha256:
        with suppress(StorageError):
            target.delete_version(key, stored.version_id)
        raise IntegrityError(f"The copy of {key} was written as SHA-256 {stored.sha256}, "
                             f"not {sha256}.")
    return stored.version_id


def _copy_cut_short(store: ObjectStore, ref: StoredRef, named: frozenset[str]) -> str | None:
    """The version of the object a restore cut short wrote into the primary before its rows
    moved to it (``put`` makes the version id, so it cannot be recorded first): one that no
    row names (``named``), with the right bytes. The rows are pointed at it rather than
    another copy written. Only a resumed restore looks: the look costs a listing per
    object."""
    for info in store.list_versions(ref.key):
        if info.version_id in named or info.sha256 not in (ref.sha256, None):
            continue
        try:
            for _chunk in store.open(ref.key, info.version_id, expected_sha256=ref.sha256):
                pass
        except (ObjectNotFound, IntegrityError):
            continue  # a damaged leftover is not adopted; the copy replaces it
        return info.version_id
    return None


def _replica_candidates(source: ObjectStore, ref: StoredRef):
    """The recorded replica copy first; then any replica version with the same SHA-256 (a
    copy made after the snapshot was taken, so not recorded in it)."""
    if ref.replica_version_id:
        yield ref.replica_version_id
    for info in source.list_versions(ref.key):
        if info.version_id != ref.replica_version_id and info.sha256 in (ref.sha256, None):
            yield info.version_id

"""Restore, step 4: every stored object the restored database names, copied from the replica
into the new primary store with its SHA-256 checked, and every reference moved to the new
version id (``put`` always makes one). An object the replica does not hold is reported as
lost, never dropped in silence. A restore cut short between writing an object and moving its
rows leaves that version in the primary with no row naming it; the resumed restore adopts it
(its bytes checked first) instead of writing another, so no orphan is left."""
from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from itertools import groupby

from sqlalchemy import func, select, union_all, update

from archive.errors import IntegrityError, ObjectNotFound
from archive.extensions import Archive
from archive.interfaces import ObjectStore, Relocation
from backup import replication
from backup.models import ObjectCopy
from backup.restore_database import Progress


@dataclass(frozen=True)
class StoredRef:
    """One stored object version the restored database refers to."""

    key: str
    version_id: str
    sha256: str
    kind: str
    replica_version_id: str | None



# How many keys' refs are read at a time: memory stays flat however large the archive is.
KEYS_PER_BATCH = 500


def stored_refs(ext: Archive, keys_per_batch: int = KEYS_PER_BATCH) -> Iterator[StoredRef]:
    """Every stored object version the database refers to, each key's versions in the order
    they were stored, with its replica copy when replication recorded one."""
    for batch in ref_batches(ext, keys_per_batch):
        yield from batch


def ref_batches(ext: Archive, keys_per_batch: int = KEYS_PER_BATCH) -> Iterator[list[StoredRef]]:
    """The refs of ``stored_refs``, ``keys_per_batch`` keys at a time, in key order. Paged by
    key, not by row: relocating an object changes its version id but never its key, so the
    copying done between two pages cannot move a row across the cursor. No transaction is
    open while the caller works through a batch."""
    objects = union_all(*replication.object_sources(ext)).subquery()
    after: str | None = None
    while True:
        with ext.db.transaction() as session:
            next_keys = select(objects.c.key).distinct().order_by(objects.c.key)
            if after is not None:
                next_keys = next_keys.where(objects.c.key > after)
            keys = list(session.scalars(next_keys.limit(keys_per_batch)))
            if not keys:
                return
            rows = session.execute(
                select(objects.c.key, objects.c.version_id, objects.c.sha256, objects.c.kind,
                       ObjectCopy.replica_version_id)
                .outerjoin(ObjectCopy, (ObjectCopy.key == objects.c.key)
                           & (ObjectCopy.version_id == objects.c.version_id))
                .where(objects.c.key.in_(keys))
                .order_by(objects.c.key, objects.c.stored_at, objects.c.version_id)
            ).all()
        after = keys[-1]
        yield [StoredRef(*row) for row in rows]


def _count_refs(ext: Archive) -> int:
    objects = union_all(*replication.object_sources(ext)).subquery()
    with ext.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(objects))


# How many keys are copied at once. The stores' file and network I/O and the hashing let go
# of the interpreter lock, so copies overlap on the machine's cores and while one waits on a
# disk or an endpoint. On two cores, two and four copied 10,000 filesystem objects alike
# (bench/recovery.py); four leave more to overlap when the primary is an S3 endpoint.
COPY_THREADS = 4


@dataclass(frozen=True)
class Placed:
    """What restoring one object came to: "copied", "present" or "lost", and the version its
    rows must move to (None when they already name it, or it is lost)."""

    ref: StoredRef
    outcome: str
    new_version: str | None = None


@dataclass
class ObjectsRestored:
    copied: int = 0
    present: int = 0  # already in the primary under the same version (a resumed restore)
    lost: list[StoredRef] = field(default_factory=list)


def copy_objects(ext: Archive, source: ObjectStore, progress: Progress, *,
                 resumed: bool) -> ObjectsRestored:
    """Every object back into the primary, a batch of keys at a time: the batch's copies
    written in parallel and made durable together, then its rows moved in one transaction.
    A crash in between leaves copies no row names, which the resumed restore adopts."""
    report = ObjectsRestored()
    total, done = _count_refs(ext), 0
    with ThreadPoolExecutor(COPY_THREADS) as pool:
        for batch in ref_batches(ext, KEYS_PER_BATCH):
            placed = _place_batch(ext, source, batch, pool, resumed=resumed)
            _relocate(ext, placed)
            for one in placed:
                _count(report, one, progress)
            done += len(placed)
            progress(f"  {done:,} of {total:,} objects")
    return report


def _place_batch(ext: Archive, source: ObjectStore, batch: list[StoredRef],
                 pool: ThreadPoolExecutor, *, resumed: bool) -> list[Placed]:
    """Each key's versions in the order they were stored, the keys side by side."""
    def place_key(refs: list[StoredRef]) -> list[Placed]:
        return [restore_object(ext, source, target, ref, resumed=resumed) for ref in refs]

    by_key = [list(refs) for _key, refs in groupby(batch, key=lambda ref: ref.key)]
    with ext.store.batch_writer() as target:
        futures = [pool.submit(place_key, refs) for refs in by_key]
        try:
            return [one for future in futures for one in future.result()]
        except BaseException:
            for future in futures:
                future.cancel()  # what has not started yet; the resumed restore does it
            raise


def _relocate(ext: Archive, placed: list[Placed]) -> None:
    moves = [Relocation(one.ref.key, one.ref.version_id, one.new_version)
             for one in placed if one.new_version]
    if moves:
        with ext.db.transaction() as session:
            replication.relocate_objects(ext, session, moves)


def _count(report: ObjectsRestored, placed: Placed, progress: Progress) -> None:
    ref = placed.ref
    if placed.outcome == "lost":
        report.lost.append(ref)
        progress(f"LOST: {ref.kind} {ref.key} (version {ref.version_id}, SHA-256 "
                 f"{ref.sha256}): no copy with these bytes in the replica")
    elif placed.outcome == "present":
        report.present += 1
    else:
        report.copied += 1


def restore_object(ext: Archive, source: ObjectStore, target: ObjectStore, ref: StoredRef, *,
                   resumed: bool = False) -> Placed:
    """Put one object back into the primary (``target``: its batch writer). ``resumed``: a
    restore cut short ran before, and may have left a copy of this object behind."""
    with suppress(ObjectNotFound):
        if target.stat(ref.key, ref.version_id).sha256 == ref.sha256:
            return Placed(ref, "present")
    if resumed:
        adopted = _copy_cut_short(ext, target, ref)
        if adopted:
            return Placed(ref, "present", adopted)
    for candidate in _replica_candidates(source, ref):
        try:
            # Read back by the full verify at the end of the restore, not here as well.
            new_version = replication.copy_verified(source, candidate, target, ref.key,
                                                    ref.sha256, read_back=False)
        except (ObjectNotFound, IntegrityError):
            continue  # this copy is gone or damaged: another may do
        return Placed(ref, "copied", new_version)
    return Placed(ref, "lost")


def _copy_cut_short(ext: Archive, store: ObjectStore, ref: StoredRef) -> str | None:
    """The version of the object a restore cut short wrote into the primary before its rows
    moved to it (``put`` makes the version id, so it cannot be recorded first): one that no
    row names, with the right bytes. The rows are pointed at it rather than another copy
    written. Only a resumed restore looks: a fresh one starts from an empty store, and the
    look costs a listing per object."""
    named = _versions_named(ext, ref.key)
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


def _versions_named(ext: Archive, key: str) -> set[str]:
    """The version ids of ``key`` some row refers to."""
    objects = union_all(*replication.object_sources(ext)).subquery()
    with ext.db.transaction() as session:
        return set(session.scalars(select(objects.c.version_id).where(objects.c.key == key)))


def _replica_candidates(source: ObjectStore, ref: StoredRef) -> Iterator[str]:
    """The recorded replica copy first; then any replica version with the same SHA-256 (a
    copy made after the snapshot was taken, so not recorded in it)."""
    if ref.replica_version_id:
        yield ref.replica_version_id
    for info in source.list_versions(ref.key):
        if info.version_id != ref.replica_version_id and info.sha256 in (ref.sha256, None):
            yield info.version_id


def forget_replica_copies(ext: Archive) -> None:
    """Restored from another store than the configured replica: the recorded replica copies
    are not in it, so replication copies every object anew."""
    with ext.db.transaction() as session:
        session.execute(update(ObjectCopy).values(
            state="pending", replica_version_id=None, replicated_at=None, attempts=0,
            last_error=""))

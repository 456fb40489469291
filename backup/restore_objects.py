"""Restore, step 4: every stored object the restored database names, copied from the replica
into the new primary store with its SHA-256 checked, and every reference moved to the new
version id (``put`` always makes one). An object the replica does not hold is reported as
lost, never dropped in silence. A restore cut short between writing an object and moving its
rows leaves that version in the primary with no row naming it; the resumed restore adopts it
(its bytes checked first) instead of writing another, so no orphan is left."""
from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Executor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from itertools import groupby

from sqlalchemy import func, select, union_all, update

from archive.errors import StorageError
from archive.extensions import Archive
from archive.interfaces import ObjectStore, Relocation
from backup import replication
from backup.models import ObjectCopy
from backup.restore_copies import Placed, Placing, StoredRef, place_keys
from backup.restore_database import Progress
from backup.store_workers import worker_pool

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


# Threads copying at once when a store is S3: the copies then mostly wait on an endpoint,
# and four leave more to overlap. With both stores on disk the copies run in
# backup.store_workers' processes instead.
COPY_THREADS = 4
# A batch is cut into this many tasks, a run of keys each: enough that one slow task does not
# leave the other workers idle for long, few enough that each carries many objects per trip
# to a worker process.
TASKS_PER_BATCH = 16


@dataclass
class ObjectsRestored:
    copied: int = 0
    present: int = 0  # already in the primary under the same version (a resumed restore)
    lost: list[StoredRef] = field(default_factory=list)


def copy_objects(ext: Archive, source: ObjectStore, progress: Progress, *,
                 resumed: bool) -> ObjectsRestored:
    """Every object back into the primary, a batch of keys at a time: the batch's copies
    written in parallel and made durable together, then its rows moved in one transaction.
    The next batch is copied meanwhile, so the workers do not wait for the disk's flush or
    the database. A crash in between leaves copies no row names, which the resumed restore
    adopts."""
    report = ObjectsRestored()
    counter = _Counter(_count_refs(ext), progress)
    # Whether each object is looked for in the primary before it is copied: only when the
    # primary holds something (a restore cut short, or a primary that survived the
    # disaster). Into an empty one, the look would cost a system call or a request per
    # object and never find anything.
    look_first = resumed or not ext.store.is_empty()
    with worker_pool([source, ext.store], COPY_THREADS) as pool:
        in_flight: list[_Batch] = []  # the batch being finished, and the next one
        try:
            for refs in ref_batches(ext, KEYS_PER_BATCH):
                placing = _placing(ext, refs, look_first=look_first, resumed=resumed)
                in_flight.append(_Batch(ext, source, refs, pool, placing))
                if len(in_flight) > 1:
                    counter.add(report, in_flight.pop(0).finish(ext))
            while in_flight:
                counter.add(report, in_flight.pop(0).finish(ext))
        except BaseException as err:
            for batch in in_flight:
                batch.abandon()
            if isinstance(err, BrokenProcessPool):
                raise CopyWorkerDied() from err
            raise
    return report


class CopyWorkerDied(StorageError):
    def __init__(self) -> None:
        super().__init__(
            "A copy worker process died during the restore (killed, or out of memory). "
            "What it copied is kept: run the same chartvault restore command again and it "
            "resumes where this one stopped.")


def _placing(ext: Archive, refs: list[StoredRef], *, look_first: bool,
             resumed: bool) -> Placing:
    """What the workers need to know of the database to place ``refs``."""
    if not resumed:
        return Placing(look_first=look_first, resumed=False)
    return Placing(look_first=look_first, resumed=True, named=_versions_named(ext, refs))


class _Batch:
    """One batch's copies, started at once in the pool through one batch writer of the
    primary: its exit (in ``finish``) makes all of them durable together."""

    def __init__(self, ext: Archive, source: ObjectStore, refs: list[StoredRef],
                 pool: Executor, placing: Placing):
        self.writer = ext.store.batch_writer()
        target = self.writer.__enter__()
        by_key = [list(key_refs) for _key, key_refs in groupby(refs, key=lambda ref: ref.key)]
        tasks = _chunks(by_key, -(-len(by_key) // TASKS_PER_BATCH))
        self.futures = [pool.submit(place_keys, source, target, task, placing)
                        for task in tasks]

    def finish(self, ext: Archive) -> list[Placed]:
        """Wait for the copies, make them durable, then move their rows to them: no row
        ever names a copy that is not on disk."""
        try:
            placed = [one for future in self.futures for one in future.result()]
        except BaseException:
            self.abandon()
            raise
        self.writer.__exit__(None, None, None)
        _relocate(ext, placed)
        return placed

    def abandon(self) -> None:
        """Stop what has not started yet (the resumed restore does it) and wait for the
        rest, without flushing: what this batch wrote no row names yet."""
        for future in self.futures:
            future.cancel()
        wait(self.futures)


def _chunks(items: list, size: int) -> list[list]:
    return [items[start:start + size] for start in range(0, len(items), size)]


class _Counter:
    """The report's counts, and the progress line after each batch."""

    def __init__(self, total: int, progress: Progress):
        self.total, self.done, self.progress = total, 0, progress

    def add(self, report: ObjectsRestored, placed: list[Placed]) -> None:
        for one in placed:
            _count(report, one, self.progress)
        self.done += len(placed)
        self.progress(f"  {self.done:,} of {self.total:,} objects")


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


def _versions_named(ext: Archive, refs: list[StoredRef]) -> dict[str, frozenset[str]]:
    """The version ids some row refers to, of each key of ``refs``."""
    objects = union_all(*replication.object_sources(ext)).subquery()
    keys = sorted({ref.key for ref in refs})
    named: dict[str, set[str]] = {key: set() for key in keys}
    with ext.db.transaction() as session:
        for key, version_id in session.execute(
                select(objects.c.key, objects.c.version_id).where(objects.c.key.in_(keys))):
            named[key].add(version_id)
    return {key: frozenset(versions) for key, versions in named.items()}

def forget_replica_copies(ext: Archive) -> None:
    """Restored from another store than the configured replica: the recorded replica copies
    are not in it, so replication copies every object anew."""
    with ext.db.transaction() as session:
        session.execute(update(ObjectCopy).values(
            state="pending", replica_version_id=None, replicated_at=None, attempts=0,
            last_error=""))

"""Replication: a second, verified copy of every stored object in the replica store.

Every table that records stored objects (document versions here, derivatives through
``Archive.object_sources``, destruction certificates) is a source. Each run first registers
the objects not yet known (one INSERT ... SELECT per source), then copies the pending and
failed ones: read from the primary (its SHA-256 checked while reading), write to the replica,
read the copy back and check its SHA-256 too, and only then record it as replicated.

A crash after the copy was written but before it was recorded leaves a copy the next run
recognises by its checksum and adopts instead of writing a second one. A copy of an object
of a held document gets the replica store's legal hold as soon as it is recorded
(backup.hold_sync.flag_new_copy), so the replica never keeps a held record deletable for
longer than the copy takes. Destruction marks the
document's objects "destroying" before it deletes anything (retention.destruction); a copy
finished after that is deleted again at once, so a destroyed record never survives in the
replica.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, insert, literal, select, tuple_, update
from sqlalchemy.orm import Session

from archive.db import relocate_rows
from archive.errors import ArchiveError, IntegrityError, StorageError
from archive.extensions import Archive
from archive.interfaces import ObjectStore, Relocation
from archive.models import DocumentVersion, utcnow
from backup.hold_sync import flag_new_copy
from backup.models import ObjectCopy
from backup.restore_copies import copy_checked

COPY_BATCH = 100  # objects claimed per transaction
RUN_BUDGET = timedelta(minutes=4)  # a run stops copying after this, before the next one starts
WAITING = ("pending", "failed")


@dataclass(frozen=True)
class ReplicationReport:
    registered: int = 0
    copied: int = 0
    adopted: int = 0  # copies found already in the replica (a run cut short before)
    failed: int = 0

    def summary(self) -> str:
        text = f"{self.copied} objects copied and verified"
        if self.adopted:
            text += f", {self.adopted} found already copied"
        if self.failed:
            text += f", {self.failed} failed (see the backup status page)"
        return text + f"; {self.registered} newly stored objects registered"


def run_replication(ext: Archive, budget: timedelta = RUN_BUDGET) -> str:
    """The scheduled job: register new objects, then copy until none waits or the budget
    is spent. Failures are recorded per object and retried by the next run."""
    report = replicate(ext, budget)
    if report.failed and not (report.copied or report.adopted):
        raise ArchiveError(f"Replication made no progress: {report.summary()}.")
    return report.summary()


def replicate(ext: Archive, budget: timedelta = RUN_BUDGET) -> ReplicationReport:
    deadline = time.monotonic() + budget.total_seconds()
    with ext.db.transaction() as session:
        registered = register_new_objects(ext, session)
    copied = adopted = failed = 0
    after = 0  # rows are taken in id order, so a failed object is tried once per run
    while time.monotonic() < deadline:
        with ext.db.transaction() as session:
            batch = session.execute(
                select(ObjectCopy.id, ObjectCopy.key, ObjectCopy.version_id, ObjectCopy.sha256)
                .where(ObjectCopy.state.in_(WAITING), ObjectCopy.id > after)
                .order_by(ObjectCopy.id)
                .limit(COPY_BATCH)
            ).all()
        if not batch:
            break
        for row_id, key, version_id, sha256 in batch:
            after = row_id
            outcome = copy_object(ext, row_id, key, version_id, sha256)
            copied += outcome == "copied"
            adopted += outcome == "adopted"
            failed += outcome == "failed"
    return ReplicationReport(registered, copied, adopted, failed)


# --- what is stored ---------------------------------------------------------------------------


def object_sources(ext: Archive) -> list[Select]:
    """Queries of every stored object: key, version_id, sha256, size, stored_at, kind."""
    originals = select(
        DocumentVersion.object_key.label("key"),
        DocumentVersion.store_version_id.label("version_id"),
        DocumentVersion.sha256,
        DocumentVersion.size,
        DocumentVersion.created_at.label("stored_at"),
        literal("original").label("kind"),
    )
    return [originals, *(source() for source in ext.object_sources)]


def register_new_objects(ext: Archive, session: Session) -> int:
    """Add every stored object not yet known, as pending; the number added."""
    before = _copy_count(session)
    known = select(ObjectCopy.key, ObjectCopy.version_id)
    for source in object_sources(ext):
        objects = source.subquery()
        # NOT IN, which PostgreSQL hashes once (see retention.disposition._due).
        new = select(
            objects.c.key, objects.c.version_id, objects.c.sha256, objects.c.size,
            objects.c.stored_at, objects.c.kind, literal("pending"), literal(0), literal(""),
        ).where(tuple_(objects.c.key, objects.c.version_id).not_in(known))
        session.execute(insert(ObjectCopy.__table__).from_select(
            ["key", "version_id", "sha256", "size", "stored_at", "kind", "state", "attempts",
             "last_error"],
            new,
        ))
    return _copy_count(session) - before


def _copy_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ObjectCopy))


# --- one object -------------------------------------------------------------------------------


def copy_object(ext: Archive, row_id: int, key: str, version_id: str, sha256: str) -> str:
    """Copy one object to the replica and verify it: "copied", "adopted" or "failed"."""
    try:
        replica_version = _copy_in_replica(ext.replica, key, sha256)
        if replica_version is None:
            outcome = "copied"
            replica_version = copy_verified(ext.store, version_id, ext.replica, key, sha256)
        else:
            outcome = "adopted"
            _verify(ext.replica, key, replica_version, sha256)
    except ArchiveError as error:
        _record_failure(ext, row_id, error)
        return "failed"
    if not _record_copy(ext, row_id, replica_version):
        # Destruction began while this copy was made: it must not outlive the record.
        ext.replica.delete_version(key, replica_version)
        return outcome
    # Only once recorded: a placement that commits meanwhile then finds the copy itself.
    flag_new_copy(ext, key, version_id, replica_version)
    return outcome


def _copy_in_replica(replica: ObjectStore, key: str, sha256: str) -> str | None:
    """The replica version already holding exactly these bytes, if a run cut short made it."""
    for info in replica.list_versions(key):
        if info.sha256 == sha256:
            return info.version_id
    return None


def copy_verified(source: ObjectStore, source_version: str, target: ObjectStore, key: str,
                  sha256: str) -> str:
    """Write one version of ``key`` from ``source`` into ``target`` as a new version, then
    read the new version back against ``sha256``; its version id. Replication and the
    scrub's repairs copy through here (the restore uses restore_copies.copy_checked alone,
    since it reads every copy back at its end). A copy that does not verify is deleted."""
    version_id = copy_checked(source, source_version, target, key, sha256)
    try:
        _verify(target, key, version_id, sha256)
    except IntegrityError:
        with suppress(StorageError):
            target.delete_version(key, version_id)
        raise
    return version_id


def _verify(replica: ObjectStore, key: str, replica_version: str, sha256: str) -> None:
    """Read the copy back; the store raises IntegrityError unless it hashes to ``sha256``."""
    for _chunk in replica.open(key, replica_version, expected_sha256=sha256):
        pass


def _record_copy(ext: Archive, row_id: int, replica_version: str) -> bool:
    with ext.db.transaction() as session:
        changed = session.execute(
            update(ObjectCopy)
            .where(ObjectCopy.id == row_id, ObjectCopy.state.in_(WAITING))
            .values(state="replicated", replica_version_id=replica_version,
                    replicated_at=utcnow(), last_error="")
        ).rowcount
    return changed == 1


def _record_failure(ext: Archive, row_id: int, error: ArchiveError) -> None:
    with ext.db.transaction() as session:
        session.execute(
            update(ObjectCopy)
            .where(ObjectCopy.id == row_id, ObjectCopy.state.in_(WAITING))
            .values(state="failed", attempts=ObjectCopy.attempts + 1,
                    last_error=f"{type(error).__name__}: {error.message}"[:2000])
        )


# --- an object written again ---------------------------------------------------------------


def relocate_objects(ext: Archive, session: Session, moves: Sequence[Relocation]) -> None:
    """The primary store holds each object again under a new version id (a repair or a
    restore wrote it anew): every reference follows, in this transaction."""
    relocate_rows(session, DocumentVersion.__table__.c.object_key,
                  DocumentVersion.__table__.c.store_version_id, moves)
    relocate_rows(session, ObjectCopy.__table__.c.key, ObjectCopy.__table__.c.version_id, moves)
    for relocate in ext.object_relocators:
        relocate(session, moves)


def relocate_object(ext: Archive, session: Session, key: str, old: str, new: str) -> None:
    """One object of ``relocate_objects``."""
    relocate_objects(ext, session, [Relocation(key, old, new)])


# --- destruction ------------------------------------------------------------------------------


def hold_back(session: Session, keys: Iterable[str]) -> None:
    """Destruction is about to delete these objects: no copy of them may be recorded now."""
    session.execute(
        update(ObjectCopy).where(ObjectCopy.key.in_(list(keys))).values(state="destroying")
    )


def forget(session: Session, keys: Iterable[str]) -> None:
    """The objects are destroyed everywhere: drop their copy records."""
    session.execute(ObjectCopy.__table__.delete().where(ObjectCopy.key.in_(list(keys))))


# --- status -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicationStatus:
    objects: int
    replicated: int
    waiting: int  # pending or failed
    failed: int
    oldest_waiting: datetime | None  # when the primary stored the oldest object not copied
    last_copy: datetime | None
    failures: list[ObjectCopy]  # a few, newest first

    def lag(self, now: datetime) -> timedelta:
        """How far the replica is behind: the age of the oldest object not yet copied."""
        return now - self.oldest_waiting if self.oldest_waiting else timedelta(0)


def replication_status(ext: Archive, session: Session) -> ReplicationStatus:
    """Counts and lag, including the objects stored since the last run registered them
    (otherwise the page would show no lag between runs while the replica is behind)."""
    counts = dict(session.execute(
        select(ObjectCopy.state, func.count()).group_by(ObjectCopy.state)
    ).all())
    unregistered, oldest_unregistered = _unregistered(ext, session)
    oldest = session.scalar(
        select(func.min(ObjectCopy.stored_at)).where(ObjectCopy.state.in_(WAITING))
    )
    last = session.scalar(select(func.max(ObjectCopy.replicated_at)))
    failures = list(session.scalars(
        select(ObjectCopy).where(ObjectCopy.state == "failed")
        .order_by(ObjectCopy.id.desc()).limit(10)
    ))
    return ReplicationStatus(
        objects=sum(counts.values()) - counts.get("destroying", 0) + unregistered,
        replicated=counts.get("replicated", 0),
        waiting=counts.get("pending", 0) + counts.get("failed", 0) + unregistered,
        failed=counts.get("failed", 0),
        oldest_waiting=min((t for t in (oldest, oldest_unregistered) if t), default=None),
        last_copy=last,
        failures=failures,
    )


def _unregistered(ext: Archive, session: Session) -> tuple[int, datetime | None]:
    """How many stored objects no run has registered yet, and when the oldest was stored."""
    known = select(ObjectCopy.key, ObjectCopy.version_id)
    count, oldest = 0, None
    for source in object_sources(ext):
        objects = source.subquery()
        found, stored = session.execute(
            select(func.count(), func.min(objects.c.stored_at))
            .where(tuple_(objects.c.key, objects.c.version_id).not_in(known))
        ).one()
        count += found
        if stored is not None and (oldest is None or stored < oldest):
            oldest = stored
    return count, oldest

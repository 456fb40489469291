"""Restore: a working installation rebuilt from the replica store alone.

Into an empty target (the configured data directory and database), in this order:

1. the database, to the latest point the replica holds (backup.restore_database), the
   moment it reached reported;
2. migrations, in case the snapshot predates the code;
3. the destruction log: every logged destruction whose document is in the restored
   database (it was destroyed after that moment) is carried out again on its rows, unless
   a legal hold covers it now; its tombstone marked destroyed, the re-application audited
   as ``restore.destruction_reapplied`` with the log entry itself;
4. every stored object the database names, copied from the replica into the new primary
   store, its SHA-256 checked on both sides, and every reference moved to the new version
   id (``put`` always makes one). An object the replica does not hold is reported as lost,
   never dropped in silence. A restore cut short between writing an object and moving its
   rows leaves that version in the primary with no row naming it; the resumed restore
   adopts it (its bytes checked first) instead of writing another, so no orphan is left;
5. the search index, rebuilt from the database (by the caller: the index is search's);
6. a snapshot of the restored database, so its journal goes on at once; then the full
   verify: every object read back from the new primary and the replica against its
   checksum (backup.scrub, as `chartvault verify --all`), and the audit chain.

A marker file in the data directory says a restore is under way, so a restore cut short is
run again to its end instead of being refused as "not empty".
"""
from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path

from sqlalchemy import func, inspect, select, union_all, update

from archive import audit, migrate
from archive.audit import Actor
from archive.audit_anchor import record_restore, write_anchor
from archive.config import SECRET_KEY_FILENAME
from archive.errors import (
    ArchiveError,
    AuditKeyError,
    Conflict,
    IntegrityError,
    ObjectNotFound,
    StorageError,
)
from archive.extensions import Archive
from archive.interfaces import ObjectStore, Relocation
from archive.models import AuditHead, Document, Patient, utcnow
from backup import replication
from backup.models import ObjectCopy
from backup.restore_database import Progress, Recovery, load_database
from backup.snapshots import sqlite_path
from retention.destruction import (
    DESTRUCTION_LOG,
    delete_every_version,
    erase_document_rows,
    hold_refusal,
)
from retention.models import DispositionItem, Tombstone

MARKER = "restore-in-progress.json"


@dataclass(frozen=True)
class StoredRef:
    """One stored object version the restored database refers to."""

    key: str
    version_id: str
    sha256: str
    kind: str
    replica_version_id: str | None


@dataclass
class RestoreReport:
    recovery: Recovery | None = None
    resumed: bool = False
    destructions_reapplied: list[int] = field(default_factory=list)  # document ids
    destructions_held: list[int] = field(default_factory=list)  # kept: under a legal hold
    copied: int = 0
    present: int = 0  # already in the primary under the same version (a resumed restore)
    lost: list[StoredRef] = field(default_factory=list)
    verified: int = 0
    corrupt: list[str] = field(default_factory=list)  # the full verify's unrepaired findings
    repaired: list[str] = field(default_factory=list)  # bad copies it repaired
    audit_events: int = 0
    audit_ok: bool = False
    audit_problem: str = ""

    @property
    def ok(self) -> bool:
        return (not self.lost and not self.corrupt and self.audit_ok
                and not self.recovery.problem)

    def summary(self) -> str:
        recovery = self.recovery
        lines = [
            f"Restored to: {recovery.restored_to:%Y-%m-%d %H:%M:%S} UTC, from {recovery.source}"
            + (" (restore resumed)" if self.resumed else ""),
            f"Destructions re-applied from the destruction log: "
            f"{len(self.destructions_reapplied)}" + (
                f" ({len(self.destructions_held)} held back by a legal hold: their documents "
                "are kept)" if self.destructions_held else ""),
            f"Objects copied from the replica and verified: {self.copied}"
            + (f" ({self.present} already in place)" if self.present else ""),
            f"Objects verified in the new primary store and the replica: {self.verified}"
            + (f" ({len(self.repaired)} bad copies repaired)" if self.repaired else ""),
            "Audit chain: " + ("intact, " if self.audit_ok else "BROKEN, ")
            + f"{self.audit_events} events verified" + (
                f" ({self.audit_problem})" if self.audit_problem else ""),
        ]
        if recovery.problem:
            lines.append(f"INCOMPLETE: {recovery.problem}")
        if self.lost:
            lines.append(f"LOST: {len(self.lost)} objects are in no replica copy (listed above)")
        lines += self.repaired
        if self.corrupt:
            lines += self.corrupt
            lines.append(f"CORRUPT: {len(self.corrupt)} objects failed verification")
        return "\n".join(lines)


# --- the orchestrator ------------------------------------------------------------------------


def restore(
    ext: Archive,
    source: ObjectStore,
    actor: Actor,
    *,
    source_is_replica: bool,
    reindex: Callable[[], None],
    progress: Progress = lambda _line: None,
) -> RestoreReport:
    """Rebuild the installation ``ext`` is configured for from ``source`` (see the module
    docstring). ``source_is_replica``: the source is the configured replica store, so the
    copy records stay valid; otherwise replication copies everything anew."""
    if ext.db.audit_key is None:
        raise AuditKeyError(
            "No audit key is configured. The restored audit trail can only be verified, and "
            "continued, with the audit key of the archive being restored, which is kept with "
            "the configuration, not in the replica: set CHARTVAULT_AUDIT_KEY to it (or copy "
            "its audit_key file into the data directory) and run the restore again. Only an "
            "archive from before keyed audit trails had none; then set a new key.")
    report = RestoreReport()
    marker = prepare_target(ext)
    report.resumed = marker.exists()
    report.recovery = _loaded(marker)
    if report.recovery is None:
        _write_marker(marker, None)
        report.recovery = load_database(ext, source, progress)
        _record_fork(ext, progress)
        _write_marker(marker, report.recovery)
    progress("Applying migrations…")
    migrate.upgrade(ext.db.engine)
    progress("Applying the destruction log…")
    report.destructions_reapplied = reapply_destructions(ext, source, actor,
                                                         report.destructions_held)
    progress("Copying the stored objects from the replica…")
    copy_objects(ext, source, report, progress)
    if not source_is_replica:
        forget_replica_copies(ext)
    progress("Rebuilding the search index…")
    reindex()
    progress("Verifying every object in the new primary store and in the replica…")
    verify_objects(ext, report, actor)
    with ext.db.transaction() as session:
        audit.record(session, actor, "restore.completed",
                     outcome="success" if not (report.lost or report.corrupt) else "failure",
                     details={
                         **report.recovery.as_json(),
                         "destructions_reapplied": report.destructions_reapplied,
                         "destructions_held": report.destructions_held,
                         "copied": report.copied, "present": report.present,
                         "lost": [f"{ref.key}@{ref.version_id}" for ref in report.lost],
                         "corrupt": report.corrupt,
                     })
    progress("Starting the journal from the restored database…")
    _start_journal(ext, progress)
    progress("Verifying the audit chain…")
    with ext.db.transaction() as session:
        chain = audit.verify_chain(session)
    report.audit_ok, report.audit_events = chain.ok, chain.events_checked
    if not chain.ok:
        report.audit_problem = f"first broken event {chain.first_broken_seq}: {chain.problem}"
    else:
        _anchor(ext, progress)
    marker.unlink(missing_ok=True)
    return report


def _record_fork(ext: Archive, progress: Progress) -> None:
    """Mark in the replica where the loaded snapshot's audit chain ends, before this restore
    writes events after it: the replica's anchors of the events lost with the old database
    are then not mistaken for events deleted from the new one."""
    with ext.db.engine.connect() as connection:
        seq = connection.execute(select(AuditHead.last_seq).where(AuditHead.id == 1)).scalar()
    try:
        record_restore(ext.replica, seq or 0)
    except StorageError as err:
        progress(f"WARNING: the restore could not be marked in the replica store ({err.message}); "
                 "`chartvault audit verify` will report the anchors of events newer than the "
                 "snapshot as deleted events.")


def _start_journal(ext: Archive, progress: Progress) -> None:
    """A snapshot of the restored database at once: the journal goes on from it, so that
    point-in-time recovery covers the restored archive from its first minute."""
    from backup.snapshots import take_snapshot

    try:
        take_snapshot(ext)
    except (ArchiveError, StorageError) as err:
        progress(f"WARNING: the first snapshot of the restored database failed ({err}); "
                 "the database journal job takes one within a minute of the worker starting.")


def _anchor(ext: Archive, progress: Progress) -> None:
    """Anchor the restored chain at once: until then its newest events go unguarded."""
    try:
        write_anchor(ext.db, ext.replica)
    except StorageError as err:
        progress(f"WARNING: the audit chain could not be anchored in the replica store "
                 f"({err.message}); the schedule tries again every 5 minutes.")


# --- 0. the target ---------------------------------------------------------------------------


def prepare_target(ext: Archive) -> Path:
    """Make the data directory (and its session key), and refuse a target that already holds
    an archive, unless it is a restore cut short. The marker's path."""
    settings = ext.settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not settings.secret_key:
        key_file = settings.data_dir / SECRET_KEY_FILENAME
        if not key_file.exists():
            key_file.write_text(secrets.token_hex(32))
            key_file.chmod(0o600)
    if ext.db.is_sqlite:
        sqlite_path(settings.database_url).parent.mkdir(parents=True, exist_ok=True)
    marker = settings.data_dir / MARKER
    if marker.exists():
        return marker
    held = _records_held(ext)
    if held:
        raise Conflict(
            f"The target already holds an archive ({held}) in "
            f"{ext.db.engine.url.render_as_string()}. A restore only fills an empty "
            "installation and never overwrites one: point CHARTVAULT_DATA_DIR and "
            "CHARTVAULT_DATABASE_URL at an empty data directory and an empty database (or "
            "move this one aside first), then run the restore again."
        )
    return marker


def _records_held(ext: Archive) -> str:
    if "documents" not in inspect(ext.db.engine).get_table_names():
        return ""
    with ext.db.transaction() as session:
        documents = session.scalar(select(func.count()).select_from(Document))
        patients = session.scalar(select(func.count()).select_from(Patient))
    if documents or patients:
        return f"{documents} documents of {patients} patients"
    return ""


def _loaded(marker: Path) -> Recovery | None:
    """What a restore cut short had loaded the database from, if it got that far."""
    if not marker.exists():
        return None
    loaded = json.loads(marker.read_text()).get("recovery")
    return Recovery.from_json(loaded) if loaded else None


def _write_marker(marker: Path, recovery: Recovery | None) -> None:
    marker.write_text(json.dumps({"recovery": recovery.as_json() if recovery else None}))


# --- 3. the destruction log ---------------------------------------------------------------------


def destruction_log(source: ObjectStore) -> Iterator[dict]:
    """The logged destructions, oldest first, read one at a time (the log grows with every
    destruction the archive ever made)."""
    for info in source.list_versions(DESTRUCTION_LOG):
        yield json.loads(b"".join(source.open(DESTRUCTION_LOG, info.version_id)))


def reapply_destructions(ext: Archive, source: ObjectStore, actor: Actor,
                         held: list[int] | None = None) -> list[int]:
    """Destroy again every logged document the restored database still holds; their ids.
    Matched by uid, never by id alone: ids are given out again after a restore. A document
    a legal hold covers in the restored database is kept (its destruction was cut short and
    then halted by the hold, or the hold came after): its id goes to ``held``."""
    reapplied = []
    for entry in destruction_log(source):
        with ext.db.transaction() as session:
            document = session.scalar(
                select(Document).where(Document.uid == entry["document_uid"]))
            if document is None:
                continue  # destroyed before the snapshot, or filed after it
            refusal = hold_refusal(ext, session, document, actor)
            if refusal:
                audit.record(session, actor, "restore.destruction_held", outcome="refused",
                             patient_mrn=entry.get("patient_mrn"), document_id=document.id,
                             reason=refusal, details=entry)
                if held is not None:
                    held.append(document.id)
                continue
            keys = _erase_rows(ext, session, document, entry)
            audit.record(session, actor, "restore.destruction_reapplied",
                         patient_mrn=entry.get("patient_mrn"), document_id=document.id,
                         reason=f"destroyed by disposition batch #{entry.get('batch_id')} after "
                                "the moment the database was restored to (destruction log)",
                         details=entry)
            reapplied.append(document.id)
        # A primary that survived the disaster may still hold a copy made before the
        # destruction; a new one holds none and this finds nothing.
        delete_every_version(ext.store, keys)
    return reapplied


def _erase_rows(ext: Archive, session, document: Document, entry: dict) -> set[str]:
    """Destruction's own erasure, for a document whose objects are gone already, and its
    disposition records settled; the object keys it had."""
    keys = erase_document_rows(ext, session, document) | set(entry.get("objects", []))
    now = utcnow()
    tomb = session.get(Tombstone, document.id)
    if tomb is not None:
        tomb.state, tomb.destroyed_at = "destroyed", tomb.destroyed_at or now
    session.execute(
        update(DispositionItem)
        .where(DispositionItem.document_id == document.id,
               DispositionItem.batch_id == entry.get("batch_id"),
               DispositionItem.status == "pending")
        .values(status="destroyed", decided_by="restore (destruction log)", decided_at=now)
    )
    return keys


# --- 4. the objects ----------------------------------------------------------------------------


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


def copy_objects(ext: Archive, source: ObjectStore, report: RestoreReport,
                 progress: Progress) -> None:
    """Every object back into the primary, a batch of keys at a time: the batch's copies
    written in parallel and made durable together, then its rows moved in one transaction.
    A crash in between leaves copies no row names, which the resumed restore adopts."""
    total, done = _count_refs(ext), 0
    with ThreadPoolExecutor(COPY_THREADS) as pool:
        for batch in ref_batches(ext, KEYS_PER_BATCH):
            placed = _place_batch(ext, source, batch, pool, resumed=report.resumed)
            _relocate(ext, placed)
            for one in placed:
                _count(report, one, progress)
            done += len(placed)
            progress(f"  {done:,} of {total:,} objects")


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


def _count(report: RestoreReport, placed: Placed, progress: Progress) -> None:
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


# --- 6. the verify -----------------------------------------------------------------------------


def verify_objects(ext: Archive, report: RestoreReport, actor: Actor) -> None:
    """The full verify (`chartvault verify --all`, backup.scrub): every object read back
    from the new primary, and its replica copy, against its checksum. Every object the
    database names is registered for it first (the replication job would within a minute),
    so none is left out; an unrepairable one becomes a finding on the backup page."""
    from backup.scrub import scrub
    from backup.scrub_findings import UNREPAIRED

    with ext.db.transaction() as session:
        replication.register_new_objects(ext, session)
    result = scrub(ext, now=utcnow(), everything=True, actor=actor)
    lost = {(ref.key, ref.version_id) for ref in report.lost}
    report.verified = result.checked - result.unrepaired
    report.repaired = [finding.line() for finding in result.findings
                       if finding.outcome != UNREPAIRED]
    report.corrupt = [finding.line() for finding in result.findings
                      if finding.outcome == UNREPAIRED
                      and (finding.key, finding.version_id) not in lost]

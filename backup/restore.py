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
   store with its SHA-256 checked, its rows moved to the new version id; an object the
   replica does not hold reported as lost (backup.restore_objects);
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
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, inspect, select, update

from archive import audit, migrate
from archive.audit import Actor
from archive.audit_anchor import record_restore, write_anchor
from archive.config import SECRET_KEY_FILENAME
from archive.errors import (
    ArchiveError,
    AuditKeyError,
    Conflict,
    StorageError,
)
from archive.extensions import Archive
from archive.interfaces import ObjectStore
from archive.models import AuditHead, Document, Patient, utcnow
from backup import replication
from backup.restore_database import Progress, Recovery, load_database
from backup.restore_objects import StoredRef, copy_objects, forget_replica_copies
from backup.snapshots import sqlite_path
from retention.destruction import (
    DESTRUCTION_LOG,
    delete_every_version,
    erase_document_rows,
    hold_refusal,
)
from retention.models import DispositionItem, Tombstone

MARKER = "restore-in-progress.json"


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
    objects = copy_objects(ext, source, progress, resumed=report.resumed)
    report.copied, report.present, report.lost = objects.copied, objects.present, objects.lost
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

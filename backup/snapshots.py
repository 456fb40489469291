"""Database snapshots and the journal after them: the metadata database in the replica
store, to within the last minute, so that the replica alone is enough to rebuild the archive
(backup.restore).

A snapshot, every night: SQLite is copied with its online backup API, which reads one
consistent state of the database while the archive goes on working; PostgreSQL with
``pg_dump --format=custom``, which dumps inside one repeatable-read transaction, and a base
backup besides. Each snapshot is a new version of one key; only the newest
``CHARTVAULT_SNAPSHOTS_KEEP`` (default 7) are kept.

The journal, every minute (``ship_journal``): what changed since, for point-in-time
recovery — SQLite's changed pages (backup.sqlite_journal), PostgreSQL's WAL
(backup.pg_wal).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from archive import audit
from archive.audit import Actor
from archive.config import Settings
from archive.errors import ArchiveError, ObjectNotFound
from archive.extensions import Archive
from archive.interfaces import ObjectStore, holds_version
from backup import pg_wal, sqlite_journal
from backup.pg_programs import libpq_connection, run_pg_program

SQLITE_KEY = "snapshots/database.sqlite"
POSTGRES_KEY = "snapshots/database.pgdump"
MEDIA_TYPES = {SQLITE_KEY: "application/vnd.sqlite3", POSTGRES_KEY: "application/octet-stream"}
KEEP_VARIABLE = "CHARTVAULT_SNAPSHOTS_KEEP"
SNAPSHOT_ACTOR = Actor("database snapshot", "scheduler")


@dataclass(frozen=True)
class Snapshot:
    key: str
    version_id: str
    sha256: str | None
    size: int
    taken_at: datetime

    @property
    def database(self) -> str:
        return "SQLite" if self.key == SQLITE_KEY else "PostgreSQL"


def snapshots_to_keep(settings: Settings) -> int:
    keep = settings.snapshots_keep
    if keep < 1:
        raise ArchiveError(f"{KEEP_VARIABLE}={keep!r}: give a whole number of snapshots, 1 or "
                           "more.")
    return keep


def snapshot_key(url: str) -> str:
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return SQLITE_KEY
    if backend == "postgresql":
        return POSTGRES_KEY
    raise ArchiveError(f"Snapshots support SQLite and PostgreSQL, not {backend}.")


# --- taking one -------------------------------------------------------------------------------


def run_snapshot(ext: Archive) -> str:
    """The scheduled job: one snapshot now; a one-line summary."""
    from archive.audit_anchor import write_anchor

    snapshot = take_snapshot(ext)
    keep = snapshots_to_keep(ext.settings)
    # Anchored at each backup too, after the snapshot's own audit event.
    anchor, _new = write_anchor(ext.db, ext.replica)
    return (f"{snapshot.database} snapshot of {snapshot.size:,} bytes stored in the replica "
            f"(SHA-256 {(snapshot.sha256 or '')[:12]}…); newest {keep} kept; audit chain "
            f"anchored at event {anchor.seq}.")


def take_snapshot(ext: Archive, actor: Actor = SNAPSHOT_ACTOR) -> Snapshot:
    """Copy the database consistently into a temporary file, store it in the replica as the
    newest version of its key, drop the versions beyond the number kept, and audit it."""
    keep = snapshots_to_keep(ext.settings)
    key = snapshot_key(ext.settings.database_url)
    if key == SQLITE_KEY:
        with sqlite_journal.journal_lock(ext.settings.data_dir):
            stored = _sqlite_snapshot(ext)
    else:
        stored = _postgres_snapshot(ext, keep)
    info = ext.replica.stat(key, stored.version_id)
    dropped = _prune(ext.replica, key, keep)
    with ext.db.transaction() as session:
        audit.record(session, actor, "backup.snapshot_taken", details={
            "key": key, "version_id": stored.version_id, "sha256": stored.sha256,
            "size": stored.size, "dropped": dropped, "kept": keep,
        })
    return Snapshot(key, stored.version_id, stored.sha256, stored.size, info.created_at)


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ArchiveError("An in-memory SQLite database cannot be snapshotted or restored.")
    return Path(database)


def _sqlite_snapshot(ext: Archive):
    """The copy stored, and the journal's new generation started from the very same bytes."""
    database = sqlite_path(ext.settings.database_url)
    with tempfile.TemporaryDirectory(dir=database.parent, prefix=".snapshot-") as work:
        dump = Path(work) / "database"
        stamp = sqlite_journal.consistent_copy(database, dump)
        stored = _store(ext.replica, SQLITE_KEY, dump)
        sqlite_journal.start_generation(ext.settings.data_dir, stored.version_id, dump, stamp)
    return stored


def _postgres_snapshot(ext: Archive, keep: int):
    with tempfile.TemporaryDirectory(prefix="chartvault-snapshot-") as work:
        dump = Path(work) / "database"
        _pg_dump(ext.settings.database_url, dump)
        stored = _store(ext.replica, POSTGRES_KEY, dump)
    pg_wal.take_base_backup(ext, keep)
    return stored


def _store(replica: ObjectStore, key: str, dump: Path):
    with dump.open("rb") as stream:
        return replica.put(key, stream, media_type=MEDIA_TYPES[key],
                           length=dump.stat().st_size)


def _pg_dump(url: str, target_path: Path) -> None:
    conninfo, env = libpq_connection(url)
    run_pg_program("pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                   f"--file={target_path}", f"--dbname={conninfo}", env=env)


# --- keeping N, and what there is ---------------------------------------------------------------


def _prune(replica: ObjectStore, key: str, keep: int) -> int:
    """Drop the snapshots beyond the newest ``keep`` (and, for SQLite, the journal entries
    of every generation whose snapshot went); how many snapshots were dropped."""
    versions = replica.list_versions(key)  # oldest first
    dropped = 0
    for info in versions[:-keep]:
        try:
            replica.delete_version(key, info.version_id)
        except ObjectNotFound:
            continue  # pruned concurrently
        dropped += 1
    if key == SQLITE_KEY:
        sqlite_journal.prune_generations(
            replica, [info.version_id for info in versions[-keep:]])
    return dropped


# --- the journal, every minute -------------------------------------------------------------------


def ship_journal(ext: Archive) -> str:
    """The database journal job: what changed in the database since the last run, into the
    replica; a snapshot first when there is nothing to go on from. A one-line summary."""
    if not ext.db.is_sqlite:
        return _ship_wal(ext)
    data_dir = ext.settings.data_dir
    with sqlite_journal.journal_lock(data_dir):
        state = sqlite_journal.JournalState.load(data_dir)
        if state is not None and holds_version(ext.replica, SQLITE_KEY,
                                               state.snapshot_version_id):
            entry = sqlite_journal.record_changes(
                ext.replica, data_dir, sqlite_path(ext.settings.database_url), state)
            if entry is None:
                return f"No change since journal entry {state.entry}."
            return (f"Journal entry {entry.number}: {entry.pages} of {entry.page_count} pages "
                    f"changed, {entry.size:,} bytes stored in the replica.")
    snapshot = take_snapshot(ext)
    return (f"No journal to go on from: took a database snapshot ({snapshot.size:,} bytes) "
            "to start one.")


def _ship_wal(ext: Archive) -> str:
    shipped = pg_wal.ship_wal(ext)
    # Every minute: a listing, not the labels list_base_backups reads.
    if pg_wal.has_base_backup(ext.replica, shipped.system):
        return shipped.summary()
    pg_wal.take_base_backup(ext, snapshots_to_keep(ext.settings))
    return f"{shipped.summary()} No base backup of this cluster yet: took one."



def latest_snapshots(ext: Archive) -> list[Snapshot]:
    """The snapshots kept in the replica, newest first (for the backup status page)."""
    return list_snapshots(ext.replica)


def list_snapshots(store: ObjectStore) -> list[Snapshot]:
    found = [
        Snapshot(key, info.version_id, info.sha256, info.size, info.created_at)
        for key in (SQLITE_KEY, POSTGRES_KEY)
        for info in store.list_versions(key)
    ]
    return sorted(found, key=lambda snapshot: snapshot.taken_at, reverse=True)

"""Step 1 of a restore (backup.restore): the database, brought back to the latest point
the replica holds, loaded into the empty target.

- SQLite: the newest snapshot, its SHA-256 checked as it is read, and the journal entries
  after it applied (backup.sqlite_journal);
- PostgreSQL: the newest base backup with the WAL after it, replayed in a temporary server
  and dumped into the target (backup.pg_recovery); with no base backup, or when the recovery
  fails, the newest ``pg_dump`` snapshot, and the report says the restore fell short.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from archive.errors import ArchiveError
from archive.extensions import Archive
from archive.interfaces import ObjectStore
from backup import pg_recovery, pg_wal, sqlite_journal
from backup.pg_programs import libpq_connection, run_pg_program
from backup.snapshots import Snapshot, list_snapshots, snapshot_key, sqlite_path

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Recovery:
    """What the database was rebuilt from, and the moment it reached."""

    source: str  # for people: "the SQLite snapshot of … and 812 journal entries"
    restored_to: datetime
    problem: str = ""  # why it stopped short of the newest state the replica should hold

    def as_json(self) -> dict:
        return asdict(self) | {"restored_to": self.restored_to.isoformat()}

    @classmethod
    def from_json(cls, data: dict) -> Recovery:
        return cls(data["source"], datetime.fromisoformat(data["restored_to"]),
                   data.get("problem", ""))


def load_database(ext: Archive, source: ObjectStore, progress: Progress) -> Recovery:
    """Load the newest state of the database the replica holds into the target."""
    if ext.db.is_sqlite:
        return _load_sqlite_to_latest(ext, source, newest_snapshot(ext, source), progress)
    backups = pg_wal.list_base_backups(source)
    if backups:
        try:
            return _load_postgres_to_latest(ext, source, backups[0], progress)
        except ArchiveError as err:
            problem = (f"the point-in-time recovery failed ({err.message}); restored the "
                       "newest snapshot instead")
            progress(f"WARNING: {problem}.")
    else:
        problem = ("the replica holds no base backup, so no WAL could be replayed; restored "
                   "the newest snapshot only")
    snapshot = newest_snapshot(ext, source)
    progress(f"Loading the PostgreSQL snapshot of {snapshot.taken_at:%Y-%m-%d %H:%M:%S} UTC "
             f"({snapshot.size:,} bytes)…")
    with _downloaded(source, snapshot, directory=None) as dump:
        _load_postgres(ext, dump)
    return Recovery(_described(snapshot), snapshot.taken_at, problem)


def newest_snapshot(ext: Archive, source: ObjectStore) -> Snapshot:
    """The newest snapshot of the target's database kind."""
    key = snapshot_key(ext.settings.database_url)
    available = list_snapshots(source)
    matching = [snapshot for snapshot in available if snapshot.key == key]
    if matching:
        return matching[0]
    if available:
        raise ArchiveError(
            f"The replica holds only {available[0].database} snapshots and the target database "
            "is of another kind; restore into the same kind of database (SQLite to SQLite, "
            "PostgreSQL to PostgreSQL)."
        )
    raise ArchiveError(
        "The replica holds no database snapshot: nothing to restore from. (Snapshots are "
        "taken by the daily snapshot job and by `chartvault backup run`.)"
    )


def _described(snapshot: Snapshot) -> str:
    return (f"the {snapshot.database} snapshot of {snapshot.taken_at:%Y-%m-%d %H:%M:%S} UTC "
            f"({snapshot.size:,} bytes)")


def _load_sqlite_to_latest(ext: Archive, source: ObjectStore, snapshot: Snapshot,
                           progress: Progress) -> Recovery:
    progress(f"Loading {_described(snapshot)} and the journal after it…")
    directory = sqlite_path(ext.settings.database_url).parent
    with _downloaded(source, snapshot, directory) as image:
        replayed = sqlite_journal.replay(source, snapshot.version_id, image)
        _load_sqlite(ext, image)
    if replayed.problem:
        progress(f"WARNING: {replayed.problem}.")
    return Recovery(f"{_described(snapshot)} and {replayed.entries} journal entries after it",
                    replayed.restored_to or snapshot.taken_at, replayed.problem)


def _load_postgres_to_latest(ext: Archive, source: ObjectStore, backup: pg_wal.BaseBackup,
                             progress: Progress) -> Recovery:
    with tempfile.TemporaryDirectory(prefix="chartvault-restore-") as work:
        dump = Path(work) / "database.pgdump"
        recovered = pg_recovery.recover(source, backup, dump, progress=progress)
        progress("Loading the recovered database into the target…")
        _load_postgres(ext, dump)
    described = (f"the PostgreSQL base backup of {backup.taken_at:%Y-%m-%d %H:%M:%S} UTC "
                 f"({backup.size:,} bytes) and {recovered.segments} WAL segments after it")
    if recovered.problem:
        progress(f"WARNING: {recovered.problem}.")
    return Recovery(described, recovered.restored_to or backup.taken_at, recovered.problem)


class _downloaded:
    """The snapshot in a temporary file in ``directory``, its SHA-256 checked as it was read
    (the last chunk is held back until it matches: a damaged snapshot is never loaded)."""

    def __init__(self, source: ObjectStore, snapshot: Snapshot, directory: Path | None):
        self.source, self.snapshot, self.directory = source, snapshot, directory

    def __enter__(self) -> Path:
        with tempfile.NamedTemporaryFile(dir=self.directory, prefix=".restore-",
                                         delete=False) as out:
            self.path = Path(out.name)
            try:
                for chunk in self.source.open(self.snapshot.key, self.snapshot.version_id,
                                              expected_sha256=self.snapshot.sha256):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            except BaseException:
                self.path.unlink(missing_ok=True)
                raise
        return self.path

    def __exit__(self, *exc_info) -> None:
        self.path.unlink(missing_ok=True)


def _load_sqlite(ext: Archive, image: Path) -> None:
    target = sqlite_path(ext.settings.database_url)
    ext.db.engine.dispose()  # no connection may keep the old file (or its WAL) open
    for leftover in (Path(f"{target}-wal"), Path(f"{target}-shm")):
        leftover.unlink(missing_ok=True)
    os.replace(image, target)


def _load_postgres(ext: Archive, dump: Path) -> None:
    ext.db.engine.dispose()
    conninfo, env = libpq_connection(ext.settings.database_url)
    # --clean: the target may hold the empty schema `chartvault init` made; all or nothing.
    run_pg_program("pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges",
                   "--single-transaction", "--exit-on-error", f"--dbname={conninfo}",
                   str(dump), env=env)

"""Point-in-time recovery for PostgreSQL: base backups and the WAL, shipped into the replica.

PostgreSQL's own continuous archiving, driven by the archive so that it needs nothing on the
database server beyond a role allowed to replicate:

- every minute (the database journal job), ``pg_receivewal`` streams, through the replication
  slot ``chartvault_wal``, the WAL written since its last run into a spool directory in the
  data directory, up to the position the server had flushed when the job started, and stops.
  Each completed segment is stored, compressed, as ``wal/postgresql/<system id>/<segment>``
  and leaves the spool; the segment still being written is stored as ``<segment>.partial``
  whenever it grew. The slot keeps the server from recycling WAL not yet received, even
  while every worker is down (watch the server's disk then: ``max_slot_wal_keep_size``);
- with each database snapshot, ``pg_basebackup`` (tar, compressed, with the WAL it needs)
  is stored as ``basebackups/postgresql/<system id>/<first segment>``, with a small label
  beside it naming the database; the base backups beyond ``CHARTVAULT_SNAPSHOTS_KEEP`` go,
  and with them the WAL only they needed;
- a restore unpacks the newest base backup into a temporary cluster, hands it the WAL after
  it through ``restore_command``, lets it replay to the end (or to a given moment) and
  reports the server's last replayed commit; the archive's database is dumped from that
  cluster and loaded into the target, which may be any empty database on any server.

What it needs: the role of ``CHARTVAULT_DATABASE_URL`` with the REPLICATION attribute (or a
superuser), ``pg_hba.conf`` allowing it a replication connection, ``wal_level = replica``
(the default); on the machine that restores, the PostgreSQL server programs of the same
major version (``postgres``, ``pg_ctl``).

The restore's half, the recovery in a temporary cluster, is backup.pg_recovery.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tempfile
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from archive.errors import ArchiveError, ObjectNotFound
from archive.interfaces import CHUNK_SIZE, ObjectStore
from archive.models import utcnow
from backup.pg_programs import libpq_connection, run_pg_program

SLOT = "chartvault_wal"
WAL_PREFIX = "wal/postgresql/"
BASE_PREFIX = "basebackups/postgresql/"
LABEL_SUFFIX = ".json"
SPOOL_DIRNAME = "wal-spool"
SEGMENT = re.compile(r"[0-9A-F]{24}")
HISTORY = re.compile(r"[0-9A-F]{8}\.history")
PARTIAL = ".partial"
SHIPPED_PARTIAL = ".shipped-partial"  # the spool's note of the partial segment last stored


def _run(program: str, *args: str, env: dict[str, str], timeout: float = 600) -> None:
    run_pg_program(program, *args, env=env, timeout=timeout)


# --- shipping the WAL ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Shipped:
    system: str  # the cluster's system identifier
    segments: int  # completed segments stored
    partial: str  # the segment in progress, stored again because it grew ("" if not)
    flushed: str  # the server's flush position the run streamed up to

    def summary(self) -> str:
        done = (f"{self.segments} completed WAL segments" if self.segments
                else "no completed WAL segment")
        grew = f", and the growing segment {self.partial}" if self.partial else ""
        return f"Shipped {done}{grew} to the replica, up to WAL position {self.flushed}."


def ship_wal(ext) -> Shipped:
    """The minute's work: stream the new WAL into the spool and store it in the replica."""
    system, flushed = server_position(ext)
    conninfo, env = libpq_connection(ext.settings.database_url)
    spool = ext.settings.data_dir / SPOOL_DIRNAME / system
    spool.mkdir(parents=True, exist_ok=True)
    try:
        _run("pg_receivewal", "--create-slot", "--if-not-exists", f"--slot={SLOT}",
             "--no-password", f"--dbname={conninfo}", env=env)
    except ArchiveError as err:
        raise ArchiveError(
            f"{err.message} Shipping the WAL needs a replication connection: give the role of "
            "CHARTVAULT_DATABASE_URL the REPLICATION attribute (ALTER ROLE … REPLICATION) and "
            "allow it in pg_hba.conf (host replication ROLE ADDRESS scram-sha-256).") from err
    _run("pg_receivewal", f"--directory={spool}", f"--slot={SLOT}", f"--endpos={flushed}",
         "--no-loop", "--synchronous", "--no-password", f"--dbname={conninfo}", env=env)
    segments = partial = 0
    prefix = f"{WAL_PREFIX}{system}/"
    for path in sorted(spool.iterdir()):
        if SEGMENT.fullmatch(path.name) or HISTORY.fullmatch(path.name):
            _store_compressed(ext.replica, prefix + path.name, path)
            _delete_key(ext.replica, prefix + path.name + PARTIAL)
            path.unlink()  # stored: pg_receivewal goes on from the slot or the next partial
            segments += 1
        elif path.name.endswith(PARTIAL) and (note := _partial_note(path)) != _shipped(spool):
            _store_compressed(ext.replica, prefix + path.name, path, keep_only_newest=True)
            (spool / SHIPPED_PARTIAL).write_text(note)
            partial = path.name.removesuffix(PARTIAL)
    return Shipped(system, segments, partial or "", flushed)


def server_position(ext) -> tuple[str, str]:
    """The cluster's system identifier and its WAL flush position."""
    with ext.db.engine.connect() as connection:
        try:
            system = connection.execute(
                text("SELECT system_identifier FROM pg_control_system()")).scalar()
            flushed = connection.execute(text("SELECT pg_current_wal_flush_lsn()")).scalar()
        except Exception as err:  # noqa: BLE001 - the privilege is the likely cause; say so
            raise ArchiveError(
                f"The database's WAL position cannot be read ({err}). Shipping the WAL needs "
                "a role allowed to read it and to replicate: GRANT pg_monitor and ALTER ROLE "
                "… REPLICATION for the role of CHARTVAULT_DATABASE_URL.") from err
    return str(system), str(flushed)


def _partial_note(partial: Path) -> str:
    """What the spool notes of a partial segment it stored: its name and SHA-256."""
    return f"{partial.name} {_sha256(partial)}"


def _shipped(spool: Path) -> str:
    note = spool / SHIPPED_PARTIAL
    return note.read_text() if note.exists() else ""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _store_compressed(store: ObjectStore, key: str, path: Path, *,
                      keep_only_newest: bool = False) -> None:
    """Store ``path`` deflated (a partial segment is mostly the zeros it was filled with)."""
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".ship-") as packed:
        compressor = zlib.compressobj(1)
        with path.open("rb") as source:
            while chunk := source.read(CHUNK_SIZE):
                packed.write(compressor.compress(chunk))
        packed.write(compressor.flush())
        packed.flush()
        length = packed.tell()
        packed.seek(0)
        stored = store.put(key, packed, media_type="application/zlib", length=length)
    if keep_only_newest:
        _delete_key(store, key, but=stored.version_id)


def _delete_key(store: ObjectStore, key: str, but: str | None = None) -> None:
    for info in store.list_versions(key):
        if info.version_id != but:
            try:
                store.delete_version(key, info.version_id)
            except ObjectNotFound:
                continue  # deleted concurrently


# --- base backups -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BaseBackup:
    system: str
    first_segment: str
    version_id: str
    size: int
    taken_at: datetime
    label: dict

    @property
    def key(self) -> str:
        return f"{BASE_PREFIX}{self.system}/{self.first_segment}"


def take_base_backup(ext, keep: int) -> BaseBackup:
    """A base backup of the database's cluster into the replica; the older ones beyond
    ``keep`` pruned, with the WAL only they needed."""
    url = make_url(ext.settings.database_url)
    conninfo, env = libpq_connection(ext.settings.database_url)
    system, _flushed = server_position(ext)
    with ext.db.engine.connect() as connection:
        # The segment being written now: the backup's checkpoint comes later, so no WAL it
        # needs is older than this.
        first = connection.execute(text("SELECT pg_walfile_name(pg_current_wal_lsn())")).scalar()
        version = connection.execute(text("SHOW server_version_num")).scalar()
    label = {"database": url.database, "user": url.username, "first_segment": first,
             "server_version_num": int(version), "taken_at": utcnow().isoformat()}
    key = f"{BASE_PREFIX}{system}/{first}"
    with tempfile.TemporaryDirectory(prefix="chartvault-basebackup-") as work:
        _run("pg_basebackup", f"--pgdata={work}/base", "--format=tar", "--gzip",
             "--wal-method=fetch", "--checkpoint=fast", "--no-password",
             f"--dbname={conninfo}", env=env, timeout=6 * 3600)
        archive = Path(work) / "base" / "base.tar.gz"
        with archive.open("rb") as stream:
            stored = ext.replica.put(key, stream, media_type="application/gzip",
                                     length=archive.stat().st_size)
    ext.replica.put(key + LABEL_SUFFIX, io.BytesIO(json.dumps(label).encode()),
                    media_type="application/json")
    prune_base_backups(ext.replica, keep)
    return BaseBackup(system, first, stored.version_id, stored.size, utcnow(), label)


def has_base_backup(store: ObjectStore, system: str) -> bool:
    """Whether the replica holds a base backup of the cluster ``system`` (a listing only)."""
    return bool(store.list_keys(f"{BASE_PREFIX}{system}/"))


def list_base_backups(store: ObjectStore) -> list[BaseBackup]:
    """The base backups in the replica, newest first."""
    found = []
    for key in store.list_keys(BASE_PREFIX):
        if key.endswith(LABEL_SUFFIX):
            continue
        system, first = key.removeprefix(BASE_PREFIX).split("/", 1)
        versions = store.list_versions(key)
        labels = store.list_versions(key + LABEL_SUFFIX)
        if not versions or not labels:
            continue  # cut short between the backup and its label: not usable
        label = json.loads(b"".join(store.open(key + LABEL_SUFFIX, labels[-1].version_id)))
        newest = versions[-1]
        found.append(BaseBackup(system, first, newest.version_id, newest.size,
                                newest.created_at, label))
    return sorted(found, key=lambda backup: backup.taken_at, reverse=True)


def prune_base_backups(store: ObjectStore, keep: int) -> int:
    """Keep the newest ``keep`` base backups and the WAL they need; how many objects went."""
    backups = list_base_backups(store)
    kept, dropped = backups[:keep], 0
    for backup in backups[keep:]:
        for key in (backup.key, backup.key + LABEL_SUFFIX):
            dropped += _count_deleted(store, key)
    oldest_needed = {}
    for backup in kept:
        oldest = oldest_needed.get(backup.system, backup.first_segment)
        oldest_needed[backup.system] = min(oldest, backup.first_segment, key=wal_position)
    for key in store.list_keys(WAL_PREFIX):
        system, name = key.removeprefix(WAL_PREFIX).split("/", 1)
        segment = name.removesuffix(PARTIAL)
        if HISTORY.fullmatch(name) and system in oldest_needed:
            continue  # timeline histories are tiny and every recovery may need them
        if system not in oldest_needed or (
                SEGMENT.fullmatch(segment)
                and wal_position(segment) < wal_position(oldest_needed[system])):
            dropped += _count_deleted(store, key)
    return dropped


def wal_position(segment: str) -> str:
    # TLI, log, seg: the position in the WAL is the last two, whatever the timeline.
    return segment[8:]


def _count_deleted(store: ObjectStore, key: str) -> int:
    versions = store.list_versions(key)
    _delete_key(store, key)
    return len(versions)

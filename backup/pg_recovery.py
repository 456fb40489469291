"""Point-in-time recovery for PostgreSQL, the restoring half of backup.pg_wal: the newest
base backup unpacked into a temporary cluster, the WAL after it handed over through
``restore_command`` and replayed to its end, and the archive's database dumped from that
cluster for the restore to load into its target.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from glob import glob
from pathlib import Path

from archive.errors import ArchiveError
from archive.interfaces import ObjectStore
from backup.pg_programs import run_pg_program
from backup.pg_wal import PARTIAL, SEGMENT, WAL_PREFIX, BaseBackup, wal_position

RECOVERY_USER = "nobody"  # PostgreSQL refuses to run as root: a restore run as root uses it

Progress = Callable[[str], None]


def _fetch_inflated(store: ObjectStore, key: str, target: Path) -> None:
    version = store.list_versions(key)[-1].version_id  # older ones: copies a crash left
    decompressor = zlib.decompressobj()
    with target.open("wb") as out:
        for chunk in store.open(key, version):
            out.write(decompressor.decompress(chunk))
        out.write(decompressor.flush())


@dataclass(frozen=True)
class Recovered:
    restored_to: datetime | None  # the last commit replayed; None: none after the backup
    segments: int  # WAL segments handed to the recovery
    problem: str = ""  # why the replay stopped before the newest WAL the replica holds


def recover(store: ObjectStore, backup: BaseBackup, dump: Path, *,
            progress: Progress = lambda _line: None) -> Recovered:
    """Replay the WAL after ``backup`` in a temporary cluster, to its end, and dump the
    archive's database from it into ``dump`` (pg_dump's custom format)."""
    with _recovery_directory() as work:
        data, wal = work / "data", work / "wal"
        progress(f"Unpacking the base backup of {backup.taken_at:%Y-%m-%d %H:%M:%S} UTC "
                 f"({backup.size:,} bytes)…")
        _unpack(store, backup, data)
        segments = _fetch_wal(store, backup, wal)
        progress(f"Replaying {len(segments)} WAL segments in a temporary PostgreSQL server…")
        bin_dir = _server_binaries((data / "PG_VERSION").read_text().strip())
        server = _RecoveryServer(bin_dir, work)
        server.start()
        try:
            restored_to = server.wait_for_recovery(backup.label["database"],
                                                   backup.label["user"], progress)
            problem = _gap(segments, server.replayed_segments())
            conninfo = server.conninfo(backup.label["database"], backup.label["user"])
            run_pg_program("pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                 f"--file={dump}", f"--dbname={conninfo}", env=_plain_env(),
                 timeout=6 * 3600)
        finally:
            server.stop()
    return Recovered(restored_to, len(segments), problem)


def _gap(handed: list[str], replayed: set[str]) -> str:
    """PostgreSQL ends a recovery quietly at the first segment it cannot get: when the
    newest segment handed over was never replayed, the WAL has a gap before it."""
    if not handed or handed[-1] in replayed:
        return ""
    reached = max(replayed, key=wal_position, default="the base backup")
    return (f"the WAL in the replica has a gap after segment {reached}: the segments after it, "
            f"up to {handed[-1]}, could not be replayed")


class _recovery_directory:
    """A temporary directory the recovery server's user can own and reach."""

    def __enter__(self) -> Path:
        parent = Path(tempfile.gettempdir())
        if os.geteuid() == 0 and not _reachable_by_others(parent):
            parent = Path("/tmp")  # noqa: S108 - world-traversable, which the user needs
        self.path = Path(tempfile.mkdtemp(prefix="chartvault-recovery-", dir=parent))
        return self.path

    def __exit__(self, *exc_info) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _reachable_by_others(path: Path) -> bool:
    return all(directory.stat().st_mode & stat.S_IXOTH for directory in [path, *path.parents])


def _unpack(store: ObjectStore, backup: BaseBackup, data: Path) -> None:
    archive = data.parent / "base.tar.gz"
    with archive.open("wb") as out:
        for chunk in store.open(backup.key, backup.version_id):
            out.write(chunk)
    data.mkdir(mode=0o700)
    with tarfile.open(archive) as tar:
        tar.extractall(data, filter="data")
    archive.unlink()
    for name in ("postgresql.conf", "pg_hba.conf", "pg_ident.conf"):
        # A Debian cluster keeps its configuration outside the data directory.
        (data / name).touch()
    (data / "recovery.signal").touch()


def _fetch_wal(store: ObjectStore, backup: BaseBackup, wal: Path) -> list[str]:
    """Every WAL segment of the backup's cluster from its first one on, the timeline
    histories, and the partial segment past the last complete one, under the names
    ``restore_command`` asks for; the segments' names, in WAL order."""
    wal.mkdir()
    prefix = f"{WAL_PREFIX}{backup.system}/"
    names = [key.removeprefix(prefix) for key in store.list_keys(prefix)]
    complete = {name for name in names if SEGMENT.fullmatch(name)}
    fetched = []
    for name in names:
        segment = name.removesuffix(PARTIAL)
        if name.endswith(PARTIAL) and segment in complete:
            continue  # its completed segment was stored after it
        if (SEGMENT.fullmatch(segment)
                and wal_position(segment) < wal_position(backup.first_segment)):
            continue
        _fetch_inflated(store, prefix + name, wal / segment)
        if SEGMENT.fullmatch(segment):
            fetched.append(segment)
    return sorted(fetched, key=wal_position)


def _server_binaries(major: str) -> Path:
    found = glob(f"/usr/lib/postgresql/{major}/bin/postgres")
    if found:
        return Path(found[0]).parent
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path).parent
    raise ArchiveError(
        f"The base backup is of PostgreSQL {major}: recovering it needs that version's server "
        f"programs on this machine (apt-get install postgresql-{major}).")


def _plain_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


class _RecoveryServer:
    """The temporary server that replays the WAL: reachable only through a socket in the
    work directory, with the configuration of the backed-up cluster overridden where it
    could stop it from starting here."""

    PORT = 5432

    def __init__(self, bin_dir: Path, work: Path):
        self.bin_dir, self.work = bin_dir, work
        self.data = work / "data"
        self.prefix = self._as_server_user()

    def _as_server_user(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        user = pwd.getpwnam(RECOVERY_USER)
        for root, directories, files in os.walk(self.work):
            for name in directories + files:
                os.chown(Path(root) / name, user.pw_uid, user.pw_gid)
        os.chown(self.work, user.pw_uid, user.pw_gid)
        return [shutil.which("runuser") or "/usr/sbin/runuser", "-u", RECOVERY_USER, "--"]

    def _options(self) -> str:
        hba = self.work / "hba.conf"
        hba.write_text("local all all trust\n")
        if self.prefix:
            shutil.chown(hba, RECOVERY_USER)
        settings = {
            "data_directory": self.data, "listen_addresses": "", "port": self.PORT,
            "unix_socket_directories": self.work, "hba_file": hba,
            "ident_file": self.data / "pg_ident.conf", "archive_mode": "off", "ssl": "off",
            "shared_preload_libraries": "", "hot_standby": "on",
            # The log is read for the segments replayed: to the file pg_ctl names.
            "logging_collector": "off", "log_destination": "stderr",
            "restore_command": f"cp {self.work / 'wal'}/%f %p",
            "recovery_target_timeline": "latest",
        }
        return " ".join(f"-c {name}='{value}'" for name, value in settings.items())

    def start(self) -> None:
        result = subprocess.run(
            [*self.prefix, str(self.bin_dir / "pg_ctl"), "start", "--wait", "--timeout=3600",
             f"--pgdata={self.data}", f"--log={self.work / 'server.log'}",
             f"--options={self._options()}"],
            capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise ArchiveError(f"The recovery server did not start: {self._log_tail()}")

    def conninfo(self, database: str, user: str) -> str:
        return f"host={self.work} port={self.PORT} dbname={database} user={user}"

    def wait_for_recovery(self, database: str, user: str, progress: Progress) -> datetime | None:
        """Wait until the server has replayed everything and left recovery; the time of the
        last commit it replayed."""
        import psycopg

        last_note = time.monotonic()
        while True:
            try:
                with psycopg.connect(self.conninfo(database, user)) as connection:
                    in_recovery, replayed = connection.execute(
                        "SELECT pg_is_in_recovery(), pg_last_xact_replay_timestamp()"
                    ).fetchone()
            except psycopg.OperationalError as err:
                if not self._running():
                    raise ArchiveError(f"The recovery server stopped while replaying the WAL: "
                                       f"{self._log_tail()}") from err
                in_recovery, replayed = True, None  # not yet accepting connections
            if not in_recovery:
                return replayed
            if time.monotonic() - last_note > 10:
                progress(f"  replayed up to {replayed or 'the base backup'}…")
                last_note = time.monotonic()
            time.sleep(0.2)

    def replayed_segments(self) -> set[str]:
        """The segments the server took from restore_command, as its log says."""
        return set(re.findall(r'restored log file "([0-9A-F]{24})" from archive',
                              self._log()))

    def _running(self) -> bool:
        return subprocess.run([*self.prefix, str(self.bin_dir / "pg_ctl"), "status",
                               f"--pgdata={self.data}"], capture_output=True, check=False,
                              stdin=subprocess.DEVNULL).returncode == 0

    def stop(self) -> None:
        subprocess.run([*self.prefix, str(self.bin_dir / "pg_ctl"), "stop", "--mode=immediate",
                        f"--pgdata={self.data}"], capture_output=True, check=False,
                       stdin=subprocess.DEVNULL)

    def _log(self) -> str:
        try:
            return (self.work / "server.log").read_text()
        except OSError:
            return ""

    def _log_tail(self) -> str:
        return self._log()[-2000:] or "(no server log)"

"""Versioned object store on a local filesystem (the embedded default).

Layout under ``root``::

    <segment>/<segment>/.../.versions/<version_id>        the bytes, mode 0444
    <segment>/<segment>/.../.versions/<version_id>.json   sidecar: sha256, size, media type,
                                                          created_at, legal hold, retention
    <segment>/<segment>/.../.versions/.lock               serializes hold/retention/delete

Key segments may not start with a dot, so ``.versions`` can never collide with a key.
A version exists exactly when its data file exists. ``put`` writes the sidecar first and
renames the data file into place last, so a crash leaves at worst an orphan sidecar (or a
``.tmp-`` file), never a visible version without its checksum.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from archive.errors import (
    BadRequest,
    ObjectLocked,
    ObjectNotFound,
    StorageError,
    StorageUnavailable,
)
from archive.interfaces import CHUNK_SIZE, ObjectInfo, StoredObject
from archive.storage.hashing import HashingReader, read_chunks, verified_chunks
from archive.storage.rules import refuse_if_locked, split_key, stat_listed

VERSIONS_DIR = ".versions"
_TEMP_PREFIX = ".tmp-"
_VERSION_ID = re.compile(r"\d{20}-[0-9a-f]{8}")


def new_version_id() -> str:
    """Sortable by creation time; the random suffix separates same-nanosecond writers."""
    return f"{time.time_ns():020d}-{secrets.token_hex(4)}"


def _fsync_dir(path: Path | str, durable: bool = True) -> None:
    if not durable:
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _makedirs_durable(path: Path, durable: bool = True) -> None:
    """``mkdir -p`` that also fsyncs each parent whose entries it changed, so a new key's
    directories survive a power cut together with the version written into them. On plain
    strings, not Paths: it runs for every put, and a new key makes three directories."""
    missing: list[str] = []
    current = os.fspath(path)
    while not os.path.exists(current):
        missing.append(current)
        current = os.path.dirname(current)
    for directory in reversed(missing):
        try:
            os.mkdir(directory)
        except FileExistsError:
            continue  # a concurrent put created it
        _fsync_dir(os.path.dirname(directory), durable)


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("retention dates must be timezone-aware (UTC)")
    return moment.astimezone(UTC)


def _syncfs(root: Path) -> None:
    """Flush every write of the file system ``root`` is on (Linux ``syncfs``, found in the
    process's own C library; ``sync`` where there is none): one call settles the durability
    of any number of files."""
    syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if syncfs is None or syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


class FilesystemStore:
    """``ObjectStore`` keeping every version as its own read-only file under ``root``.

    ``durable_puts``: each ``put`` fsyncs its file, its sidecar and their directories before
    it returns (the default). A ``batch_writer`` turns that off for its many puts and syncs
    the file system once at its end instead.
    """

    def __init__(self, root: Path, *, durable_puts: bool = True):
        self.root = Path(root)
        self.durable_puts = durable_puts

    @contextlib.contextmanager
    def batch_writer(self) -> Iterator[FilesystemStore]:
        """A view of this store whose puts skip their fsyncs; every version it wrote is
        durable once the block exits without error. For a bulk writer (a restore) that
        records the versions only after the block: a crash inside it loses unrecorded
        writes only, which a resumed run finds again or writes anew."""
        batch = FilesystemStore(self.root, durable_puts=False)
        yield batch
        try:
            _syncfs(self.root)
        except OSError as err:
            raise self._unavailable("flush its writes to disk", err) from err

    # --- paths ---------------------------------------------------------------------------

    def _versions_dir(self, key: str) -> Path:
        return self.root.joinpath(*split_key(key), VERSIONS_DIR)

    def _version_paths(self, key: str, version_id: str) -> tuple[Path, Path]:
        directory = self._versions_dir(key)
        if not isinstance(version_id, str) or not _VERSION_ID.fullmatch(version_id):
            raise ObjectNotFound(f"Version {version_id!r} of {key} does not exist.")
        return directory / version_id, directory / f"{version_id}.json"

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        """Serialize read-modify-write of one key's sidecars across threads and processes."""
        directory = self._versions_dir(key)
        try:
            fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError as err:
            raise ObjectNotFound(f"{key} does not exist in the archive.") from err
        except OSError as err:
            raise self._unavailable(f"lock {key}", err) from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _unavailable(self, action: str, err: OSError) -> StorageUnavailable:
        return StorageUnavailable(
            f"The archive's object directory {self.root} could not {action} "
            f"({err.strerror or err}). Check that the disk is mounted, writable and not full, "
            "then try again."
        )

    # --- sidecar -------------------------------------------------------------------------

    def _read_sidecar(self, key: str, version_id: str) -> dict:
        data_path, meta_path = self._version_paths(key, version_id)
        try:
            if not data_path.is_file():
                raise ObjectNotFound(f"Version {version_id} of {key} does not exist.")
            with meta_path.open("rb") as fh:
                return json.load(fh)
        except FileNotFoundError as err:
            raise ObjectNotFound(f"Version {version_id} of {key} does not exist.") from err
        except ValueError as err:
            raise StorageError(
                f"The metadata of version {version_id} of {key} is unreadable; restore "
                f"{meta_path} from backup."
            ) from err
        except OSError as err:
            raise self._unavailable(f"read metadata of {key}", err) from err

    def _write_sidecar(self, path: Path, meta: dict) -> None:
        """Atomic replace: a reader sees the old or the new sidecar, never half of one."""
        fd, tmp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(meta, fh, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(path.parent)

    def _write_new_sidecar(self, path: Path, meta: dict) -> None:
        """The sidecar of a version ``put`` is writing: no reader looks at it before the
        data file is renamed into place, so it is written where it belongs, not replaced.
        Its directory entry is made durable before that rename."""
        # One write of the encoded bytes through a bare descriptor: a text file object
        # costs a few more system calls, and this runs for every put.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            _write_all(fd, json.dumps(meta, sort_keys=True).encode())
            if self.durable_puts:
                os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(path.parent, self.durable_puts)

    def _info(self, key: str, version_id: str, meta: dict) -> ObjectInfo:
        retain_until = meta.get("retain_until")
        return ObjectInfo(
            key=key,
            version_id=version_id,
            size=meta["size"],
            sha256=meta["sha256"],
            media_type=meta["media_type"],
            created_at=datetime.fromisoformat(meta["created_at"]),
            legal_hold=bool(meta.get("legal_hold", False)),
            retain_until=datetime.fromisoformat(retain_until) if retain_until else None,
        )

    # --- ObjectStore ---------------------------------------------------------------------

    def put(
        self, key: str, stream: BinaryIO, *, media_type: str, length: int | None = None
    ) -> StoredObject:
        directory = self._versions_dir(key)
        version_id = new_version_id()
        data_path = directory / version_id
        meta_path = directory / f"{version_id}.json"
        tmp: str | None = None
        committed = False
        try:
            _makedirs_durable(directory, self.durable_puts)
            # The version id is unique already: no need for mkstemp's random name.
            temporary = os.fspath(directory / f"{_TEMP_PREFIX}{version_id}")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            tmp = temporary  # ours to remove from here on
            reader = HashingReader(stream)
            try:
                _copy_hashing(reader, fd, key)
                if self.durable_puts:
                    os.fsync(fd)
                os.fchmod(fd, 0o444)
            finally:
                os.close(fd)
            if length is not None and reader.size != length:
                raise BadRequest(
                    f"The upload of {key} ended after {reader.size} of {length} bytes; "
                    "nothing was stored. Upload the file again."
                    if reader.size < length
                    else f"The upload of {key} is longer than the {length} bytes announced; "
                    "nothing was stored. Upload the file again."
                )
            self._write_new_sidecar(
                meta_path,
                {
                    "sha256": reader.sha256,
                    "size": reader.size,
                    "media_type": media_type,
                    "created_at": datetime.now(UTC).isoformat(),
                    "legal_hold": False,
                    "retain_until": None,
                },
            )
            os.rename(tmp, data_path)
            _fsync_dir(directory, self.durable_puts)
            committed = True
        except OSError as err:
            raise self._unavailable(f"store {key}", err) from err
        finally:
            if not committed:
                # Whatever went wrong, no half-written (or non-durable) version stays.
                for leftover in (tmp, data_path, meta_path):
                    if leftover is not None:
                        with contextlib.suppress(OSError):
                            os.unlink(leftover)
        return StoredObject(key=key, version_id=version_id, sha256=reader.sha256, size=reader.size)

    def open(
        self, key: str, version_id: str, *, expected_sha256: str | None = None
    ) -> Iterator[bytes]:
        meta = self._read_sidecar(key, version_id)  # raises ObjectNotFound eagerly
        data_path, _ = self._version_paths(key, version_id)
        expected = expected_sha256 or meta["sha256"]
        what = f"Version {version_id} of {key}"
        return verified_chunks(self._file_chunks(data_path, what), expected, what)

    def _file_chunks(self, path: Path, what: str) -> Iterator[bytes]:
        # Opened lazily so an iterator that is never consumed holds no file descriptor.
        try:
            with path.open("rb", buffering=0) as fh:
                yield from read_chunks(fh, CHUNK_SIZE)
        except FileNotFoundError as err:
            raise ObjectNotFound(f"{what} was deleted while it was being read.") from err
        except OSError as err:
            raise self._unavailable(f"read {what}", err) from err

    def stat(self, key: str, version_id: str) -> ObjectInfo:
        return self._info(key, version_id, self._read_sidecar(key, version_id))

    def list_versions(self, key: str) -> list[ObjectInfo]:
        directory = self._versions_dir(key)
        try:
            names = sorted(
                entry.name
                for entry in os.scandir(directory)
                if _VERSION_ID.fullmatch(entry.name) and entry.is_file()
            )
        except FileNotFoundError:
            return []
        except OSError as err:
            raise self._unavailable(f"list versions of {key}", err) from err
        return stat_listed(self.stat, key, names)

    def list_keys(self, prefix: str = "") -> list[str]:
        parent, _, partial = prefix.rpartition("/")
        start = self.root.joinpath(*split_key(parent)) if parent else self.root
        found: list[str] = []
        try:
            self._collect_keys(start, parent, partial, found)
        except OSError as err:
            raise self._unavailable(f"list the keys under {prefix!r}", err) from err
        return sorted(found)

    def _collect_keys(self, directory: Path, key: str, partial: str, found: list[str]) -> None:
        """The keys in ``directory`` (the key ``key``) and below, whose next segment starts
        with ``partial``. A key can be both an object and the parent of others."""
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except FileNotFoundError:
            return
        for entry in entries:
            if entry.name.startswith(".") or not entry.name.startswith(partial) or \
                    not entry.is_dir(follow_symlinks=False):
                continue
            child = f"{key}/{entry.name}" if key else entry.name
            if _has_version(Path(entry.path) / VERSIONS_DIR):
                found.append(child)
            self._collect_keys(Path(entry.path), child, "", found)

    def is_empty(self) -> bool:
        try:
            for directory, _subdirectories, _files in os.walk(self.root):
                if os.path.basename(directory) == VERSIONS_DIR and _has_version(Path(directory)):
                    return False
        except OSError as err:
            raise self._unavailable("list its keys", err) from err
        return True

    def set_legal_hold(self, key: str, version_id: str, on: bool) -> None:
        with self._locked(key):
            meta = self._read_sidecar(key, version_id)
            meta["legal_hold"] = bool(on)
            self._rewrite_sidecar(key, version_id, meta)

    def set_retention(self, key: str, version_id: str, until: datetime) -> None:
        until = _as_utc(until)
        with self._locked(key):
            meta = self._read_sidecar(key, version_id)
            current = meta.get("retain_until")
            if current and datetime.fromisoformat(current) > until:
                raise ObjectLocked(
                    f"Version {version_id} of {key} is retained until {current}; retention "
                    f"can only be extended, not shortened to {until.isoformat()}."
                )
            meta["retain_until"] = until.isoformat()
            self._rewrite_sidecar(key, version_id, meta)

    def _rewrite_sidecar(self, key: str, version_id: str, meta: dict) -> None:
        _, meta_path = self._version_paths(key, version_id)
        try:
            self._write_sidecar(meta_path, meta)
        except OSError as err:
            raise self._unavailable(f"update metadata of {key}", err) from err

    def delete_version(self, key: str, version_id: str) -> None:
        with self._locked(key):
            info = self.stat(key, version_id)
            refuse_if_locked(info)
            data_path, meta_path = self._version_paths(key, version_id)
            try:
                # Data first: the version disappears atomically; the sidecar is then debris.
                data_path.unlink()
                meta_path.unlink(missing_ok=True)
                _fsync_dir(data_path.parent)
            except FileNotFoundError as err:
                raise ObjectNotFound(f"Version {version_id} of {key} does not exist.") from err
            except OSError as err:
                raise self._unavailable(f"delete {key}", err) from err

    def ping(self) -> None:
        try:
            _makedirs_durable(self.root)
            # Actually write: os.access() says yes to root on a read-only mount.
            fd, probe = tempfile.mkstemp(prefix=_TEMP_PREFIX + "ping-", dir=self.root)
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            raise self._unavailable("be written to", err) from err


def _has_version(versions_dir: Path) -> bool:
    try:
        with os.scandir(versions_dir) as entries:
            return any(_VERSION_ID.fullmatch(entry.name) and entry.is_file()
                       for entry in entries)
    except FileNotFoundError:
        return False


def _copy_hashing(reader: HashingReader, fd: int, key: str) -> None:
    # Sequential on purpose: a helper thread writing while this one hashes was measured
    # (bench/README.md) and gained nothing on the 2-vCPU machines this runs on.
    while chunk := _read_source(reader, key):
        _write_all(fd, chunk)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_source(reader: HashingReader, key: str) -> bytes:
    """One chunk of the caller's stream; its I/O errors are told apart from the disk's."""
    try:
        return reader.read(CHUNK_SIZE)
    except OSError as err:
        raise StorageUnavailable(
            f"Reading the upload of {key} failed part-way ({err}); nothing was stored. "
            "Upload the file again."
        ) from err

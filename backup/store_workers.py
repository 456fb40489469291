"""Work on the object stores alone, shared out to workers: the restore's copies
(backup.restore_copies) and the full verify's reads (backup.scrub). A worker process starts
by importing the module of what it runs, so these modules import the stores and nothing
else (no database, no app): a light import is a quick start."""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass

from archive.errors import IntegrityError, ObjectNotFound, StorageError, StorageUnavailable
from archive.interfaces import ObjectStore
from archive.storage.filesystem import FilesystemStore

MISSING, CORRUPT = "missing", "corrupt"

# The processes used when every store is a directory. Then the work per object is system
# calls and hashing with Python's own cost between them, which threads share one interpreter
# lock for (two threads copied 10,000 objects no faster than one, bench/recovery.py), while
# processes use every core.
PROCESSES = 2
# The modules whose functions worker processes run.
WORKER_MODULES = ["backup.store_workers", "backup.restore_copies"]


def worker_pool(stores: list[ObjectStore], threads: int) -> Executor:
    """Worker processes when every store is a directory and the machine has more than one
    core; otherwise ``threads`` threads: an S3 store's work is mostly waiting on its
    endpoint, which threads overlap as well as processes, and its client does not pickle."""
    processes = min(PROCESSES, os.cpu_count() or 1)
    if processes < 2 or not all(isinstance(store, FilesystemStore) for store in stores):
        return ThreadPoolExecutor(threads)
    # forkserver, not fork: the calling process may have threads (the scheduler's, the web
    # server's), and a fork copies whatever locks they hold into a child that can then
    # deadlock. The fork server imports WORKER_MODULES once; each worker is forked from it.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_MODULES)
    return ProcessPoolExecutor(processes, mp_context=context)


@dataclass(frozen=True)
class Problem:
    """What is wrong with one copy of an object."""

    kind: str  # missing, corrupt
    detail: str


def read_copies(store: ObjectStore, replica: ObjectStore, key: str, version_id: str,
                sha256: str, replica_version_id: str | None
                ) -> tuple[Problem | None, Problem | None]:
    """What is wrong with the primary copy and with the replica copy (None: intact, or no
    replica copy: ``replica_version_id`` None)."""
    primary = read_copy(store, key, version_id, sha256)
    replica_problem = None
    if replica_version_id is not None:
        replica_problem = read_copy(replica, key, replica_version_id, sha256)
    return primary, replica_problem


def read_copy(store: ObjectStore, key: str, version_id: str, sha256: str) -> Problem | None:
    """Read one copy in full against ``sha256``: None when intact, else what is wrong."""
    try:
        for _chunk in store.open(key, version_id, expected_sha256=sha256):
            pass
    except StorageUnavailable:
        raise
    except ObjectNotFound as err:
        return Problem(MISSING, err.message)
    except (IntegrityError, StorageError) as err:  # wrong bytes, or unreadable metadata
        return Problem(CORRUPT, err.message)
    return None

"""Where the index lives, and how a rebuild replaces it while search keeps answering.

``<data_dir>/index/`` holds one directory per build (a *generation*) and a file ``CURRENT``
naming the generation in use. A rebuild fills a new generation beside the one that is
answering and then replaces ``CURRENT`` atomically; each process notices on its next search
and opens the new one. Each generation carries a marker with its backend and schema
version: after an upgrade that changes either, the indexer sees the mismatch and rebuilds.

One process at a time writes (the outbox consumer or a rebuild): ``writer_lock`` is an
advisory file lock, so the index must live on the host where the indexer runs.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from search.backends import index_class, open_index
from search.interfaces import IndexBusy, IndexUnavailable, SearchIndex

CURRENT = "CURRENT"
MARKER = "chartvault-index.json"
LOCK = "writer.lock"


class IndexHome:
    def __init__(self, root: Path, backend: str):
        self.root = root
        self.backend = backend
        self.schema_version = index_class(backend).SCHEMA_VERSION

    # --- which generation is in use ---------------------------------------------------------

    def current_path(self) -> Path | None:
        try:
            name = (self.root / CURRENT).read_text().strip()
        except FileNotFoundError:
            return None
        return self.root / name if name else None

    def rebuild_reason(self) -> str | None:
        """Why the index in use cannot serve this installation as configured, if it cannot."""
        path = self.current_path()
        if path is None:
            return "there is no index yet"
        try:
            marker = json.loads((path / MARKER).read_text())
        except (OSError, ValueError):
            return f"the index in {path} has no readable {MARKER}"
        if marker.get("backend") != self.backend:
            return f"the index was built by {marker.get('backend')}, {self.backend} is configured"
        if marker.get("schema_version") != self.schema_version:
            return (
                f"the index has schema version {marker.get('schema_version')}, this version of "
                f"ChartVault needs {self.schema_version}"
            )
        return None

    # --- building and swapping ----------------------------------------------------------------

    def new_generation(self) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = self.root / f"{self.backend}-v{self.schema_version}-{stamp}-{secrets.token_hex(3)}"
        path.mkdir(parents=True)
        return path

    def activate(self, path: Path) -> None:
        """Make ``path`` (a completely built generation) the one in use, atomically and
        durably, and delete generations older than the one it replaces."""
        marker = {
            "backend": self.backend,
            "schema_version": self.schema_version,
            "built_at": datetime.now(UTC).isoformat(),
        }
        _write_durably(path / MARKER, json.dumps(marker))
        previous = self.current_path()
        _write_durably(self.root / CURRENT, path.name)
        # The generation just replaced stays a while: another process may be in the middle of
        # a search on it. Anything older has had a whole rebuild's time to let go.
        keep = {path.name, previous.name if previous else None, LOCK, CURRENT}
        for entry in self.root.iterdir():
            if entry.name not in keep and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)

    @contextmanager
    def writer_lock(self, *, wait: float = 0.0) -> Iterator[None]:
        """Held by whoever writes (outbox consumer, rebuild); ``IndexBusy`` if another
        process holds it for longer than ``wait`` seconds."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / LOCK).open("a") as handle:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise IndexBusy(
                            "The search index is being written by another process (a rebuild "
                            "or the indexer); try again when it has finished."
                        ) from None
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _write_durably(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class OpenIndex:
    """This process's handle on the generation in use, reopened when a rebuild swapped in a
    new one. Handles are shared by threads; an old one is dropped, not closed, because a
    search in another thread may still be running on it."""

    def __init__(self, home: IndexHome):
        self.home = home
        self._lock = threading.Lock()
        self._path: Path | None = None
        self._index: SearchIndex | None = None

    def get(self) -> SearchIndex:
        path = self.home.current_path()
        if path is None:
            raise IndexUnavailable(
                "The search index has not been built yet. It is built by the worker; an "
                "administrator can build it now with `chartvault reindex`."
            )
        with self._lock:
            if path != self._path or self._index is None:
                self._index = open_index(self.home.backend, path)
                self._path = path
            return self._index


def built_at(path: Path | None) -> str | None:
    """When the generation at ``path`` was swapped in (ISO 8601), if it was."""
    try:
        return json.loads((path / MARKER).read_text()).get("built_at") if path else None
    except (OSError, ValueError):
        return None

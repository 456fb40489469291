"""The index's background work: consuming the outbox, rebuilding from the database (after
an upgrade, or on `chartvault reindex`), and reconciling the index with the database."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from archive.extensions import Archive
from search import reconcile
from search.backends import open_index
from search.home import OpenIndex
from search.indexer import (
    DrainResult,
    delete_outbox_rows,
    document_batches,
    drain_outbox,
    pending_outbox_ids,
)
from search.interfaces import IndexBusy, IndexedVersion

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0


def index_pending(ext: Archive, index: OpenIndex) -> DrainResult:
    """Bring the index up to date with the outbox (rebuilding first if the index in use was
    built by another backend or schema version). ``IndexBusy`` while a rebuild runs."""
    home = index.home
    with home.writer_lock():
        reason = home.rebuild_reason()
        if reason:
            # A new installation builds its first (empty) index here: nothing to warn about.
            first = home.current_path() is None
            log.log(logging.INFO if first else logging.WARNING, "building the search index: %s",
                    reason)
            _rebuild_locked(ext, home)
        return drain_outbox(ext.db, index.get())


def run_indexer(ext: Archive, index: OpenIndex, stop: threading.Event) -> None:
    """The loop `chartvault serve` and `chartvault worker` run beside the OCR worker."""
    while not stop.is_set():
        try:
            index_pending(ext, index)
            reconcile.schedule_if_due(ext)
            reconcile.run_requested(ext, index)
        except IndexBusy:
            pass  # a rebuild holds the index; its outbox rows wait for us
        except Exception:  # noqa: BLE001 - e.g. the database is restarting; rows stay queued
            log.exception("could not index the outbox; retrying")
        stop.wait(POLL_SECONDS)


@dataclass(frozen=True)
class RebuildResult:
    documents: int
    pages: int
    seconds: float


def rebuild(
    ext: Archive, index: OpenIndex, *, progress: Callable[[int, int], None] | None = None
) -> RebuildResult:
    """Build a new index from the database beside the one in use, then swap it in. Search
    answers from the old one until the swap; the outbox waits (the writer lock) meanwhile."""
    with index.home.writer_lock(wait=120):
        return _rebuild_locked(ext, index.home, progress=progress)


def _rebuild_locked(ext, home, *, progress=None) -> RebuildResult:
    started = time.monotonic()
    # Outbox rows visible now describe changes the rebuild reads from the database anyway;
    # rows committed later stay for the consumer (never delete what was not seen here).
    covered = pending_outbox_ids(ext.db)
    path = home.new_generation()
    fresh = open_index(home.backend, path)
    tally = {"documents": 0, "pages": 0}

    def counted(batches: Iterator[dict[int, list[IndexedVersion]]]):
        for batch in batches:
            tally["documents"] += len(batch)
            tally["pages"] += sum(len(v.pages) for versions in batch.values() for v in versions)
            if progress:
                progress(tally["documents"], tally["pages"])
            yield batch

    try:
        # One writer for the whole archive: a commit per batch would merge segments over
        # and over as the index grows.
        fresh.load(counted(document_batches(ext.db)))
    finally:
        fresh.close()
    home.activate(path)
    delete_outbox_rows(ext.db, covered)
    return RebuildResult(tally["documents"], tally["pages"], time.monotonic() - started)

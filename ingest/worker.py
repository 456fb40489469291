"""The worker: takes jobs from the queue one at a time and runs them, keeping its lease
alive while it works. ``chartvault worker`` runs one; ``chartvault serve`` runs one too.

The lease is short and renewed from a heartbeat thread, in transactions of its own, every
third of its length: a worker that dies (or freezes) stops renewing, and its job is taken
again once the lease runs out, while a job that takes an hour keeps its worker. The
heartbeat only ever extends a lease the worker still holds; a worker that lost its lease
stops at its next page and writes nothing (ingest.queue)."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from archive import audit
from archive.audit import Actor
from archive.errors import ArchiveError
from archive.extensions import Archive
from archive.models import Document
from ingest import queue

log = logging.getLogger(__name__)

Handler = Callable[[Archive, queue.Lease, Actor], None]

MIN_LEASE_SECONDS = 1.5


def _ocr(ext: Archive, lease: queue.Lease, actor: Actor) -> None:
    from ingest.processing import run_ocr_job  # OCR machinery loads only where jobs run

    run_ocr_job(ext, lease, actor)


HANDLERS: dict[str, Handler] = {"ocr": _ocr}


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


def start_worker_process() -> None:
    """Once per worker process, before its first job: kill what a killed worker left behind
    (OCR processes, tesseract), then mark what this one will start, for the next one."""
    from ingest.ocr import lifeline

    lifeline.reap_leftovers()
    lifeline.mark_descendants()


class Worker:
    def __init__(
        self,
        ext: Archive,
        *,
        worker_id: str | None = None,
        lease_seconds: float | None = None,
        poll_seconds: float = 1.0,
    ):
        self.ext = ext
        self.worker_id = worker_id or default_worker_id()
        self.lease_seconds = lease_seconds or ext.settings.job_lease_seconds
        if self.lease_seconds < MIN_LEASE_SECONDS:
            # Shorter, and one slow renewal (a busy database) loses the job to another worker.
            raise ValueError(
                f"the job lease must be at least {MIN_LEASE_SECONDS} seconds, "
                f"not {self.lease_seconds}"
            )
        self.poll_seconds = poll_seconds
        self.actor = Actor(f"worker:{self.worker_id}", "worker")

    def run_once(self) -> bool:
        """Run the next job, if any; True when one was taken. A scanned stack waiting to be
        split goes first: splitting is quick and queues the OCR of all its parts."""
        if self._split_next_batch():
            return True
        lease = queue.lease_next(self.ext.db, self.worker_id, self.lease_seconds)
        if lease is None:
            return False
        try:
            with self.keeping_lease(lease):
                HANDLERS[lease.kind](self.ext, lease, self.actor)
        except queue.LeaseLost:
            log.warning(
                "job %s was taken over by another worker; dropped our results", lease.job_id
            )
        except Exception as err:  # noqa: BLE001 - every failure is recorded on the job
            self._failed(lease, err)
        return True

    def _split_next_batch(self) -> bool:
        from ingest.batches.job import split_next

        return split_next(self.ext, self.worker_id, self.lease_seconds, self.actor)

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set; a failing database is waited out, not fatal."""
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # noqa: BLE001 - e.g. the database is restarting
                log.exception("worker %s could not take a job; retrying", self.worker_id)
                busy = False
            if not busy:
                stop.wait(self.poll_seconds)

    @contextmanager
    def keeping_lease(self, lease: queue.Lease) -> Iterator[None]:
        """Renew the lease every third of its length until the block ends, however it ends.
        Two renewals in a row may fail (the database restarting) before the lease is lost."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(self.lease_seconds / 3):
                try:
                    queue.renew(self.ext.db, lease, self.lease_seconds)
                except queue.LeaseLost:
                    log.warning("job %s: lease lost to another worker", lease.job_id)
                    return
                except Exception:  # noqa: BLE001 - the next beat tries again
                    log.exception("could not renew the lease of job %s", lease.job_id)

        thread = threading.Thread(target=beat, name=f"lease-{lease.job_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def _failed(self, lease: queue.Lease, err: Exception) -> None:
        if isinstance(err, ArchiveError):
            message = err.message
        else:
            log.exception("job %s failed", lease.job_id)
            message = (
                f"Unexpected error while processing ({type(err).__name__}); the "
                "worker log has the details."
            )
        try:
            final = queue.record_failure(self.ext.db, lease, message)
        except queue.LeaseLost:
            log.warning("job %s failed after another worker took it over", lease.job_id)
            return
        with self.ext.db.transaction() as session:
            document = session.get(Document, lease.document_id)
            if final:
                document.status = "failed"
            audit.record_about(
                session, self.actor, "document.ocr", document,
                outcome="failed" if final else "retrying",
                details={"attempt": lease.attempt, "error": message},
            )

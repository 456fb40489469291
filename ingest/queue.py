"""The job queue: jobs live in the database and are leased to one worker at a time.

A lease expires: a worker that dies (even by SIGKILL) leaves its job to be taken again once
the lease has run out. Leases are short (CHARTVAULT_JOB_LEASE_SECONDS) and a running job's
worker renews its lease from a heartbeat (ingest.worker), so a dead worker's job waits
seconds, not minutes, while a long job is never taken from a live worker. Every write of a
running job names the lease holder, so a worker that lost its lease writes nothing.

On PostgreSQL, ``FOR UPDATE SKIP LOCKED`` lets many workers on many
machines pick jobs without waiting on each other; on both databases the claim itself is a
conditional UPDATE, so two workers can never hold the same job at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from archive.db import Database
from archive.errors import Conflict, NotFound
from archive.models import DocumentVersion, utcnow
from ingest.models import Job

DEFAULT_LEASE_SECONDS = 24  # archive.config: job_lease_seconds


@dataclass(frozen=True)
class Lease:
    job_id: int
    kind: str
    document_id: int
    version_id: int
    attempt: int
    worker_id: str


class LeaseLost(Exception):
    """Another worker took the job over (our lease ran out); our results must be dropped."""


def enqueue(session: Session, kind: str, version: DocumentVersion) -> Job:
    job = Job(
        kind=kind,
        document_id=version.document_id,
        version_id=version.id,
        status="queued",
        attempts=0,
        max_attempts=3,
        last_error="",
        progress_done=0,
    )
    session.add(job)
    session.flush()
    return job


def _claimable(now):
    return or_(Job.status == "queued", and_(Job.status == "running", Job.lease_expires_at < now))


def lease_next(
    db: Database, worker_id: str, lease_seconds: int = DEFAULT_LEASE_SECONDS
) -> Lease | None:
    """Claim the oldest claimable job, or return None when there is none."""
    while True:
        with db.transaction() as session:
            now = utcnow()
            job = session.scalar(
                select(Job)
                .where(_claimable(now))
                .order_by(Job.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if job is None:
                return None
            if job.attempts >= job.max_attempts:
                _give_up(session, job, now)
                continue
            claimed = session.execute(
                update(Job)
                .where(Job.id == job.id, _claimable(now))
                .values(
                    status="running",
                    lease_owner=worker_id,
                    lease_expires_at=now + timedelta(seconds=lease_seconds),
                    attempts=Job.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            if claimed == 1:
                return Lease(
                    job.id, job.kind, job.document_id, job.version_id, job.attempts + 1, worker_id
                )
        # Another worker claimed it between our read and our update: look again.


def _give_up(session: Session, job: Job, now) -> None:
    job.status = "failed"
    job.finished_at = now
    job.lease_owner = None
    job.last_error = (job.last_error or "").strip() or (
        f"The worker stopped {job.attempts} times while processing this document (a crash "
        "or a restart). Retry it; if it fails again, rescan the document."
    )


def renew(db: Database, lease: Lease, lease_seconds: int = DEFAULT_LEASE_SECONDS) -> None:
    """Extend our lease; raise LeaseLost if the job is no longer ours."""
    with db.transaction() as session:
        renewed = session.execute(
            update(Job)
            .where(
                Job.id == lease.job_id, Job.lease_owner == lease.worker_id, Job.status == "running"
            )
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        ).rowcount
    if renewed != 1:
        raise LeaseLost(f"job {lease.job_id} is no longer leased to {lease.worker_id}")


def hold_lease(session: Session, lease: Lease) -> Job:
    """Lock our job row inside the caller's final transaction; raise LeaseLost if it has
    been taken over, so results of a worker that overran its lease are never written."""
    job = session.scalar(select(Job).where(Job.id == lease.job_id).with_for_update())
    if job is None or job.lease_owner != lease.worker_id or job.status != "running":
        raise LeaseLost(f"job {lease.job_id} is no longer leased to {lease.worker_id}")
    return job


def finish(job: Job) -> None:
    job.status = "done"
    job.finished_at = utcnow()
    job.lease_owner = None
    job.lease_expires_at = None
    job.last_error = ""


def record_failure(db: Database, lease: Lease, error: str) -> bool:
    """Note a failed attempt; the job goes back to the queue while attempts remain.
    Returns True when the job is now finally failed; raises LeaseLost if it is not ours."""
    with db.transaction() as session:
        job = hold_lease(session, lease)
        job.last_error = error
        job.lease_owner = None
        job.lease_expires_at = None
        if job.attempts >= job.max_attempts:
            job.status = "failed"
            job.finished_at = utcnow()
            return True
        job.status = "queued"
        return False


def set_progress(db: Database, lease: Lease, done: int, total: int) -> None:
    """Record progress; raise LeaseLost if the job was taken over, so that a worker that
    lost its lease stops working on it at the next page instead of at the end."""
    with db.transaction() as session:
        updated = session.execute(
            update(Job)
            .where(
                Job.id == lease.job_id, Job.lease_owner == lease.worker_id, Job.status == "running"
            )
            .values(progress_done=done, progress_total=total)
        ).rowcount
    if updated != 1:
        raise LeaseLost(f"job {lease.job_id} is no longer leased to {lease.worker_id}")


def requeue(session: Session, job_id: int) -> Job:
    """A person asked to try a failed job again: it gets a fresh set of attempts."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"No job with id {job_id}.")
    if job.status != "failed":
        raise Conflict(f"Job {job_id} is {job.status}, not failed; there is nothing to retry.")
    job.status = "queued"
    job.attempts = 0
    job.finished_at = None
    job.progress_done = 0
    job.progress_total = None
    return job

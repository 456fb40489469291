"""The job queue: leases, expiry, attempts, and several workers sharing one queue."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from archive.models import utcnow
from ingest import queue
from ingest.models import Job
from ingest.worker import HANDLERS, Worker
from tests.ingest.queue_handlers import drain, recording_handler


def add_jobs(ext, version, n, kind="record"):
    with ext.db.transaction() as session:
        for _ in range(n):
            session.add(Job(kind=kind, document_id=version.document_id, version_id=version.id,
                            status="queued", attempts=0, max_attempts=3, last_error="",
                            progress_done=0))


def clear_jobs(ext):
    with ext.db.transaction() as session:
        session.execute(update(Job).values(status="done"))


def job(ext, job_id) -> Job:
    with ext.db.transaction() as session:
        return session.get(Job, job_id)


def test_filing_a_scan_queues_its_ocr_job_in_the_same_transaction(ext, filed):
    version = filed()
    with ext.db.transaction() as session:
        jobs = session.scalars(select(Job)).all()
    assert [(j.kind, j.version_id, j.status) for j in jobs] == [("ocr", version.id, "queued")]


def test_a_leased_job_is_not_leased_again_until_its_lease_expires(ext, filed):
    version = filed()
    clear_jobs(ext)
    add_jobs(ext, version, 1)
    first = queue.lease_next(ext.db, "w1", lease_seconds=60)
    assert first is not None and first.attempt == 1
    assert queue.lease_next(ext.db, "w2") is None
    with ext.db.transaction() as session:  # time passes: the lease runs out
        session.execute(update(Job).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    second = queue.lease_next(ext.db, "w2")
    assert second.job_id == first.job_id and second.attempt == 2
    with pytest.raises(queue.LeaseLost):
        queue.renew(ext.db, first)


def test_a_job_that_keeps_failing_is_marked_failed_with_its_reason(ext, filed, monkeypatch):
    version = filed()
    clear_jobs(ext)
    add_jobs(ext, version, 1, kind="broken")

    def broken(ext_, lease, actor):
        raise RuntimeError("scanner firmware produced nonsense")

    monkeypatch.setitem(HANDLERS, "broken", broken)
    worker = Worker(ext, worker_id="w1")
    for _ in range(3):
        assert worker.run_once()
    assert not worker.run_once()
    with ext.db.transaction() as session:
        failed = session.scalar(select(Job).where(Job.kind == "broken"))
    assert (failed.status, failed.attempts) == ("failed", 3)
    assert "RuntimeError" in failed.last_error and "worker log" in failed.last_error


def test_a_job_whose_worker_died_three_times_is_given_up(ext, filed):
    version = filed()
    clear_jobs(ext)
    add_jobs(ext, version, 1)
    for attempt in range(3):
        assert queue.lease_next(ext.db, f"w{attempt}") is not None
        with ext.db.transaction() as session:
            session.execute(update(Job).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    assert queue.lease_next(ext.db, "w9") is None
    with ext.db.transaction() as session:
        given_up = session.scalar(select(Job).where(Job.kind == "record"))
    assert given_up.status == "failed" and "stopped 3 times" in given_up.last_error


def test_a_failed_job_can_be_retried_with_fresh_attempts(ext, filed):
    version = filed()
    clear_jobs(ext)
    add_jobs(ext, version, 1)
    with ext.db.transaction() as session:
        session.execute(update(Job).where(Job.kind == "record")
                        .values(status="failed", attempts=3))
        job_id = session.scalar(select(Job.id).where(Job.kind == "record"))
        queue.requeue(session, job_id)
    assert queue.lease_next(ext.db, "w1").job_id == job_id


def test_results_of_a_worker_that_lost_its_lease_are_dropped(ext, filed, tmp_path,
                                                             monkeypatch):
    version = filed()
    clear_jobs(ext)
    add_jobs(ext, version, 1)
    log = tmp_path / "ran.log"
    lease = queue.lease_next(ext.db, "slow-worker")
    with ext.db.transaction() as session:  # the lease ran out and another worker took it
        session.execute(update(Job).values(lease_owner="other-worker"))
    monkeypatch.setitem(HANDLERS, "record", recording_handler(str(log)))
    with pytest.raises(queue.LeaseLost):
        HANDLERS["record"](ext, lease, None)
    assert not log.exists()


def test_two_worker_processes_drain_twenty_jobs_each_exactly_once(ext, filed, tmp_path,
                                                                  database_template):
    version = filed()
    clear_jobs(ext)
    add_jobs(ext, version, 20)
    log = tmp_path / "ran.log"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=drain, args=(ext.settings.database_url,
                                                   str(tmp_path / "data"), str(log), name))
               for name in ("alpha", "beta")]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
        assert process.exitcode == 0
    runs = [line.split() for line in log.read_text().splitlines()]
    per_job = Counter(job_id for job_id, _worker in runs)
    assert len(per_job) == 20 and set(per_job.values()) == {1}
    with ext.db.transaction() as session:
        statuses = session.scalars(select(Job.status).where(Job.kind == "record")).all()
    assert statuses == ["done"] * 20
    if database_template.backend == "postgresql":
        # SKIP LOCKED lets both take work at once; on SQLite one may win every race.
        assert len({worker.split("-")[0] for _job, worker in runs}) == 2

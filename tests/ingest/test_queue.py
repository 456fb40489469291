"""The job queue: leases, expiry, attempts, and several workers sharing one queue."""

from __future__ import annotations

import multiprocessing
import threading
import time
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


def test_the_heartbeat_keeps_a_long_jobs_lease_and_it_runs_out_once_the_beat_stops(ext, filed):
    version = filed()
    clear_jobs(ext)
    add_jobs(ext, version, 1)
    worker = Worker(ext, worker_id="slow", lease_seconds=1.5)
    lease = queue.lease_next(ext.db, "slow", worker.lease_seconds)
    with worker.keeping_lease(lease):
        beating_until = time.monotonic() + 2 * worker.lease_seconds
        while time.monotonic() < beating_until:  # twice the lease: renewed, not just fresh
            assert queue.lease_next(ext.db, "other", lease_seconds=60) is None
            time.sleep(0.1)
    # The beat stopped with the block, as it does when the worker freezes or is killed.
    stopped = time.monotonic()
    while (taken := queue.lease_next(ext.db, "other", lease_seconds=60)) is None:
        assert time.monotonic() < stopped + worker.lease_seconds + 2
        time.sleep(0.1)
    assert taken.job_id == lease.job_id and taken.attempt == 2
    # The worker that lost the lease can neither keep it, nor report, nor write results.
    with pytest.raises(queue.LeaseLost):
        queue.renew(ext.db, lease)
    with pytest.raises(queue.LeaseLost):
        queue.set_progress(ext.db, lease, 1, 2)
    with pytest.raises(queue.LeaseLost), ext.db.transaction() as session:
        queue.hold_lease(session, lease)
    assert job(ext, lease.job_id).lease_owner == "other"


@pytest.mark.parametrize("outcome", ["finishes", "raises"])
def test_the_heartbeat_stops_when_the_job_ends_however_it_ends(ext, filed, monkeypatch,
                                                                outcome):
    version = filed()
    clear_jobs(ext)
    add_jobs(ext, version, 1)

    def injected_job(ext_, lease, actor):
        time.sleep(0.5)  # long enough for a beat or two
        if outcome == "raises":
            raise RuntimeError("injected fault")
        with ext_.db.transaction() as session:
            queue.finish(queue.hold_lease(session, lease))

    monkeypatch.setitem(HANDLERS, "record", injected_job)
    assert Worker(ext, worker_id="w1", lease_seconds=1.5).run_once()
    assert not [t for t in threading.enumerate() if t.name.startswith("lease-")]
    with ext.db.transaction() as session:
        ran = session.scalar(select(Job).where(Job.kind == "record"))
    assert ran.status == ("done" if outcome == "finishes" else "queued")
    assert ran.lease_owner is None


def test_a_lease_shorter_than_the_heartbeat_can_keep_is_refused(ext):
    with pytest.raises(ValueError, match="at least"):
        Worker(ext, lease_seconds=0.5)


def test_the_lease_comes_from_the_settings(ext, monkeypatch):
    monkeypatch.setattr(ext.settings, "job_lease_seconds", 7)
    assert Worker(ext).lease_seconds == 7

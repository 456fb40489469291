"""The retention schedule (retention.schedule): jobs are plain functions, tested directly and
through the scheduler; runs, failures, retries and "Run now" are rows the schedule page shows."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import select

from archive import audit
from archive.audit_anchor import list_anchors
from archive.errors import StorageUnavailable
from archive.models import Document, utcnow
from archive.records.patients import find_patient
from backup.jobs import BACKUP_JOBS
from retention import schedule
from retention.clocks import Rules
from retention.disposition import sweep
from retention.models import JobRun
from retention.policies import save_policy
from retention.schedule import (
    MAX_ATTEMPTS,
    OK,
    RETENTION_JOBS,
    RETRY_DELAY,
    STALE_AFTER,
    ScheduledJob,
    describe_trigger,
    fire,
    job_named,
    run_job,
    run_requested,
    run_schedule,
)
from tests.retention.disposing import FLOORS, approve
from tests.retention.holding import events, file_document, place
from tests.retention.test_holds_web import logged_in

TIMEOUT = 5.0  # seconds any wait on another thread may take before the test fails

# Every job the schedule runs: retention's own and backup's (an app lists them in
# Archive.scheduled_jobs; tests that need no app take them from here).
JOBS = (*BACKUP_JOBS, *RETENTION_JOBS)


@pytest.fixture
def app(app):
    # Until retention.init_app registers the blueprint itself.
    if "schedule" not in app.blueprints:
        from retention.schedule_views import bp

        app.register_blueprint(bp)
    return app


def runs(ext, job_id: str | None = None) -> list[JobRun]:
    with ext.db.transaction() as session:
        query = select(JobRun).order_by(JobRun.id)
        if job_id is not None:
            query = query.where(JobRun.job == job_id)
        return list(session.scalars(query))


def injected_fault(message: str = "injected fault: the object store is unreachable"):
    def run(_ext):
        raise RuntimeError(message)

    return ScheduledJob("injected_fault", "Injected fault", "Always fails.",
                        DateTrigger(run_date=datetime(2030, 1, 1, tzinfo=UTC)), run)


def add_run(ext, job: str, outcome: str, started: datetime, seconds: float | None,
            summary: str = "", attempt: int = 1) -> None:
    finished = None if seconds is None else started + timedelta(seconds=seconds)
    with ext.db.transaction() as session:
        session.add(JobRun(job=job, outcome=outcome, started_at=started, finished_at=finished,
                           summary=summary, attempt=attempt))


# --- the jobs ---------------------------------------------------------------------------------


def test_the_jobs_are_listed_in_order_with_their_triggers(ext):
    now = datetime(2025, 6, 3, 14, 7, 30, tzinfo=UTC)

    listed = [(job.id, job.title, describe_trigger(job.trigger),
               job.trigger.get_next_fire_time(None, now)) for job in ext.scheduled_jobs]

    assert listed == [
        ("hold_sync", "Legal-hold sync", "every hour", datetime(2025, 6, 3, 15, 5, tzinfo=UTC)),
        ("database_snapshot", "Database snapshot", "every day at 01:30 UTC",
         datetime(2025, 6, 4, 1, 30, tzinfo=UTC)),
        ("replication", "Replication", "every minute", datetime(2025, 6, 3, 14, 8, tzinfo=UTC)),
        ("database_journal", "Database journal", "every minute",
         datetime(2025, 6, 3, 14, 7, 30, tzinfo=UTC)),
        ("scrub", "Integrity scrub", "every hour", datetime(2025, 6, 3, 14, 35, tzinfo=UTC)),
        ("audit_anchor", "Audit anchor", "every 5 minutes",
         datetime(2025, 6, 3, 14, 12, tzinfo=UTC)),
        ("retention_sweep", "Retention sweep", "every day at 02:15 UTC",
         datetime(2025, 6, 4, 2, 15, tzinfo=UTC)),
        ("disposition_execution", "Disposition execution", "every 10 minutes",
         datetime(2025, 6, 3, 14, 10, tzinfo=UTC)),
    ]


def test_the_audit_anchor_job_anchors_the_head_once_in_the_replica(ext):
    job = job_named("audit_anchor", JOBS)
    assert run_job(ext, job).summary == "The audit trail is empty: nothing to anchor."
    audit.record_now(ext.db, audit.Actor("tests"), "test.event")

    first, second = run_job(ext, job), run_job(ext, job)

    [anchor] = list_anchors(ext.replica)
    assert first.outcome == OK and anchor.name in first.summary and anchor.seq == 1
    assert second.summary == "The chain's head, event 1, was already anchored."


def test_run_job_records_the_hold_sync_with_a_summary_of_its_report(ext, people, patient):
    version = file_document(ext, people.principal("clerk"), patient, "DISCHARGE SUMMARY")
    place(ext, people.principal("compliance"), mrns=[patient])
    ext.store.set_legal_hold(version.object_key, version.store_version_id, False)
    hold_sync = job_named("hold_sync", JOBS)

    repaired = run_job(ext, hold_sync)
    again = run_job(ext, hold_sync)

    assert (repaired.job, repaired.outcome, repaired.attempt) == ("hold_sync", "ok", 1)
    assert repaired.summary == ("Checked 1 stored objects: 1 legal-hold flags set, 0 cleared, "
                                "0 objects missing from the store.")
    assert repaired.started_at <= repaired.finished_at
    assert again.summary.endswith("Nothing to repair.")
    assert ext.store.stat(version.object_key, version.store_version_id).legal_hold
    assert [(r.outcome, r.summary) for r in runs(ext)] == [
        ("ok", repaired.summary), ("ok", again.summary)]


def test_the_disposition_run_executes_a_batch_only_once_two_officers_approved_it(
    ext, people, patient, second_officer
):
    officer = people.principal("compliance")
    with ext.db.transaction() as session:
        save_policy(session, officer, "*", name="Ten years", source="AHIMA", reason="set up",
                    rules=Rules(after_last_encounter_years=10), floors=FLOORS)
        document = Document(uid=uuid.uuid4().hex, patient_id=find_patient(session, patient).id,
                            doc_type="discharge_summary", date_of_service=date(2001, 2, 3),
                            created_at=datetime(2001, 3, 1, tzinfo=UTC), status="ready")
        session.add(document)
        session.flush()
        batch_id = sweep(session, today=date.today(), floors=FLOORS).batch_id
    execution = job_named("disposition_execution", JOBS)

    approve(ext, officer, batch_id)
    half = run_job(ext, execution)
    with ext.db.transaction() as session:
        assert session.get(Document, document.id) is not None
    approve(ext, second_officer, batch_id)
    full = run_job(ext, execution)

    assert (half.outcome, half.summary) == ("ok", "no approved batch waiting")
    assert (full.outcome, full.summary) == (
        "ok", f"batch #{batch_id}: 1 destroyed, 0 skipped; certificate stored")
    with ext.db.transaction() as session:
        assert session.get(Document, document.id) is None


def test_a_hold_sync_the_store_cut_short_is_a_failed_run_injected(ext, people, patient,
                                                                  monkeypatch):
    file_document(ext, people.principal("clerk"), patient, "DISCHARGE SUMMARY")
    place(ext, people.principal("compliance"), mrns=[patient])

    def unreachable(*_args):
        raise StorageUnavailable("injected fault: the object store does not answer")

    monkeypatch.setattr(ext.store, "stat", unreachable)
    run = run_job(ext, job_named("hold_sync", JOBS))

    assert run.outcome == "failed"
    assert run.summary.startswith("JobIncomplete: Stopped before the end (primary store: "
                                  "injected fault: the object store does not answer). "
                                  "Checked 0 stored objects")


def test_an_injected_failure_is_recorded_not_raised_and_retried_up_to_the_limit(ext):
    scheduler = BackgroundScheduler(timezone=UTC)  # not started: its jobs are only listed
    job = injected_fault()

    fire(ext, scheduler, job)  # must not raise

    [failed] = runs(ext)
    assert (failed.outcome, failed.attempt) == ("failed", 1)
    assert failed.summary == "RuntimeError: injected fault: the object store is unreachable"
    assert failed.finished_at is not None
    for attempt in range(2, MAX_ATTEMPTS + 1):
        [retry] = scheduler.get_jobs()
        assert retry.id == f"injected_fault:retry{attempt}"
        assert isinstance(retry.trigger, DateTrigger)
        due = retry.trigger.run_date - utcnow()
        assert RETRY_DELAY - timedelta(seconds=30) < due <= RETRY_DELAY
        scheduler.remove_job(retry.id)
        retry.func(*retry.args, **retry.kwargs)  # what the scheduler does when it is due
        assert [(r.outcome, r.attempt) for r in runs(ext)][-1] == ("failed", attempt)
    assert scheduler.get_jobs() == []  # MAX_ATTEMPTS reached: no further retry
    assert len(runs(ext)) == MAX_ATTEMPTS


def test_a_retry_that_succeeds_ends_the_retries(ext):
    scheduler = BackgroundScheduler(timezone=UTC)
    calls = []

    def flaky(_ext):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("injected fault: first call only")
        return "Done on the second try."

    job = ScheduledJob("flaky", "Flaky", "", injected_fault().trigger, flaky)
    fire(ext, scheduler, job)
    [retry] = scheduler.get_jobs()
    scheduler.remove_job(retry.id)
    retry.func(*retry.args, **retry.kwargs)

    assert [(r.outcome, r.attempt, r.summary) for r in runs(ext)] == [
        ("failed", 1, "RuntimeError: injected fault: first call only"),
        ("ok", 2, "Done on the second try.")]
    assert scheduler.get_jobs() == []


def test_a_fire_another_worker_has_just_taken_is_skipped(ext):
    scheduler = BackgroundScheduler(timezone=UTC)
    calls = []
    job = ScheduledJob("counted", "Counted", "", injected_fault().trigger,
                       lambda _ext: calls.append(1) or "Counted.")

    fire(ext, scheduler, job)  # this worker
    fire(ext, scheduler, job)  # a second worker, the same fire moments later

    assert len(calls) == 1
    assert [r.outcome for r in runs(ext)] == ["ok"]


def test_each_run_prunes_its_jobs_runs_older_than_the_window_but_keeps_the_newest(ext,
                                                                                monkeypatch):
    monkeypatch.setattr(ext.settings, "job_runs_keep_days", 30)
    now = utcnow()
    job = ScheduledJob("counted", "Counted", "", injected_fault().trigger,
                       lambda _ext: "Counted.")
    for days_ago in range(50, 10, -1):  # a run a day, half of them older than the window
        add_run(ext, "counted", "ok", now - timedelta(days=days_ago - 0.5), 1)
    add_run(ext, "counted", "requested", now - timedelta(days=45), None)  # still waiting
    add_run(ext, "other", "ok", now - timedelta(days=60), 1)  # another job's: its own run prunes

    run_job(ext, job)

    kept = runs(ext, "counted")
    assert len(kept) == 20 + 1 + 1  # the 20 within the window, the request, this run
    assert min(r.started_at for r in kept if r.outcome == OK) > now - timedelta(days=30)
    assert len(runs(ext, "other")) == 1

    # Runs rarer than the window: the newest the page shows stay whatever their age.
    monkeypatch.setattr(ext.settings, "job_runs_keep_days", 1)
    run_job(ext, job)
    assert len(runs(ext, "counted")) == schedule.HISTORY


def test_the_real_scheduler_runs_a_job_when_its_trigger_fires(ext):
    ran = threading.Event()

    def note(_ext):
        ran.set()
        return "Ran on time."

    job = ScheduledJob("soon", "Soon", "",
                       DateTrigger(run_date=utcnow() + timedelta(seconds=0.5), timezone=UTC), note)
    stop = threading.Event()
    worker = threading.Thread(target=run_schedule, args=(ext, stop, [job], 0.05), daemon=True)
    worker.start()
    try:
        assert ran.wait(TIMEOUT), "the scheduler did not run the job"
        deadline = utcnow() + timedelta(seconds=TIMEOUT)
        while [r.outcome for r in runs(ext)] != ["ok"] and utcnow() < deadline:
            stop.wait(0.02)
    finally:
        stop.set()
        worker.join(TIMEOUT)
    assert not worker.is_alive()
    [run] = runs(ext)
    assert (run.job, run.outcome, run.summary, run.attempt) == ("soon", "ok", "Ran on time.", 1)


# --- "Run now" ---------------------------------------------------------------------------------


def test_run_now_from_the_page_is_run_once_by_exactly_one_worker(app, ext, people):
    officer = logged_in(app, "compliance1")

    response = officer.post("/admin/schedule/run",
                            data={"job": "hold_sync", "csrf_token": officer.token})
    officer.post("/admin/schedule/run", data={"job": "hold_sync", "csrf_token": officer.token})

    assert response.status_code == 303
    assert response.headers["Location"].endswith("/admin/schedule#job-hold_sync")
    page = officer.get("/admin/schedule").get_data(as_text=True)
    assert "Legal-hold sync: run requested." in page
    assert "A run has been requested" in page
    assert [(r.job, r.outcome) for r in runs(ext)] == [("hold_sync", "requested")]
    [event] = events(ext, "schedule.run_requested")
    assert (event.actor, event.details) == ("compliance1", {"job": "hold_sync"})

    # Two workers poll at the same moment; only one of them claims the request.
    start, done = threading.Barrier(2), []

    def worker():
        start.wait(TIMEOUT)
        done.extend(run_requested(ext))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)

    assert [(r.job, r.outcome) for r in done] == [("hold_sync", "ok")]
    assert run_requested(ext) == []
    assert [(r.outcome, r.summary) for r in runs(ext)] == [("ok", done[0].summary)]


def test_a_request_waits_while_its_job_is_running(ext, people):
    add_run(ext, "hold_sync", "running", utcnow() - timedelta(minutes=1), None)
    schedule.request_run(ext, people.principal("compliance"), "hold_sync")

    assert run_requested(ext) == []
    assert [r.outcome for r in runs(ext)] == ["running", "requested"]


def test_an_unknown_job_cannot_be_run(app, people):
    officer = logged_in(app, "compliance1")

    response = officer.post("/admin/schedule/run",
                            data={"job": "format_disks", "csrf_token": officer.token})

    assert response.status_code == 404


# --- the page ---------------------------------------------------------------------------------


def test_the_page_shows_next_runs_last_outcomes_and_failures_as_text(app, ext, people):
    now = utcnow()
    add_run(ext, "hold_sync", "ok", now - timedelta(hours=2), 1.5, "Checked 3 stored objects.")
    add_run(ext, "hold_sync", "failed", now - timedelta(minutes=2), 0.4,
            "StorageUnavailable: <script>alert('x')</script>")
    add_run(ext, "retention_sweep", "running", now - STALE_AFTER - timedelta(minutes=1), None)
    add_run(ext, "disposition_execution", "ok", now - timedelta(minutes=3), 75,
            "Destroyed 2 documents of batch 7.", attempt=2)
    officer = logged_in(app, "compliance1")

    before = utcnow()
    page = officer.get("/admin/schedule").get_data(as_text=True)
    after = utcnow()

    for job in JOBS:
        assert any(f'datetime="{job.trigger.get_next_fire_time(None, t).isoformat()}"' in page
                   for t in (before, after)), job.id
    assert "every day at 02:15 UTC" in page and "every 10 minutes" in page
    # The failure, escaped, in an error alert, with its retry.
    assert "<script>alert" not in page
    assert "StorageUnavailable: &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert 'class="alert alert--error"' in page
    assert '<span class="outcome outcome--bad">Failed</span>' in page
    assert f"Retry 2 of {MAX_ATTEMPTS} is due at" in page
    # A run cut short by a crash: shown interrupted, not running.
    assert "Interrupted" in page
    assert "was interrupted" in page
    assert "Destroyed 2 documents of batch 7." in page
    assert "1 min 15 s" in page and "0.4 s" in page
    assert '<span class="outcome outcome--ok">Succeeded</span>' in page


def test_the_overview_computes_stale_runs_and_pending_retries(ext):
    now = utcnow()
    add_run(ext, "hold_sync", "failed", now - timedelta(minutes=20), 1, "Boom.")
    add_run(ext, "disposition_execution", "failed", now - timedelta(minutes=1), 1, "Boom.",
            attempt=MAX_ATTEMPTS)
    add_run(ext, "retention_sweep", "running", now - timedelta(hours=1), None)

    with ext.db.transaction() as session:
        sweep, sync, execution = schedule.schedule_overview(
            session, now, [job_named(name, JOBS)
                           for name in ("retention_sweep", "hold_sync", "disposition_execution")])

    assert sweep.last_run.outcome == "running" and sweep.retry_at is None
    assert sync.retry_at is None  # long overdue: the worker that held it is gone
    assert execution.retry_at is None  # the last attempt failed: no more retries
    with ext.db.transaction() as session:
        (stale,) = schedule.schedule_overview(session, now + STALE_AFTER,
                                              [job_named("retention_sweep", JOBS)])
    assert stale.last_run.outcome == "interrupted" and stale.last_run.failed


@pytest.mark.parametrize("role", ["clerk", "staff"])
def test_only_compliance_may_see_the_schedule_or_run_a_job(app, ext, people, role):
    user = logged_in(app, role + "1")

    page = user.get("/admin/schedule")
    request = user.post("/admin/schedule/run", data={"job": "hold_sync", "csrf_token": user.token})

    assert (page.status_code, request.status_code) == (403, 403)
    assert runs(ext) == []
    assert events(ext, "schedule.run_requested") == []

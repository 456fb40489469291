"""The schedule: every package's jobs (Archive.scheduled_jobs: retention's sweep and
disposition execution below, backup's in backup.jobs), run by APScheduler inside the worker.

Jobs are plain functions (``ScheduledJob.run``), tested directly and through the scheduler.
Each run is a row (retention.models.JobRun) written in transactions of its own, so the
schedule page of a web process that runs no scheduler shows what the workers did:

- a run starts "running" and ends "ok" or "failed" with a one-line summary or the error;
- a failed run is retried after RETRY_DELAY, up to MAX_ATTEMPTS attempts in all;
- "Run now" on the page adds a "requested" row that a worker claims (one worker only) and
  runs within seconds;
- a run cut short by a crash stays "running"; after STALE_AFTER it is shown as interrupted
  and no longer keeps the job from running;
- each run first prunes the job's runs older than CHARTVAULT_JOB_RUNS_KEEP_DAYS (the
  replication job alone adds 1,440 rows a day), but never the newest HISTORY runs the page
  shows, nor a "Run now" still waiting.

Production runs several workers, each with its own scheduler: before a run starts, the job's
lock (an advisory lock on PostgreSQL, the write lock on SQLite) is taken and the job's latest
runs are looked at, so a fire that another worker has just taken is skipped.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import delete, false, or_, select, text, update
from sqlalchemy.orm import Session

from archive import audit
from archive.auth.permissions import Principal, require
from archive.errors import NotFound
from archive.models import utcnow
from retention.models import JobRun

if TYPE_CHECKING:
    from archive.extensions import Archive

log = logging.getLogger(__name__)

REQUESTED, RUNNING, OK, FAILED = "requested", "running", "ok", "failed"
INTERRUPTED = "interrupted"  # shown for a stale "running" row; never stored

RETRY_DELAY = timedelta(minutes=5)
MAX_ATTEMPTS = 3  # the first run and two retries
STALE_AFTER = timedelta(hours=6)  # longer than any run takes: the worker died during it
# Runs of one job that start this close together are the same fire, taken by two workers:
# their schedulers fire within seconds of each other, and no job fires more than once a minute.
SAME_FIRE = timedelta(seconds=20)
MISFIRE_GRACE_SECONDS = 3600  # a fire delayed by a busy or paused scheduler still runs
POLL_SECONDS = 3.0  # how soon a worker notices a "Run now"
HISTORY = 10
SUMMARY_LIMIT = 2000
# Interval jobs fire at the same moments in every worker and on the page, whenever each
# process started: every period counted from this instant.
ALIGNED = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ScheduledJob:
    """One job of the schedule. ``run`` returns a one-line summary for people, and raises
    when the job failed (it is then retried)."""

    id: str
    title: str
    description: str
    trigger: BaseTrigger
    run: Callable[[Archive], str]


class JobIncomplete(Exception):
    """The job ran but could not finish its work (the object store did not answer)."""


# --- retention's jobs (other packages add theirs to Archive.scheduled_jobs) ------------------


def _retention_sweep(ext: Archive) -> str:
    from retention.disposition import nightly_sweep

    return nightly_sweep(ext)


def _disposition_execution(ext: Archive) -> str:
    from retention.destruction import run_approved

    return run_approved(ext)


RETENTION_JOBS: tuple[ScheduledJob, ...] = (
    ScheduledJob(
        "retention_sweep",
        "Retention sweep",
        "Computes every document's disposition date from the retention policies and gathers "
        "the documents past their date and under no hold into a batch for review.",
        CronTrigger(hour=2, minute=15, timezone=UTC),
        _retention_sweep,
    ),
    ScheduledJob(
        "disposition_execution",
        "Disposition execution",
        "Destroys the documents of approved disposition batches and writes their "
        "destruction certificates.",
        IntervalTrigger(minutes=10, start_date=ALIGNED, timezone=UTC),
        _disposition_execution,
    ),
)


def job_named(job_id: str, jobs: Sequence[ScheduledJob]) -> ScheduledJob:
    for job in jobs:
        if job.id == job_id:
            return job
    raise NotFound(f"There is no scheduled job '{job_id}'.")


# --- running ----------------------------------------------------------------------------------


def run_job(
    ext: Archive, job: ScheduledJob, *, attempt: int = 1, run_id: int | None = None
) -> JobRun | None:
    """Run ``job`` once and record it: a "running" row first (or the claimed ``run_id``),
    then "ok" with the summary or "failed" with the error. Never raises: the scheduler's
    thread must outlive any job. None when not even the start could be recorded (the
    database is unreachable), in which case the job did not run."""
    try:
        if run_id is None:
            run_id = _record_start(ext, job.id, attempt)
    except Exception:  # noqa: BLE001 - the database is down; the retry tries again
        log.exception("Scheduled job %s: could not record its start; not run.", job.id)
        return None
    try:
        with ext.db.transaction() as session:
            prune_runs(session, job.id, utcnow(), ext.settings.job_runs_keep_days)
    except Exception:  # noqa: BLE001 - a longer history is no reason not to run the job
        log.exception("Scheduled job %s: could not prune its old runs.", job.id)
    try:
        summary, outcome = job.run(ext), OK
    except Exception as err:  # noqa: BLE001 - any failure of a job is recorded, not raised
        log.exception("Scheduled job %s (attempt %d) failed.", job.id, attempt)
        summary, outcome = f"{type(err).__name__}: {err}", FAILED
    return _record_end(ext, job.id, run_id, outcome, summary)


def prune_runs(session: Session, job_id: str, now: datetime, keep_days: int) -> int:
    """Delete the job's runs started more than ``keep_days`` ago, except its newest HISTORY
    runs and a waiting request; returns how many were deleted."""
    newest = (
        select(JobRun.id).where(JobRun.job == job_id).order_by(JobRun.id.desc()).limit(HISTORY)
    )
    return session.execute(
        delete(JobRun).where(
            JobRun.job == job_id,
            JobRun.started_at < now - timedelta(days=keep_days),
            JobRun.outcome != REQUESTED,
            JobRun.id.not_in(newest),
        ),
        execution_options={"synchronize_session": False},
    ).rowcount


def fire(ext: Archive, scheduler: BackgroundScheduler, job: ScheduledJob, attempt: int = 1):
    """What the scheduler calls at each fire and retry: start the run unless another
    worker has taken this fire (or the job is still running), run it, and schedule a
    retry after a failure."""
    try:
        run_id = _claim_fire(ext, job.id, attempt)
    except Exception:  # noqa: BLE001
        log.exception("Scheduled job %s: could not record its start; not run.", job.id)
        run_id, run = None, None
    else:
        if run_id is None:
            log.info("Scheduled job %s: already running or just run by another worker.", job.id)
            return
        run = run_job(ext, job, attempt=attempt, run_id=run_id)
    if run is None or run.outcome == FAILED:
        schedule_retry(ext, scheduler, job, attempt)


def schedule_retry(
    ext: Archive, scheduler: BackgroundScheduler, job: ScheduledJob, failed_attempt: int
) -> bool:
    """Run ``job`` again after RETRY_DELAY, unless it has had MAX_ATTEMPTS; True if so."""
    if failed_attempt >= MAX_ATTEMPTS:
        log.error("Scheduled job %s failed %d times; next try at its next fire.", job.id,
                  failed_attempt)
        return False
    attempt = failed_attempt + 1
    scheduler.add_job(
        fire,
        DateTrigger(run_date=utcnow() + RETRY_DELAY, timezone=UTC),
        args=(ext, scheduler, job),
        kwargs={"attempt": attempt},
        id=f"{job.id}:retry{attempt}",
        name=f"{job.title} (retry {attempt} of {MAX_ATTEMPTS})",
        replace_existing=True,
        misfire_grace_time=MISFIRE_GRACE_SECONDS,
    )
    return True


def _record_start(ext: Archive, job_id: str, attempt: int) -> int:
    with ext.db.transaction() as session:
        run = JobRun(job=job_id, started_at=utcnow(), outcome=RUNNING, attempt=attempt)
        session.add(run)
        session.flush()
        return run.id


def _record_end(ext: Archive, job_id: str, run_id: int, outcome: str, summary: str) -> JobRun:
    summary = " ".join(summary.split())[:SUMMARY_LIMIT]  # one line, whatever the error said
    try:
        with ext.db.transaction() as session:
            run = session.get(JobRun, run_id)
            run.outcome, run.summary, run.finished_at = outcome, summary, utcnow()
        return run
    except Exception:  # noqa: BLE001 - the row stays "running" and is shown as interrupted
        log.exception("Scheduled job %s: could not record its %s end (%s).", job_id, outcome,
                      summary)
        return JobRun(id=run_id, job=job_id, outcome=outcome, summary=summary)


def _lock_job(session: Session, job_id: str) -> None:
    """Serialize the start of runs of one job across workers until the transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(f"chartvault.schedule.{job_id}".encode())
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    else:
        # A write that changes nothing takes SQLite's one write lock.
        session.execute(
            update(JobRun).where(false()).values(job=JobRun.job),
            execution_options={"synchronize_session": False},
        )


def _busy(session: Session, job_id: str, now: datetime, *, same_fire: bool) -> bool:
    """Whether the job is running (not stale), or, with ``same_fire``, has just started."""
    recent = JobRun.outcome == RUNNING
    if same_fire:
        recent = or_(recent, JobRun.started_at > now - SAME_FIRE)
    return session.scalar(
        select(JobRun.id)
        .where(JobRun.job == job_id, JobRun.outcome != REQUESTED,
               JobRun.started_at > now - STALE_AFTER, recent)
        .limit(1)
    ) is not None


def _claim_fire(ext: Archive, job_id: str, attempt: int) -> int | None:
    with ext.db.transaction() as session:
        _lock_job(session, job_id)
        now = utcnow()
        if _busy(session, job_id, now, same_fire=attempt == 1):
            return None
        run = JobRun(job=job_id, started_at=now, outcome=RUNNING, attempt=attempt)
        session.add(run)
        session.flush()
        return run.id


# --- "Run now" --------------------------------------------------------------------------------


def request_run(
    ext: Archive, principal: Principal, job_id: str) -> JobRun:
    """A compliance officer asks for a job to run now; a worker starts it within seconds.
    A request already waiting for the job is not doubled."""
    require(principal, "retention.manage")
    job = job_named(job_id, ext.scheduled_jobs)
    with ext.db.transaction() as session:
        waiting = session.scalar(
            select(JobRun).where(JobRun.job == job.id, JobRun.outcome == REQUESTED).limit(1)
        )
        if waiting is not None:
            return waiting
        run = JobRun(job=job.id, started_at=utcnow(), outcome=REQUESTED,
                     summary=f"Requested by {principal.username}.")
        session.add(run)
        audit.record(session, principal.actor, "schedule.run_requested",
                     details={"job": job.id})
    return run


def run_requested(
    ext: Archive, scheduler: BackgroundScheduler | None = None) -> list[JobRun]:
    """Run every requested job whose request this worker claims (a job that is running
    keeps its request waiting); with a ``scheduler``, a failure is retried like a fire."""
    with ext.db.transaction() as session:
        waiting = session.execute(
            select(JobRun.id, JobRun.job).where(JobRun.outcome == REQUESTED).order_by(JobRun.id)
        ).all()
    done = []
    for run_id, job_id in waiting:
        try:
            job = job_named(job_id, ext.scheduled_jobs)
        except NotFound:
            continue  # a job this version of the worker does not have: left for another
        if not _claim_request(ext, run_id, job_id):
            continue
        run = run_job(ext, job, run_id=run_id)
        if run is not None:
            done.append(run)
            if run.outcome == FAILED and scheduler is not None:
                schedule_retry(ext, scheduler, job, run.attempt or 1)
    return done


def _claim_request(ext: Archive, run_id: int, job_id: str) -> bool:
    with ext.db.transaction() as session:
        _lock_job(session, job_id)
        now = utcnow()
        if _busy(session, job_id, now, same_fire=False):
            return False
        # Only one worker's UPDATE finds the row still requested.
        claimed = session.execute(
            update(JobRun)
            .where(JobRun.id == run_id, JobRun.outcome == REQUESTED)
            .values(outcome=RUNNING, started_at=now),
            execution_options={"synchronize_session": False},
        ).rowcount
        return claimed == 1


# --- the background task ----------------------------------------------------------------------


def run_schedule(
    ext: Archive,
    stop: threading.Event,
    jobs: Sequence[ScheduledJob] | None = None,
    poll_seconds: float = POLL_SECONDS,
) -> None:
    """The background task `chartvault serve` and `chartvault worker` run: the scheduler
    with every job, and the polling of "Run now" requests, until ``stop`` is set."""
    scheduler = BackgroundScheduler(timezone=UTC)
    for job in ext.scheduled_jobs if jobs is None else jobs:
        scheduler.add_job(
            fire,
            job.trigger,
            args=(ext, scheduler, job),
            id=job.id,
            name=job.title,
            coalesce=True,  # fires missed while busy or paused run once, not once each
            max_instances=1,
            misfire_grace_time=MISFIRE_GRACE_SECONDS,
        )
    scheduler.start()
    try:
        while not stop.is_set():
            try:
                run_requested(ext, scheduler)
            except Exception:  # noqa: BLE001 - e.g. the database is restarting; requests wait
                log.exception("Could not look for requested job runs; trying again.")
            stop.wait(poll_seconds)
    finally:
        # A job still running finishes in its thread; the process waits for it on exit.
        scheduler.shutdown(wait=False)


# --- the schedule page ------------------------------------------------------------------------


@dataclass(frozen=True)
class RunView:
    """One run as the page shows it."""

    id: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str  # requested, running, ok, failed, or interrupted (a stale "running")
    summary: str
    attempt: int

    @property
    def duration(self) -> timedelta | None:
        if self.finished_at is None or self.outcome == REQUESTED:
            return None
        return self.finished_at - self.started_at

    @property
    def duration_text(self) -> str:
        """"0.4 s", "12 s", "3 min 20 s", "1 h 05 min"; "" while not finished."""
        if self.duration is None:
            return ""
        seconds = self.duration.total_seconds()
        if seconds < 10:
            return f"{seconds:.1f} s"
        whole = round(seconds)
        if whole < 60:
            return f"{whole} s"
        if whole < 3600:
            return f"{whole // 60} min {whole % 60:02d} s"
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"

    @property
    def failed(self) -> bool:
        return self.outcome in (FAILED, INTERRUPTED)


@dataclass(frozen=True)
class JobStatus:
    id: str
    title: str
    description: str
    schedule: str  # the trigger, for people
    next_run: datetime | None
    last_run: RunView | None
    retry_at: datetime | None  # when the pending retry is due, if one is
    retry_attempt: int | None
    requested: bool  # a "Run now" is waiting for a worker
    history: list[RunView]


def schedule_overview(
    session: Session, now: datetime, jobs: Sequence[ScheduledJob]) -> list[JobStatus]:
    """Each job with its next fire (from its trigger, so a web process that runs no
    scheduler knows it too), its last run, a pending retry and its recent runs."""
    return [_status(session, job, now) for job in jobs]


def _status(session: Session, job: ScheduledJob, now: datetime) -> JobStatus:
    rows = session.scalars(
        select(JobRun).where(JobRun.job == job.id).order_by(JobRun.id.desc()).limit(HISTORY)
    ).all()
    history = [_view(row, now) for row in rows]
    last = next((run for run in history if run.outcome != REQUESTED), None)
    retry_at = retry_attempt = None
    if last is not None and last.outcome == FAILED and last.attempt < MAX_ATTEMPTS:
        due = last.finished_at + RETRY_DELAY
        # Long overdue: the worker that held the retry stopped; the next fire runs the job.
        if now < due + RETRY_DELAY:
            retry_at, retry_attempt = due, last.attempt + 1
    return JobStatus(
        id=job.id,
        title=job.title,
        description=job.description,
        schedule=describe_trigger(job.trigger),
        next_run=job.trigger.get_next_fire_time(None, now),
        last_run=last,
        retry_at=retry_at,
        retry_attempt=retry_attempt,
        requested=any(run.outcome == REQUESTED for run in history),
        history=history,
    )


def _view(row: JobRun, now: datetime) -> RunView:
    outcome = row.outcome
    if outcome == RUNNING and now - row.started_at > STALE_AFTER:
        outcome = INTERRUPTED
    return RunView(row.id, row.started_at, row.finished_at, outcome, row.summary,
                   row.attempt or 1)


def describe_trigger(trigger: BaseTrigger) -> str:
    """"every day at 02:15 UTC", "every hour", "every 10 minutes"; the trigger's own
    notation for what this does not know how to say."""
    if isinstance(trigger, IntervalTrigger):
        return "every " + _period(trigger.interval)
    if isinstance(trigger, CronTrigger):
        fields = {field.name: field for field in trigger.fields}
        daily = all(fields[name].is_default for name in
                    ("year", "month", "day", "week", "day_of_week"))
        hour, minute, second = (str(fields[name]) for name in ("hour", "minute", "second"))
        if daily and hour.isdigit() and minute.isdigit() and second == "0":
            return f"every day at {int(hour):02d}:{int(minute):02d} {trigger.timezone}"
    if isinstance(trigger, DateTrigger):
        return f"once, at {trigger.run_date:%Y-%m-%d %H:%M} {trigger.run_date.tzinfo}"
    return str(trigger)


def _period(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds % size == 0:
            count = seconds // size
            return unit if count == 1 else f"{count} {unit}s"
    return str(interval)

"""The schedule page: each scheduled job's next run, last run and recent runs, and "Run now".
Thin: parse, call retention.schedule, render.

The job to run is a form field, not part of the path: every path parameter must be one the
route-guard test (tests/archive/test_route_guards.py) knows how to fill in."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from archive.auth.guards import current_principal, requires
from archive.extensions import archive
from archive.models import utcnow
from retention.schedule import MAX_ATTEMPTS, POLL_SECONDS, job_named, request_run, schedule_overview

bp = Blueprint("schedule", __name__)


@bp.route("/admin/schedule")
@requires("retention.manage")
def schedule():
    now = utcnow()
    with archive().db.transaction() as session:
        jobs = schedule_overview(session, now, archive().scheduled_jobs)
    return render_template("retention/schedule.html", jobs=jobs, now=now,
                           max_attempts=MAX_ATTEMPTS)


@bp.route("/admin/schedule/run", methods=["POST"])
@requires("retention.manage")
def run_now():
    # NotFound (404) for an unknown job
    job = job_named(request.form.get("job", ""), archive().scheduled_jobs)
    request_run(archive(), current_principal(), job.id)
    flash(
        f"{job.title}: run requested. A worker starts it within {POLL_SECONDS:g} seconds, "
        "unless it is running already; its result appears below.",
        "info",
    )
    return redirect(url_for("schedule.schedule", _anchor=f"job-{job.id}"), code=303)

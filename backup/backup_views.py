"""The backup status page: how far the replica store is behind the primary, what failed, the
database journal's last runs and the snapshots kept, and what the integrity scrub found and
repaired. Thin: read backup.replication, retention.schedule, backup.snapshots and
backup.scrub_status, render."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template

from archive.auth.guards import requires
from archive.errors import StorageError
from archive.extensions import archive
from archive.models import utcnow
from backup.replication import replication_status
from backup.scrub_status import scrub_status
from backup.snapshots import latest_snapshots, snapshots_to_keep
from retention.schedule import OK, job_named, schedule_overview

bp = Blueprint("backups", __name__)

# The journal runs every minute; a restore loses what was done since its last good run, so
# past this the page says the recovery point is not being met.
JOURNAL_LATE = timedelta(minutes=5)


@bp.route("/admin/backups")
@requires("backup.view")
def backups():
    now = utcnow()
    ext = archive()
    try:
        snapshots, replica_problem = latest_snapshots(ext), None
    except StorageError as error:  # the page must still say what it knows
        snapshots, replica_problem = [], error.message
    with ext.db.transaction() as session:
        status = replication_status(ext, session)
        return render_template(
            "backup/backups.html", status=status, lag=status.lag(now), now=now,
            replica=ext.settings.replica_storage or "filesystem", snapshots=snapshots,
            keep=snapshots_to_keep(ext.settings), replica_problem=replica_problem,
            scrub=scrub_status(session, now, days=ext.settings.scrub_days),
            journal=schedule_overview(
                session, now, [job_named("database_journal", ext.scheduled_jobs)])[0],
            journal_late=JOURNAL_LATE, ok=OK,
        )

"""The backup status page: how far the replica store is behind the primary, what failed, the
database snapshots kept, and what the integrity scrub found and repaired. Thin: read
retention.replication, retention.snapshots and retention.scrub, render."""

from __future__ import annotations

from flask import Blueprint, render_template

from archive.app import archive
from archive.auth.guards import requires
from archive.errors import StorageError
from archive.models import utcnow
from retention.replication import replication_status
from retention.scrub import scrub_status
from retention.snapshots import latest_snapshots, snapshots_to_keep

bp = Blueprint("backups", __name__)


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
            "retention/backups.html", status=status, lag=status.lag(now), now=now,
            replica=ext.settings.replica_storage or "filesystem", snapshots=snapshots,
            keep=snapshots_to_keep(ext.settings), replica_problem=replica_problem,
            scrub=scrub_status(session, now, days=ext.settings.scrub_days),
        )

"""The backup status page: how far the replica store is behind the primary, and what failed.
Thin: read retention.replication, render."""

from __future__ import annotations

from flask import Blueprint, render_template

from archive.app import archive
from archive.auth.guards import requires
from archive.models import utcnow
from retention.replication import replication_status

bp = Blueprint("backups", __name__)


@bp.route("/admin/backups")
@requires("backup.view")
def backups():
    now = utcnow()
    with archive().db.transaction() as session:
        status = replication_status(session)
        return render_template("retention/backups.html", status=status, lag=status.lag(now),
                               now=now, replica=archive().settings.replica_storage or "filesystem")

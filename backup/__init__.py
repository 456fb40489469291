"""Backup: never losing it. Replication of every stored object to the replica store, the
stores' legal-hold flags, database snapshots and the journal after them (point-in-time
recovery), the integrity scrub and its repairs, and the restore. It stands on retention
(the schedule runs its jobs; a restore replays the destruction log), which reaches it only
through the Archive hooks registered here."""

from __future__ import annotations

from functools import partial

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug backup into the app (called through the chartvault.packages entry point)."""
    import backup.models  # noqa: F401 - the tables, on the shared metadata
    from archive.extensions import Archive, NavLink
    from backup import backup_views, replication, restore_cli, scrub_cli
    from backup.hold_sync import follow_hold, watch_commits
    from backup.jobs import BACKUP_JOBS

    ext: Archive = app.extensions["chartvault"]
    watch_commits(ext)
    ext.hold_listeners.append(partial(follow_hold, ext))
    ext.objects_leaving.append(replication.hold_back)
    ext.objects_gone.append(replication.forget)
    ext.scheduled_jobs.extend(BACKUP_JOBS)
    ext.navigation.append(
        NavLink("backups.backups", "Backups and integrity", "backup.view",
                "Replication lag, the database journal and snapshots, and what the "
                "integrity scrub found and repaired.", "administration")
    )
    restore_cli.init_app(app)
    scrub_cli.init_app(app)
    app.register_blueprint(backup_views.bp)

"""The backup jobs of the schedule (retention.schedule runs them with retention's own,
through Archive.scheduled_jobs): replication and the database journal every minute, the
legal-hold sync and the integrity scrub every hour, the audit anchor every five minutes, the
database snapshot every night."""

from __future__ import annotations

from datetime import UTC, timedelta

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from archive.extensions import Archive
from retention.schedule import ALIGNED, JobIncomplete, ScheduledJob


def _hold_sync(ext: Archive) -> str:
    from backup.hold_sync import sync_holds

    report = sync_holds(ext)
    primary, replica = report.primary, report.replica
    summary = (
        f"Checked {primary.checked} stored objects: {len(primary.flagged)} legal-hold flags "
        f"set, {len(primary.cleared)} cleared, {len(primary.missing)} objects missing from "
        "the store."
    )
    if replica.checked or replica.missing or replica.failure:
        summary += f" Replica copies: {replica.summary()}."
    if report.failure:
        raise JobIncomplete(f"Stopped before the end ({report.failure}). {summary}")
    return summary if report.repaired or report.missing else f"{summary} Nothing to repair."


def _database_snapshot(ext: Archive) -> str:
    from backup.snapshots import run_snapshot

    return run_snapshot(ext)


def _database_journal(ext: Archive) -> str:
    from backup.snapshots import ship_journal

    return ship_journal(ext)


def _scrub(ext: Archive) -> str:
    from backup.scrub import run_scrub

    return run_scrub(ext)


def _replication(ext: Archive) -> str:
    from backup.replication import run_replication

    return run_replication(ext)


def _audit_anchor(ext: Archive) -> str:
    from archive.audit_anchor import write_anchor

    anchor, new = write_anchor(ext.db, ext.replica)
    if anchor is None:
        return "The audit trail is empty: nothing to anchor."
    if not new:
        return f"The chain's head, event {anchor.seq}, was already anchored."
    return f"Anchored the chain's head, event {anchor.seq}, in the replica as {anchor.name}."


BACKUP_JOBS: tuple[ScheduledJob, ...] = (
    ScheduledJob(
        "hold_sync",
        "Legal-hold sync",
        "Makes the object store's legal-hold flags agree with the holds in the database, "
        "and repairs any difference a crash or an outage left.",
        IntervalTrigger(hours=1, start_date=ALIGNED + timedelta(minutes=5), timezone=UTC),
        _hold_sync,
    ),
    ScheduledJob(
        "database_snapshot",
        "Database snapshot",
        "Stores a consistent snapshot of the database (SQLite online backup, or pg_dump) in "
        "the replica store and keeps the newest CHARTVAULT_SNAPSHOTS_KEEP (default 7).",
        CronTrigger(hour=1, minute=30, timezone=UTC),
        _database_snapshot,
    ),
    ScheduledJob(
        "replication",
        "Replication",
        "Copies every newly stored object to the replica store and verifies the copy's "
        "SHA-256; retries the copies that failed.",
        # Every minute, so the replica stays well within 5 minutes of the primary.
        IntervalTrigger(minutes=1, start_date=ALIGNED, timezone=UTC),
        _replication,
    ),
    ScheduledJob(
        "database_journal",
        "Database journal",
        "Stores what changed in the database since the last run in the replica store (SQLite: "
        "the changed pages; PostgreSQL: the WAL), so that a restore brings back everything "
        "done until a minute or two before a loss, not only until the last snapshot.",
        # With replication also every minute, an action acknowledged more than 2 minutes
        # before a loss is in the replica: its rows here, its objects there.
        IntervalTrigger(minutes=1, start_date=ALIGNED + timedelta(seconds=30), timezone=UTC),
        _database_journal,
    ),
    ScheduledJob(
        "scrub",
        "Integrity scrub",
        "Re-reads and re-hashes a share of the stored objects and their replica copies, so "
        "every object is checked once per CHARTVAULT_SCRUB_DAYS days (default 30), and "
        "repairs a bad copy from the good one. Fails while an object has no good copy left.",
        IntervalTrigger(hours=1, start_date=ALIGNED + timedelta(minutes=35), timezone=UTC),
        _scrub,
    ),
    ScheduledJob(
        "audit_anchor",
        "Audit anchor",
        "Writes the audit chain's newest event and MAC into the replica store as a "
        "write-once object under legal hold, so `chartvault audit verify` notices the newest "
        "events being deleted even by someone who can rewrite the database.",
        # Events deleted since the last anchor go unnoticed: keep that window short.
        IntervalTrigger(minutes=5, start_date=ALIGNED + timedelta(minutes=2), timezone=UTC),
        _audit_anchor,
    ),
)

"""The integrity scrub: every stored object, and its copy in the replica, re-read and
re-hashed on a rolling schedule, and a bad copy repaired from the good one.

Each run takes the least recently checked objects (``ObjectCopy.checked_at``, never checked
first), as many as make a full pass every ``CHARTVAULT_SCRUB_DAYS`` days (default 30) at
one run an hour; ``chartvault verify --all`` takes them all, including the objects stored
since replication last registered them (it registers them first, as replication would within
a minute: a fresh upload is exactly what has no second copy yet). An object is read in full
from the primary (against the SHA-256 the database recorded) and, once replicated, from the
replica; an object not yet replicated has only its primary checked, and the report counts
those apart ("not yet replicated: N, of which corrupt: M").

- Both copies verify: the object is marked checked.
- One copy is missing or corrupt and the other verifies: the good bytes are written to the
  bad side, read back and verified, and the finding is recorded (a ``ScrubFinding`` row and
  an ``integrity.object_missing``/``integrity.object_corrupt`` audit event, outcome
  "repaired"). The bad version is then deleted where the store allows it (a version under
  legal hold or retention stays, named in the finding).
- No good copy (bad on both sides, or bad on the primary before it was replicated): the
  finding is recorded as "unrepaired" (audit outcome "failed") and nothing is changed or
  deleted. A bad original that was never replicated is the worst case (no other copy exists
  anywhere), so the backup page names those first, in an alert of their own. The object
  keeps its old ``checked_at``, so every run checks it again first and the scheduled job
  fails (red on the schedule page) until a person has restored a copy; the finding is
  recorded once and stays an alert on the backup page until a check passes or a repair
  replaces the version.
- A store that does not answer (``StorageUnavailable``) is no finding about the object:
  the run stops and raises, and the job is retried.

The repairs are in backup.scrub_repairs, the findings in backup.scrub_findings, and
what the backup page shows in backup.scrub_status.

Destruction marks an object "destroying" before deleting it; such an object is not checked,
and a repair finished after destruction began is deleted again instead of recorded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime
from itertools import repeat

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError as DuplicateRow
from sqlalchemy.orm import Session

from archive.audit import Actor
from archive.config import Settings
from archive.errors import (
    ArchiveError,
)
from archive.extensions import Archive
from archive.models import utcnow
from backup.models import ObjectCopy
from backup.replication import register_new_objects
from backup.scrub_findings import (
    CHECKED_STATES,
    CORRUPT,
    MISSING,
    Problem,
    ScrubbedObject,
    ScrubReport,
)
from backup.scrub_repairs import record_unrepaired, repair_primary, repair_replica
from backup.store_workers import read_copies, worker_pool

SCRUB_ACTOR = Actor("integrity scrub", "scheduler")
DAYS_VARIABLE = "CHARTVAULT_SCRUB_DAYS"
DEFAULT_DAYS = 30
RUNS_PER_DAY = 24  # the scheduled job runs hourly
BATCH = 100  # objects read from the database, and marked checked, per transaction
# Threads reading copies at once when a store is S3 (their round trips overlap); with both
# stores on disk, the reads run in backup.store_workers' processes instead.
READERS = 2
# Objects a worker process reads per trip: a batch is shared out in a few tasks.
READS_PER_TASK = 25


class ObjectsUnrepaired(ArchiveError):
    """Stored objects are bad and no good copy was found to repair them from."""

    code = "objects_unrepaired"


# --- how much each run checks -----------------------------------------------------------------


def scrub_days(settings: Settings) -> int:
    """The period of a full pass, ``CHARTVAULT_SCRUB_DAYS`` (default 30)."""
    days = settings.scrub_days
    if days < 1:
        raise ArchiveError(
            f"{DAYS_VARIABLE}={days!r} is not a number of days; set it to a whole number of "
            f"days of 1 or more (the default is {DEFAULT_DAYS})."
        )
    return days


def share(total: int, days: int) -> int:
    """Objects per hourly run so that ``total`` objects are all checked within ``days``."""
    return math.ceil(total / (days * RUNS_PER_DAY))


# --- the scrub --------------------------------------------------------------------------------


def run_scrub(ext: Archive) -> str:
    """The scheduled job: one run's share. Raises, after recording everything, when an
    object could not be repaired, so the schedule shows the run failed."""
    report = scrub(ext, now=utcnow())
    if report.unrepaired:
        raise ObjectsUnrepaired(report.summary())
    return report.summary()


def scrub(
    ext: Archive,
    *,
    now: datetime,
    everything: bool = False,
    limit: int | None = None,
    actor: Actor = SCRUB_ACTOR,
    progress: Callable[[int, int], None] | None = None,
) -> ScrubReport:
    """Check the least recently checked objects: one run's share, ``limit`` of them, or
    (``everything``) all. Raises ``StorageUnavailable`` when a store does not answer."""
    if everything:
        _register_unlisted(ext)
    with ext.db.transaction() as session:
        due = _due(session, everything, limit, ext.settings)
    report = ScrubReport()
    batches = [due[start : start + BATCH] for start in range(0, len(due), BATCH)]
    done = 0
    with worker_pool([ext.store, ext.replica], READERS) as pool:
        # Each batch's copies are read while the one before is dealt with: findings,
        # repairs and marks stay in order, one at a time, and the readers do not wait.
        reading = _start_reads(ext, pool, batches[0]) if batches else None
        for number in range(len(batches)):
            objects, copies = reading
            if number + 1 < len(batches):
                reading = _start_reads(ext, pool, batches[number + 1])
            _check_batch(ext, objects, copies, now, actor, report)
            done += len(batches[number])
            if progress is not None:
                progress(done, len(due))
    return report


def _start_reads(ext: Archive, pool: Executor, ids: list[int]):
    """The objects of ``ids`` still to be checked, and their copies' reads, under way."""
    objects = _objects(ext, ids)
    copies = pool.map(read_copies, repeat(ext.store), repeat(ext.replica),
                      [obj.key for obj in objects], [obj.version_id for obj in objects],
                      [obj.sha256 for obj in objects],
                      [obj.replica_version_id if obj.replicated else None for obj in objects],
                      chunksize=READS_PER_TASK)
    return objects, copies


def _check_batch(ext: Archive, objects: list[ScrubbedObject], copies, now: datetime,
                 actor: Actor, report: ScrubReport) -> None:
    intact: list[int] = []
    try:
        for obj, (primary, replica) in zip(objects, copies, strict=True):
            if _check(ext, obj, primary, replica, now, actor, report):
                intact.append(obj.id)
    finally:
        # Even when a store stops answering part-way, what was checked counts.
        _mark_checked(ext, intact, now)


def _objects(ext: Archive, ids: list[int]) -> list[ScrubbedObject]:
    """The copy records of ``ids`` still to be checked (one destroyed meanwhile is not)."""
    with ext.db.transaction() as session:
        return [ScrubbedObject(*row) for row in session.execute(
            select(ObjectCopy.id, ObjectCopy.key, ObjectCopy.version_id, ObjectCopy.sha256,
                   ObjectCopy.size, ObjectCopy.kind, ObjectCopy.state,
                   ObjectCopy.replica_version_id, ObjectCopy.checked_at)
            .where(ObjectCopy.id.in_(ids), ObjectCopy.state.in_(CHECKED_STATES))
            .order_by(ObjectCopy.checked_at.asc().nulls_first(), ObjectCopy.id)
        )]


def _register_unlisted(ext: Archive) -> None:
    """Register the objects stored since replication last ran, so that a full check reads
    them too. Replication may be registering the same ones at this moment: its rows then
    win the unique constraint, and a second attempt finds nothing left to add."""
    try:
        with ext.db.transaction() as session:
            register_new_objects(ext, session)
    except DuplicateRow:
        with ext.db.transaction() as session:
            register_new_objects(ext, session)


def _due(
    session: Session, everything: bool, limit: int | None, settings: Settings
) -> list[int]:
    waiting = ObjectCopy.state.in_(CHECKED_STATES)
    if not everything and limit is None:
        total = session.scalar(select(func.count()).select_from(ObjectCopy).where(waiting))
        limit = share(total, scrub_days(settings))
    query = (select(ObjectCopy.id).where(waiting)
             .order_by(ObjectCopy.checked_at.asc().nulls_first(), ObjectCopy.id))
    if not everything:
        query = query.limit(limit)
    return list(session.scalars(query))


def _check(ext: Archive, obj: ScrubbedObject, primary: Problem | None, replica: Problem | None,
           now: datetime, actor: Actor, report: ScrubReport) -> bool:
    """Deal with what reading the copies found; whether both were intact."""
    report.checked += 1
    report.bytes_verified += obj.size * ((primary is None) + (obj.replicated and replica is None))
    if not obj.replicated:
        report.unreplicated += 1
        report.unreplicated_corrupt += primary is not None and primary.kind == CORRUPT
        report.unreplicated_missing += primary is not None and primary.kind == MISSING
    if primary is None and replica is None:
        return True
    if primary is not None and replica is None and obj.replicated:
        repair_primary(ext, obj, primary, now, actor, report)
    elif primary is None:
        repair_replica(ext, obj, replica, now, actor, report)
    else:
        record_unrepaired(ext, obj, primary, replica, now, actor, report)
    return False


def _mark_checked(ext: Archive, ids: list[int], now: datetime) -> None:
    if ids:
        with ext.db.transaction() as session:
            session.execute(update(ObjectCopy).where(ObjectCopy.id.in_(ids))
                            .values(checked_at=now))

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

Repairing the primary. A store writes a new version under a new version id (S3 assigns it;
with object lock the bad version may not even be deletable), so the repair is a new version
and every reference to the old id follows it in one transaction
(``backup.replication.relocate_object``: document versions, certificates, the copy
record, and each package's ``Archive.object_relocators``, e.g. ingest's derivatives). A
store-level ``restore_version(key, version_id, stream)`` that kept the id would have been
simpler for the filesystem store alone, but S3 cannot do it, and two repair paths would be
one too many. The legal-hold flag and retention of the bad version are carried over when
the store can still tell them (a missing version cannot: the hourly hold sync sets the flag
on the new version, as it would after any outage).

Destruction marks an object "destroying" before deleting it; such an object is not checked,
and a repair finished after destruction began is deleted again instead of recorded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError as DuplicateRow
from sqlalchemy.orm import Session

from archive import audit
from archive.audit import Actor
from archive.config import Settings
from archive.errors import (
    ArchiveError,
    IntegrityError,
    ObjectLocked,
    ObjectNotFound,
    StorageError,
    StorageUnavailable,
)
from archive.extensions import Archive
from archive.interfaces import ObjectStore
from archive.models import Document, DocumentVersion, Patient, utcnow
from backup.hold_sync import flag_new_copy
from backup.models import ObjectCopy, ScrubFinding
from backup.replication import copy_verified, register_new_objects, relocate_object

SCRUB_ACTOR = Actor("integrity scrub", "scheduler")
DAYS_VARIABLE = "CHARTVAULT_SCRUB_DAYS"
DEFAULT_DAYS = 30
RUNS_PER_DAY = 24  # the scheduled job runs hourly
CHECKED_STATES = ("pending", "failed", "replicated")  # "destroying" is being deleted on purpose
NOT_REPLICATED = ("pending", "failed")
BATCH = 100  # objects read from the database, and marked checked, per transaction
STATUS_PERIOD = timedelta(days=30)
HISTORY = 20
ALERT_LIMIT = 50

PRIMARY, REPLICA = "primary", "replica"
MISSING, CORRUPT = "missing", "corrupt"
REPAIRED, UNREPAIRED = "repaired", "unrepaired"


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


# --- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    key: str
    version_id: str  # in the primary store, as found
    side: str  # primary, replica
    problem: str  # missing, corrupt
    outcome: str  # repaired, unrepaired
    detail: str

    def line(self) -> str:
        return (f"{self.outcome.upper()}: {self.side} copy of {self.key} (version "
                f"{self.version_id}) {self.problem}. {self.detail}")


@dataclass
class ScrubReport:
    checked: int = 0  # objects
    repaired: int = 0  # bad copies replaced from the other copy
    unrepaired: int = 0  # bad copies with no good copy to repair them from
    bytes_verified: int = 0  # on both sides
    findings: list[Finding] = field(default_factory=list)  # of this run, unrepaired repeats too
    # Of the objects checked, those with no replica copy yet (only the primary was read),
    # and of them the ones found corrupt or missing: lost, as no other copy exists.
    unreplicated: int = 0
    unreplicated_corrupt: int = 0
    unreplicated_missing: int = 0

    def unreplicated_line(self) -> str:
        text = (f"not yet replicated: {self.unreplicated:,}, of which corrupt: "
                f"{self.unreplicated_corrupt:,}")
        if self.unreplicated_missing:
            text += f", missing: {self.unreplicated_missing:,}"
        return text

    def summary(self) -> str:
        text = f"Checked {self.checked:,} stored objects ({self.bytes_verified / 1e9:.2f} GB "
        text += "verified)"
        if self.unreplicated:
            # Apart: "intact" below must not read as "safe in two places" for these.
            text += f"; {self.unreplicated_line()}"
        if not (self.repaired or self.unrepaired):
            return text + ": all intact."
        if self.repaired:
            text += f"; repaired {self.repaired} bad cop{'y' if self.repaired == 1 else 'ies'}"
            text += " from the other copy"
        if self.unrepaired:
            text += (f"; {self.unrepaired} bad cop{'y' if self.unrepaired == 1 else 'ies'} "
                     "could NOT be repaired: no good copy is left (see the backup page)")
        return text + "."


def run_scrub(ext: Archive) -> str:
    """The scheduled job: one run's share. Raises, after recording everything, when an
    object could not be repaired, so the schedule shows the run failed."""
    report = scrub(ext, now=utcnow())
    if report.unrepaired:
        raise ObjectsUnrepaired(report.summary())
    return report.summary()


# --- the scrub --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Object:
    id: int
    key: str
    version_id: str
    sha256: str
    size: int
    kind: str
    state: str
    replica_version_id: str | None
    checked_at: datetime | None

    @property
    def replicated(self) -> bool:
        return self.state == "replicated" and bool(self.replica_version_id)


@dataclass(frozen=True)
class _Problem:
    kind: str  # missing, corrupt
    detail: str


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
    for start in range(0, len(due), BATCH):
        ids = due[start : start + BATCH]
        with ext.db.transaction() as session:
            rows = {row.id: _Object(*row) for row in session.execute(
                select(ObjectCopy.id, ObjectCopy.key, ObjectCopy.version_id, ObjectCopy.sha256,
                       ObjectCopy.size, ObjectCopy.kind, ObjectCopy.state,
                       ObjectCopy.replica_version_id, ObjectCopy.checked_at)
                .where(ObjectCopy.id.in_(ids), ObjectCopy.state.in_(CHECKED_STATES))
            )}
        intact: list[int] = []
        try:
            for done, row_id in enumerate(ids, start + 1):
                if row_id in rows and _check(ext, rows[row_id], now, actor, report):
                    intact.append(row_id)
                if progress is not None:
                    progress(done, len(due))
        finally:
            # Even when a store stops answering part-way, what was checked counts.
            _mark_checked(ext, intact, now)
    return report


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


def _check(ext: Archive, obj: _Object, now: datetime, actor: Actor, report: ScrubReport) -> bool:
    """Check one object and deal with what is found; whether both copies were intact."""
    primary = _read(ext.store, obj.key, obj.version_id, obj.sha256)
    replica = None
    if obj.replicated:
        replica = _read(ext.replica, obj.key, obj.replica_version_id, obj.sha256)
    report.checked += 1
    report.bytes_verified += obj.size * ((primary is None) + (obj.replicated and replica is None))
    if not obj.replicated:
        report.unreplicated += 1
        report.unreplicated_corrupt += primary is not None and primary.kind == CORRUPT
        report.unreplicated_missing += primary is not None and primary.kind == MISSING
    if primary is None and replica is None:
        return True
    if primary is not None and replica is None and obj.replicated:
        _repair_primary(ext, obj, primary, now, actor, report)
    elif primary is None:
        _repair_replica(ext, obj, replica, now, actor, report)
    else:
        _unrepaired(ext, obj, primary, replica, now, actor, report)
    return False


def _read(store: ObjectStore, key: str, version_id: str, sha256: str) -> _Problem | None:
    """Read one copy in full against ``sha256``: None when intact, else what is wrong."""
    try:
        for _chunk in store.open(key, version_id, expected_sha256=sha256):
            pass
    except StorageUnavailable:
        raise
    except ObjectNotFound as err:
        return _Problem(MISSING, err.message)
    except (IntegrityError, StorageError) as err:  # wrong bytes, or unreadable metadata
        return _Problem(CORRUPT, err.message)
    return None


def _mark_checked(ext: Archive, ids: list[int], now: datetime) -> None:
    if ids:
        with ext.db.transaction() as session:
            session.execute(update(ObjectCopy).where(ObjectCopy.id.in_(ids))
                            .values(checked_at=now))


# --- repairs ----------------------------------------------------------------------------------


def _delete_quietly(store: ObjectStore, key: str, version_id: str) -> str:
    """Delete a bad or unwanted version where the store allows it; a note on what became
    of it, for the finding."""
    try:
        store.delete_version(key, version_id)
    except ObjectNotFound:
        return ""
    except ObjectLocked:
        return f" The bad version {version_id} is kept: it is under legal hold or retention."
    return f" The bad version {version_id} was deleted."


def _repair_failed(ext, obj, side, problem, error, now, actor, report) -> None:
    detail = (f"{problem.detail} Repairing it from the {_other(side)} copy failed: "
              f"{error.message}")
    _record(ext, obj, side, _Problem(problem.kind, detail), UNREPAIRED, now, actor, report)


def _repair_replica(ext, obj: _Object, problem: _Problem, now, actor, report) -> None:
    old = obj.replica_version_id
    try:
        new = copy_verified(ext.store, obj.version_id, ext.replica, obj.key, obj.sha256)
    except StorageUnavailable:
        raise
    except StorageError as err:  # the primary went bad since it was read a moment ago
        _repair_failed(ext, obj, REPLICA, problem, err, now, actor, report)
        return
    note = _delete_quietly(ext.replica, obj.key, old)
    with ext.db.transaction() as session:
        changed = session.execute(
            update(ObjectCopy)
            .where(ObjectCopy.id == obj.id, ObjectCopy.state == "replicated",
                   ObjectCopy.replica_version_id == old)
            .values(replica_version_id=new, checked_at=now)
        ).rowcount
        if changed == 1:
            detail = (f"{problem.detail} Copied again from the primary as replica version "
                      f"{new}.{note}")
            _add_finding(session, obj, REPLICA, _Problem(problem.kind, detail), REPAIRED, now,
                         actor, report, {"replica_version_id": old, "new_version_id": new})
    if changed != 1:
        # Destruction began meanwhile: the new copy must not outlive the record.
        _delete_quietly(ext.replica, obj.key, new)
        return
    # The new copy of a held record is held like the copy it replaces (the database says
    # whether, because the bad copy may be missing and unable to tell).
    flag_new_copy(ext, obj.key, obj.version_id, new)


def _repair_primary(ext, obj: _Object, problem: _Problem, now, actor, report) -> None:
    old = obj.version_id
    try:
        new = copy_verified(ext.replica, obj.replica_version_id, ext.store, obj.key, obj.sha256)
        _carry_over_locks(ext.store, obj.key, old, new)
    except StorageUnavailable:
        raise
    except StorageError as err:  # the replica went bad since it was read a moment ago
        _repair_failed(ext, obj, PRIMARY, problem, err, now, actor, report)
        return
    with ext.db.transaction() as session:
        # Taking the row first holds off a destruction starting now until this commits.
        changed = session.execute(
            update(ObjectCopy)
            .where(ObjectCopy.id == obj.id, ObjectCopy.state.in_(CHECKED_STATES),
                   ObjectCopy.version_id == old)
            .values(checked_at=now)
        ).rowcount
        if changed == 1:
            relocate_object(ext, session, obj.key, old, new)
            detail = (f"{problem.detail} Restored from the replica as primary version {new}; "
                      "the records now refer to it.")
            finding_id = _add_finding(session, obj, PRIMARY, _Problem(problem.kind, detail),
                                      REPAIRED, now, actor, report, {"new_version_id": new})
    if changed != 1:
        _delete_quietly(ext.store, obj.key, new)
        return
    # Only once nothing refers to it any more.
    note = _delete_quietly(ext.store, obj.key, old)
    if note:
        with ext.db.transaction() as session:
            session.execute(update(ScrubFinding).where(ScrubFinding.id == finding_id)
                            .values(detail=ScrubFinding.detail + note))


def _carry_over_locks(store: ObjectStore, key: str, old: str, new: str) -> None:
    """The bad version's legal hold and retention, onto its replacement (when the store
    still knows them; for a missing version the hold sync sets the flag)."""
    try:
        info = store.stat(key, old)
    except StorageUnavailable:
        raise
    except StorageError:
        return
    if info.legal_hold:
        store.set_legal_hold(key, new, True)
    if info.retain_until is not None:
        store.set_retention(key, new, info.retain_until)


def _unrepaired(ext, obj: _Object, primary, replica, now, actor, report) -> None:
    if primary is not None and replica is not None:
        _record(ext, obj, PRIMARY, primary, UNREPAIRED, now, actor, report,
                extra=f" The replica copy is {replica.kind} too.")
        _record(ext, obj, REPLICA, replica, UNREPAIRED, now, actor, report,
                extra=" The primary copy is bad too.")
    else:
        _record(ext, obj, PRIMARY, primary, UNREPAIRED, now, actor, report,
                extra=" There is no replica copy yet to repair it from.")


def _other(side: str) -> str:
    return REPLICA if side == PRIMARY else PRIMARY


# --- findings ---------------------------------------------------------------------------------


def _record(ext, obj: _Object, side: str, problem: _Problem, outcome: str, now, actor, report,
            extra: str = "") -> None:
    with ext.db.transaction() as session:
        problem = _Problem(problem.kind, problem.detail + extra)
        if outcome == UNREPAIRED and _already_reported(session, obj, side):
            # Still bad, and still on the page: counted (the job fails again), not repeated.
            report.unrepaired += 1
            report.findings.append(Finding(obj.key, obj.version_id, side, problem.kind,
                                           outcome, problem.detail))
            return
        _add_finding(session, obj, side, problem, outcome, now, actor, report, {})


def _already_reported(session: Session, obj: _Object, side: str) -> bool:
    since = [ScrubFinding.found_at > obj.checked_at] if obj.checked_at is not None else []
    return session.scalar(
        select(ScrubFinding.id).where(
            ScrubFinding.key == obj.key, ScrubFinding.version_id == obj.version_id,
            ScrubFinding.side == side, ScrubFinding.outcome == UNREPAIRED, *since,
        ).limit(1)
    ) is not None


def _add_finding(session: Session, obj: _Object, side: str, problem: _Problem, outcome: str,
                 now: datetime, actor: Actor, report: ScrubReport, details: dict) -> int:
    finding = ScrubFinding(found_at=now, key=obj.key, version_id=obj.version_id, side=side,
                           problem=problem.kind, outcome=outcome, detail=problem.detail)
    session.add(finding)
    document = session.execute(
        select(DocumentVersion.document_id, DocumentVersion.number, Patient.mrn)
        .join(Document, Document.id == DocumentVersion.document_id)
        .join(Patient, Patient.id == Document.patient_id)
        .where(DocumentVersion.object_key == obj.key,
               DocumentVersion.store_version_id.in_([obj.version_id,
                                                     details.get("new_version_id", "")]))
    ).first()
    audit.record(
        session, actor, f"integrity.object_{problem.kind}",
        outcome="repaired" if outcome == REPAIRED else "failed",
        patient_mrn=document.mrn if document else None,
        document_id=document.document_id if document else None,
        version_number=document.number if document else None,
        details={"key": obj.key, "version_id": obj.version_id, "side": side,
                 "kind": obj.kind, "sha256": obj.sha256, **details},
    )
    if outcome == REPAIRED:
        report.repaired += 1
    else:
        report.unrepaired += 1
    report.findings.append(Finding(obj.key, obj.version_id, side, problem.kind, outcome,
                                   problem.detail))
    return finding.id


# --- status -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScrubStatus:
    days: int  # the period of a full pass
    objects: int  # stored objects the scrub checks
    checked_in_period: int  # of them, checked within the last ``days`` days
    never_checked: int
    last_run: datetime | None
    repaired: int  # findings over the last 30 days
    unrepaired: int
    outstanding: list[ScrubFinding]  # unrepaired, and the object not found intact since
    outstanding_count: int
    recent: list[ScrubFinding]  # newest first
    unreplicated: int = 0  # stored objects with no replica copy yet
    # Outstanding findings of objects with no replica copy: no good copy exists anywhere.
    # They come first in ``outstanding`` as well.
    lost: list[ScrubFinding] = field(default_factory=list)
    lost_count: int = 0

    @property
    def alert(self) -> bool:
        return self.outstanding_count > 0


def _outstanding():
    """Unrepaired findings whose object is still recorded under that version and has not
    been found intact since (a repair replaces the version; a passing check sets checked_at)."""
    return (
        select(ScrubFinding)
        .join(ObjectCopy, and_(ObjectCopy.key == ScrubFinding.key,
                               ObjectCopy.version_id == ScrubFinding.version_id))
        .where(ScrubFinding.outcome == UNREPAIRED,
               or_(ObjectCopy.checked_at.is_(None), ObjectCopy.checked_at < ScrubFinding.found_at))
    )


def _never_replicated():
    """On ``_outstanding()``: the object has no replica copy (none was ever made)."""
    return or_(ObjectCopy.state != "replicated", ObjectCopy.replica_version_id.is_(None))


def scrub_status(
    session: Session, now: datetime | None = None, *, days: int = DEFAULT_DAYS
) -> ScrubStatus:
    """What the backup page shows; ``days`` is the configured pass (a bad setting falls back
    to the default here: the job itself reports it)."""
    now = now or utcnow()
    days = days if days >= 1 else DEFAULT_DAYS
    checked = ObjectCopy.state.in_(CHECKED_STATES)
    objects, in_period, never, last_check = session.execute(
        select(
            func.count(),
            func.count().filter(ObjectCopy.checked_at >= now - timedelta(days=days)),
            func.count().filter(ObjectCopy.checked_at.is_(None)),
            func.max(ObjectCopy.checked_at),
        ).select_from(ObjectCopy).where(checked)
    ).one()
    last_finding = session.scalar(select(func.max(ScrubFinding.found_at)))
    counts = dict(session.execute(
        select(ScrubFinding.outcome, func.count())
        .where(ScrubFinding.found_at >= now - STATUS_PERIOD)
        .group_by(ScrubFinding.outcome)
    ).all())
    outstanding = _outstanding().subquery()
    outstanding_count = session.scalar(select(func.count()).select_from(outstanding))
    lost_count = session.scalar(
        select(func.count()).select_from(_outstanding().where(_never_replicated()).subquery()))
    unreplicated = session.scalar(
        select(func.count()).select_from(ObjectCopy)
        .where(ObjectCopy.state.in_(NOT_REPLICATED))
    )
    return ScrubStatus(
        days=days,
        objects=objects,
        checked_in_period=in_period,
        never_checked=never,
        last_run=max((t for t in (last_check, last_finding) if t is not None), default=None),
        repaired=counts.get(REPAIRED, 0),
        unrepaired=counts.get(UNREPAIRED, 0),
        outstanding=list(session.scalars(
            _outstanding()
            .order_by(case((_never_replicated(), 0), else_=1), ScrubFinding.id.desc())
            .limit(ALERT_LIMIT)
        )),
        outstanding_count=outstanding_count,
        recent=list(session.scalars(
            select(ScrubFinding).order_by(ScrubFinding.id.desc()).limit(HISTORY)
        )),
        unreplicated=unreplicated,
        lost=list(session.scalars(
            _outstanding().where(_never_replicated())
            .order_by(ScrubFinding.id.desc()).limit(ALERT_LIMIT)
        )),
        lost_count=lost_count,
    )

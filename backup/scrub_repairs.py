"""Repairs by the integrity scrub: a bad copy replaced from the good one on the other side,
or, with no good copy left, the finding recorded as unrepaired.

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
"""

from __future__ import annotations

from sqlalchemy import update

from archive.errors import ObjectLocked, ObjectNotFound, StorageError, StorageUnavailable
from archive.interfaces import ObjectStore
from backup.hold_sync import flag_new_copy
from backup.models import ObjectCopy, ScrubFinding
from backup.replication import copy_verified, relocate_object
from backup.scrub_findings import (
    CHECKED_STATES,
    PRIMARY,
    REPAIRED,
    REPLICA,
    UNREPAIRED,
    Problem,
    ScrubbedObject,
    add_finding,
    record_finding,
)


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
    record_finding(ext, obj, side, Problem(problem.kind, detail), UNREPAIRED, now, actor, report)


def repair_replica(
    ext, obj: ScrubbedObject, problem: Problem, now, actor, report
) -> None:
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
            add_finding(session, obj, REPLICA, Problem(problem.kind, detail), REPAIRED, now,
                         actor, report, {"replica_version_id": old, "new_version_id": new})
    if changed != 1:
        # Destruction began meanwhile: the new copy must not outlive the record.
        _delete_quietly(ext.replica, obj.key, new)
        return
    # The new copy of a held record is held like the copy it replaces (the database says
    # whether, because the bad copy may be missing and unable to tell).
    flag_new_copy(ext, obj.key, obj.version_id, new)


def repair_primary(
    ext, obj: ScrubbedObject, problem: Problem, now, actor, report
) -> None:
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
            finding_id = add_finding(session, obj, PRIMARY, Problem(problem.kind, detail),
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


def record_unrepaired(
    ext, obj: ScrubbedObject, primary, replica, now, actor, report
) -> None:
    if primary is not None and replica is not None:
        record_finding(ext, obj, PRIMARY, primary, UNREPAIRED, now, actor, report,
                extra=f" The replica copy is {replica.kind} too.")
        record_finding(ext, obj, REPLICA, replica, UNREPAIRED, now, actor, report,
                extra=" The primary copy is bad too.")
    else:
        record_finding(ext, obj, PRIMARY, primary, UNREPAIRED, now, actor, report,
                extra=" There is no replica copy yet to repair it from.")


def _other(side: str) -> str:
    return REPLICA if side == PRIMARY else PRIMARY

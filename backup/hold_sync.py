"""The object stores' legal-hold flags follow the database, on every copy.

The database is the truth about holds: every refusal is decided there. The flags are the
stores' own second line (S3 object legal hold; the filesystem store's refusal to delete), set
on the primary store's objects and on their copies in the replica store, so that neither copy
of a held record can be deleted behind the archive's back. They are written after the
database has committed, never inside its transaction:

- a placement or a release commits first, then reconciles the documents in the hold's scope,
  in both stores;
- whatever is filed under a hold in force (a document, a version, a derivative, or an edit
  that brings a document into a hold's scope) is flagged once its transaction has committed
  (``watch_commits``); a transaction that rolls back flags nothing, so no held orphan is left
  in the store that nobody could delete;
- a copy that replication records later for a held document is flagged as soon as it is
  recorded (``flag_new_copy``);
- a crash or an outage between a commit and its flags leaves a difference that
  ``sync_holds`` (the hourly job) finds, repairs and reports. The two stores are reconciled
  independently: one that does not answer stops only its own part, and the next run finishes
  it (setting a flag is idempotent, so a part cut short leaves nothing to undo).

A document's objects are its versions' originals and whatever the packages store for it
(``Archive.document_objects``: ingest's derivatives), asked the same way destruction asks.
The replica's copies are found through the copy records (``ObjectCopy.replica_version_id``);
an object not yet copied has no replica flag to set, and ``flag_new_copy`` flags it when it is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from itertools import chain
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, and_, event, false, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from archive import audit
from archive.audit import Actor
from archive.errors import ArchiveError, ObjectNotFound, StorageError
from archive.interfaces import ObjectStore
from archive.models import Document, DocumentVersion
from backup.models import ObjectCopy
from retention.hold_scope import held_clause, scope_of
from retention.models import LegalHold

if TYPE_CHECKING:
    from archive.extensions import Archive

log = logging.getLogger(__name__)

SYNC_ACTOR = Actor("hold-sync", "scheduler")
REPORT_SAMPLE = 50  # objects named per kind of repair in the audit event; the counts are exact
KEYS_PER_QUERY = 500  # object keys per copy-record query (a bound on the query's parameters)
_TOUCHED = "retention.touched"  # key in Session.info: flushed, not yet committed
_COMMITTED = "retention.committed"  # committed, flagged once the connection is back
PRIMARY, REPLICA = "primary", "replica"


@dataclass(frozen=True)
class DocumentObject:
    """One stored object of a document (a version's original or one of its derivatives) in
    one store: in the replica, ``version_id`` is the copy's own version id."""

    document_id: int
    key: str
    version_id: str


@dataclass
class StoreSync:
    """What a reconcile found in one store, and what it changed there."""

    checked: int = 0
    flagged: list[DocumentObject] = field(default_factory=list)  # a hold covers it: set
    cleared: list[DocumentObject] = field(default_factory=list)  # no hold covers it: cleared
    missing: list[DocumentObject] = field(default_factory=list)  # in the database, not the store
    failure: str = ""  # why this store's part stopped before the end (the store did not answer)

    @property
    def repaired(self) -> int:
        return len(self.flagged) + len(self.cleared)

    def as_json(self) -> dict:
        def named(objects: list[DocumentObject]) -> list[str]:
            return [f"{o.key} {o.version_id}" for o in objects[:REPORT_SAMPLE]]

        return {
            "checked": self.checked,
            "flagged": len(self.flagged),
            "cleared": len(self.cleared),
            "missing": len(self.missing),
            "failure": self.failure,
            "flagged_objects": named(self.flagged),
            "cleared_objects": named(self.cleared),
            "missing_objects": named(self.missing),
        }

    def summary(self) -> str:
        return (f"checked {self.checked}, {len(self.flagged)} legal-hold flags set, "
                f"{len(self.cleared)} cleared, {len(self.missing)} missing")


@dataclass
class SyncReport:
    """A reconcile of both stores: the primary's objects and their replica copies."""

    primary: StoreSync = field(default_factory=StoreSync)
    replica: StoreSync = field(default_factory=StoreSync)

    @property
    def repaired(self) -> int:
        return self.primary.repaired + self.replica.repaired

    @property
    def missing(self) -> int:
        return len(self.primary.missing) + len(self.replica.missing)

    @property
    def failure(self) -> str:
        """Why a part stopped early, naming the store; "" when both parts ran to the end."""
        return "; ".join(f"{side} store: {part.failure}"
                         for side, part in ((PRIMARY, self.primary), (REPLICA, self.replica))
                         if part.failure)

    def as_json(self) -> dict:
        # The primary's counts stay at the top level, as events before the replica part had.
        return {**self.primary.as_json(), "replica": self.replica.as_json()}


def reconcile(ext: Archive, documents: ColumnElement[bool], *, clear: bool = True) -> SyncReport:
    """Make the flags of every object of the ``documents`` (a condition on Document), in the
    primary store and on its replica copy, agree with the holds in force: set where a hold
    covers the document and, with ``clear``, cleared where none does. Without ``clear`` only
    covered documents are looked at. Each store's part runs whether or not the other's
    store answered."""
    with ext.db.transaction() as session:
        held = held_clause(session)
        if not clear:
            documents = and_(documents, held)
        primary, replica = _objects_of(ext, session, documents)
        held_ids = _held_ids(session, documents, held)
    report = SyncReport()
    for side, objects, part in ((PRIMARY, primary, report.primary),
                                (REPLICA, replica, report.replica)):
        if not objects:
            continue  # nothing to open the store for (a replica with no copies yet)
        try:
            store = ext.store if side == PRIMARY else ext.replica
        except ArchiveError as err:  # misconfigured: the other store's part still runs
            part.failure = err.message
            continue
        _apply(store, objects, held_ids, part)
        if part.cleared and not part.failure:
            _reflag_held_again(ext, store, documents, part)
    return report


def follow_hold(ext: Archive, hold: LegalHold) -> None:
    """After a placement or a release has committed: the flags of the documents in its
    scope. A failure is only logged: the hold itself is in the database, and the hourly
    sync finishes the work."""
    report = reconcile(ext, scope_of(hold).clause())
    if report.failure:
        log.warning(
            "Legal hold %s: the object store flags could not all be updated (%s); the hold "
            "sync will finish them.",
            hold.id,
            report.failure,
        )


def sync_holds(ext: Archive, actor: Actor = SYNC_ACTOR) -> SyncReport:
    """The hourly hold sync: reconcile the documents of every hold, in force or released
    (a flag left on by an interrupted release can only be on a document a released hold
    covers), in both stores; repair each difference and audit what was repaired or could
    not be."""
    with ext.db.transaction() as session:
        clauses = [scope_of(hold).clause() for hold in session.scalars(select(LegalHold))]
    report = reconcile(ext, or_(*clauses) if clauses else false())
    if report.repaired or report.missing or report.failure:
        audit.record_now(
            ext.db,
            actor,
            "hold.sync",
            # Incomplete: some object could not be flagged (a store down, or object missing).
            outcome="incomplete" if report.failure or report.missing else "repaired",
            details=report.as_json(),
        )
    return report


def flag_new_copy(ext: Archive, key: str, version_id: str, replica_version_id: str) -> bool:
    """Replication has just recorded ``replica_version_id`` as the replica copy of the
    primary's ``version_id`` of ``key``: set its legal hold when a hold in force covers the
    object's document. Whether it was flagged. Called after the record has committed, so a
    placement committing meanwhile either sees the record (and flags it itself) or is seen
    here; a failure is only logged, and the hourly sync sets the flag."""
    try:
        with ext.db.transaction() as session:
            held = _held_document_stores(ext, session, key, version_id)
        if held:
            ext.replica.set_legal_hold(key, replica_version_id, True)
    except (ArchiveError, SQLAlchemyError):
        log.exception("The replica copy of held object %s (%s) could not be flagged; the "
                      "hold sync will set the flag.", key, version_id)
        return False
    return held


def _held_document_stores(ext: Archive, session: Session, key: str, version_id: str) -> bool:
    """Whether a document a hold in force covers has version ``version_id`` of ``key`` as
    an original or as one of the objects the packages store for it."""
    held = held_clause(session)
    original = (
        select(DocumentVersion.id)
        .join(Document, Document.id == DocumentVersion.document_id)
        .where(DocumentVersion.object_key == key, DocumentVersion.store_version_id == version_id,
               held)
        .limit(1)
    )
    if session.scalar(original) is not None:
        return True
    return any(
        (key, version_id) in objects_of(session, document)
        for document in session.scalars(select(Document).where(held))
        for objects_of in ext.document_objects
    )


def _held_ids(
    session: Session, documents: ColumnElement[bool], held: ColumnElement[bool]
) -> set[int]:
    return set(session.scalars(select(Document.id).where(documents, held)))


def _objects_of(
    ext: Archive, session: Session, documents: ColumnElement[bool]
) -> tuple[list[DocumentObject], list[DocumentObject]]:
    """Every object of the documents in the primary store (the originals first, then what
    the packages store for them), and every replica copy of them that replication has
    recorded."""
    originals: list[DocumentObject] = []
    stored: list[DocumentObject] = []
    for document in session.scalars(select(Document).where(documents)):
        originals += [DocumentObject(document.id, version.object_key, version.store_version_id)
                      for version in document.versions]
        for objects_of in ext.document_objects:
            stored += [DocumentObject(document.id, key, version_id)
                       for key, version_id in objects_of(session, document)]
    primary = originals + stored
    copies = _replica_versions(session, {obj.key for obj in primary})
    replica = [DocumentObject(obj.document_id, obj.key, copies[(obj.key, obj.version_id)])
               for obj in primary if (obj.key, obj.version_id) in copies]
    return primary, replica


def _replica_versions(session: Session, keys: set[str]) -> dict[tuple[str, str], str]:
    """The replica's version id of each replicated (key, version id) among ``keys``."""
    ordered = sorted(keys)
    copies: dict[tuple[str, str], str] = {}
    for start in range(0, len(ordered), KEYS_PER_QUERY):
        rows = session.execute(
            select(ObjectCopy.key, ObjectCopy.version_id, ObjectCopy.replica_version_id)
            .where(ObjectCopy.key.in_(ordered[start:start + KEYS_PER_QUERY]),
                   ObjectCopy.state == "replicated",
                   ObjectCopy.replica_version_id.is_not(None))
        )
        copies.update({(key, version_id): replica for key, version_id, replica in rows})
    return copies


def _apply(
    store: ObjectStore, objects: list[DocumentObject], held: set[int], report: StoreSync
) -> None:
    for obj in objects:
        try:
            _settle(store, obj, obj.document_id in held, report)
        except StorageError as err:
            # Unreachable or refusing: every further call would wait for the same timeout.
            report.failure = err.message
            return


def _settle(store: ObjectStore, obj: DocumentObject, wanted: bool, report: StoreSync) -> None:
    try:
        flagged = store.stat(obj.key, obj.version_id).legal_hold
        if flagged != wanted:
            store.set_legal_hold(obj.key, obj.version_id, wanted)
    except ObjectNotFound:
        report.missing.append(obj)  # the integrity scrub's business; nothing to flag
        return
    report.checked += 1
    if flagged != wanted:
        (report.flagged if wanted else report.cleared).append(obj)


def _reflag_held_again(
    ext: Archive, store: ObjectStore, documents: ColumnElement[bool], report: StoreSync
) -> None:
    """A hold placed while this run was clearing may have found the flags still on and left
    them alone; asking the database again after clearing closes that gap."""
    with ext.db.transaction() as session:
        held = _held_ids(session, documents, held_clause(session))
    again = [obj for obj in report.cleared if obj.document_id in held]
    report.cleared = [obj for obj in report.cleared if obj.document_id not in held]
    try:
        for obj in again:
            store.set_legal_hold(obj.key, obj.version_id, True)
    except StorageError as err:
        report.failure = err.message


# --- what is filed under a hold later ------------------------------------------------------


@dataclass
class _Touched:
    document_ids: set[int] = field(default_factory=set)
    version_ids: set[int] = field(default_factory=set)  # of new derivatives


def watch_commits(ext: Archive) -> None:
    """Flag the objects of documents that a committed transaction filed, edited or gave a
    version or derivative, when a hold in force covers them. Listens on this app's sessions
    only; the flags are set after the commit, never inside the transaction, and only once
    the transaction has given its connection back: flagging takes a connection of its own,
    and a burst of filings each holding one while waiting for a second would drain the pool."""
    sessions = ext.db.sessionmaker
    event.listen(sessions, "after_flush", partial(_note_touched, ext))
    event.listen(sessions, "after_rollback", _forget_touched)
    event.listen(sessions, "after_commit", _keep_committed)
    event.listen(sessions, "after_transaction_end", partial(_flag_touched, ext))


def _note_touched(ext: Archive, session: Session, _flush_context) -> None:
    touched = session.info.setdefault(_TOUCHED, _Touched())
    version_objects = tuple(ext.version_object_models)
    for obj in chain(session.new, session.dirty):
        if isinstance(obj, Document):
            touched.document_ids.add(obj.id)
        elif isinstance(obj, DocumentVersion):
            touched.document_ids.add(obj.document_id)
        elif isinstance(obj, version_objects):
            touched.version_ids.add(obj.version_id)


def _forget_touched(session: Session) -> None:
    session.info.pop(_TOUCHED, None)


def _keep_committed(session: Session) -> None:
    if _TOUCHED in session.info:
        session.info[_COMMITTED] = session.info.pop(_TOUCHED)


def _flag_touched(ext: Archive, session: Session, transaction) -> None:
    if transaction.parent is not None:
        return  # a savepoint: the outer transaction has not committed yet
    touched = session.info.pop(_COMMITTED, None)
    if touched is None or not (touched.document_ids or touched.version_ids):
        return
    of_versions = select(DocumentVersion.document_id).where(
        DocumentVersion.id.in_(touched.version_ids)
    )
    documents = or_(Document.id.in_(touched.document_ids), Document.id.in_(of_versions))
    try:
        report = reconcile(ext, documents, clear=False)
    except (ArchiveError, SQLAlchemyError):
        # The change itself is committed and must not be reported as failed.
        log.exception("Flagging newly held objects failed; the hold sync will set the flags.")
        return
    if report.failure:
        log.warning(
            "Newly held objects could not all be flagged (%s); the hold sync will set them.",
            report.failure,
        )

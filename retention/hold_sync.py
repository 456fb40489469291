"""The object store's legal-hold flags follow the database.

The database is the truth about holds: every refusal is decided there. The flags are the
store's own second line (S3 object legal hold; the filesystem store's refusal to delete), so
they are written after the database has committed, never inside its transaction:

- a placement or a release commits first, then reconciles the documents in the hold's scope;
- whatever is filed under a hold in force (a document, a version, a derivative, or an edit
  that brings a document into a hold's scope) is flagged once its transaction has committed
  (``watch_commits``); a transaction that rolls back flags nothing, so no held orphan is left
  in the store that nobody could delete;
- a crash or an outage between a commit and its flags leaves a difference that
  ``sync_holds`` (the hourly job) finds, repairs and reports.
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
from ingest.models import Derivative
from retention.hold_scope import held_clause, scope_of
from retention.models import LegalHold

if TYPE_CHECKING:
    from archive.app import Archive

log = logging.getLogger(__name__)

SYNC_ACTOR = Actor("hold-sync", "scheduler")
REPORT_SAMPLE = 50  # objects named per kind of repair in the audit event; the counts are exact
_TOUCHED = "retention.touched"  # key in Session.info


@dataclass(frozen=True)
class DocumentObject:
    """One stored object of a document: a version's original or one of its derivatives."""

    document_id: int
    key: str
    version_id: str


@dataclass
class SyncReport:
    """What a reconcile found, and what it changed in the store."""

    checked: int = 0
    flagged: list[DocumentObject] = field(default_factory=list)  # a hold covers it: set
    cleared: list[DocumentObject] = field(default_factory=list)  # no hold covers it: cleared
    missing: list[DocumentObject] = field(default_factory=list)  # in the database, not the store
    failure: str = ""  # why the run stopped before the end (the store did not answer)

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


def reconcile(ext: Archive, documents: ColumnElement[bool], *, clear: bool = True) -> SyncReport:
    """Make the flags of every object of the ``documents`` (a condition on Document) agree
    with the holds in force: set where a hold covers the document and, with ``clear``,
    cleared where none does. Without ``clear`` only covered documents are looked at."""
    with ext.db.transaction() as session:
        held = held_clause(session)
        if not clear:
            documents = and_(documents, held)
        objects = _objects_of(session, documents)
        held_ids = _held_ids(session, documents, held)
    report = SyncReport()
    _apply(ext.store, objects, held_ids, report)
    if report.cleared and not report.failure:
        _reflag_held_again(ext, documents, report)
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
    covers), repair each difference and audit what was repaired or could not be."""
    with ext.db.transaction() as session:
        clauses = [scope_of(hold).clause() for hold in session.scalars(select(LegalHold))]
    report = reconcile(ext, or_(*clauses) if clauses else false())
    if report.repaired or report.missing or report.failure:
        audit.record_now(
            ext.db,
            actor,
            "hold.sync",
            # Incomplete: some object could not be flagged (store down, or object missing).
            outcome="incomplete" if report.failure or report.missing else "repaired",
            details=report.as_json(),
        )
    return report


def _held_ids(
    session: Session, documents: ColumnElement[bool], held: ColumnElement[bool]
) -> set[int]:
    return set(session.scalars(select(Document.id).where(documents, held)))


def _objects_of(session: Session, documents: ColumnElement[bool]) -> list[DocumentObject]:
    originals = session.execute(
        select(DocumentVersion.document_id, DocumentVersion.object_key,
               DocumentVersion.store_version_id)
        .join(Document, Document.id == DocumentVersion.document_id)
        .where(documents)
    )
    derivatives = session.execute(
        select(DocumentVersion.document_id, Derivative.object_key, Derivative.store_version_id)
        .join(DocumentVersion, DocumentVersion.id == Derivative.version_id)
        .join(Document, Document.id == DocumentVersion.document_id)
        .where(documents)
    )
    return [DocumentObject(*row) for row in chain(originals, derivatives)]


def _apply(
    store: ObjectStore, objects: list[DocumentObject], held: set[int], report: SyncReport
) -> None:
    for obj in objects:
        try:
            _settle(store, obj, obj.document_id in held, report)
        except StorageError as err:
            # Unreachable or refusing: every further call would wait for the same timeout.
            report.failure = err.message
            return


def _settle(store: ObjectStore, obj: DocumentObject, wanted: bool, report: SyncReport) -> None:
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


def _reflag_held_again(ext: Archive, documents: ColumnElement[bool], report: SyncReport) -> None:
    """A hold placed while this run was clearing may have found the flags still on and left
    them alone; asking the database again after clearing closes that gap."""
    with ext.db.transaction() as session:
        held = _held_ids(session, documents, held_clause(session))
    again = [obj for obj in report.cleared if obj.document_id in held]
    report.cleared = [obj for obj in report.cleared if obj.document_id not in held]
    try:
        for obj in again:
            ext.store.set_legal_hold(obj.key, obj.version_id, True)
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
    only; the flags are set after the commit, never inside the transaction."""
    sessions = ext.db.sessionmaker
    event.listen(sessions, "after_flush", _note_touched)
    event.listen(sessions, "after_rollback", _forget_touched)
    event.listen(sessions, "after_commit", partial(_flag_touched, ext))


def _note_touched(session: Session, _flush_context) -> None:
    touched = session.info.setdefault(_TOUCHED, _Touched())
    for obj in chain(session.new, session.dirty):
        if isinstance(obj, Document):
            touched.document_ids.add(obj.id)
        elif isinstance(obj, DocumentVersion):
            touched.document_ids.add(obj.document_id)
        elif isinstance(obj, Derivative):
            touched.version_ids.add(obj.version_id)


def _forget_touched(session: Session) -> None:
    session.info.pop(_TOUCHED, None)


def _flag_touched(ext: Archive, session: Session) -> None:
    touched = session.info.pop(_TOUCHED, None)
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

"""Filing scans: a new document for a patient, or a new version of a document.

Order of writes: an object is stored first, then the rows that point at it are committed
in one transaction with their audit event. A failed store leaves no row; a failed commit
leaves at worst an unreferenced object, never a row pointing at nothing (a filing that
lost a race to a duplicate, or whose database stopped answering before its COMMIT, deletes
its object again: ``_discard_unfiled``).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from archive import audit
from archive.auth.permissions import Principal, require
from archive.errors import (
    ArchiveError,
    BadRequest,
    Conflict,
    EmptyFile,
    StorageError,
    UnknownPatient,
)
from archive.interfaces import StoredObject, Upload
from archive.models import Document, DocumentVersion, Patient
from archive.records import scans
from archive.records.changes import NEW_VERSION, refuse_if_guarded
from archive.records.formats import checked_doc_type, sniff_media_type
from archive.records.patients import find_patient
from archive.records.reading import get_document
from archive.storage.hashing import read_chunks

if TYPE_CHECKING:
    from archive.extensions import Archive

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Filing:
    """The outcome of filing a scan: the version it became, or the identical one the
    patient already had (``duplicate``), in which case nothing new was stored."""

    version: DocumentVersion
    duplicate: bool = False


def _sha256_of(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    for chunk in read_chunks(stream):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def _object_key(document_uid: str) -> str:
    return f"documents/{document_uid}/original"


@contextmanager
def _refusals_audited(ext: Archive, principal: Principal, upload: Upload, mrn: str):
    """Every refusal of a scan (bad type, unknown patient, unreadable file) is audited."""
    try:
        yield
    except ArchiveError as err:
        audit.record_now(
            ext.db,
            principal.actor,
            "document.reject",
            outcome="refused",
            patient_mrn=mrn,
            reason=err.message,
            details={"code": err.code, "filename": upload.filename},
        )
        raise


def _check_upload(ext: Archive, upload: Upload) -> str:
    """Everything a scan's content must pass before a byte is stored; its media type."""
    head = upload.stream.read(16)
    upload.stream.seek(0)
    if not head:
        raise EmptyFile(
            f"The file {upload.filename or ''} is empty (0 bytes). Scan the page again "
            "and upload the new file."
        )
    media_type = sniff_media_type(head)
    for check in ext.intake_checks:
        check(upload)
        upload.stream.seek(0)
    return media_type


def _require_patient(ext: Archive, mrn: str) -> None:
    with ext.db.transaction() as session:
        if not session.scalar(select(Patient.id).where(Patient.mrn == mrn)):
            raise UnknownPatient(
                f"No patient with MRN {mrn} is registered. Register the patient first (the "
                "Register a patient page, `chartvault patient add` or POST /api/v1/patients) "
                "and upload again."
            )


def add_document(
    ext: Archive,
    principal: Principal,
    *,
    mrn: str,
    doc_type: str,
    upload: Upload,
    date_of_service: date | None = None,
    department: str | None = None,
    permission: str = "document.upload",
) -> Filing:
    """File a new document for a patient: check the scan, store the original, then commit
    the rows (and whatever the listening packages add, e.g. the OCR job) together.

    Scanning clerks file under ``document.upload``; a service that files a scan as part of
    its own work (release of information filing a signed authorization) names its own
    permission, so its users need not be scanning clerks.

    Bytes the patient already has in any version of any document are not filed again: the
    answer is that version, as a duplicate. Concurrent uploads of the same bytes file one
    document between them, whichever database (archive.records.scans)."""
    require(principal, permission)
    with _refusals_audited(ext, principal, upload, mrn):
        doc_type = checked_doc_type(doc_type)
        _require_patient(ext, mrn)
        media_type = _check_upload(ext, upload)
    with ext.db.transaction() as session:
        # Spares the store a copy of a known duplicate; not what makes filing race-free.
        existing = scans.filed_as(session, mrn, _sha256_of(upload.stream))
        if existing is not None:
            return _duplicate(session, principal, mrn, existing, upload)
    # The uid names the object key, so it must exist before the row is flushed.
    document = Document(
        uid=uuid.uuid4().hex,
        doc_type=doc_type,
        date_of_service=date_of_service,
        department=department or None,
        status="queued",
    )
    stored = ext.store.put(_object_key(document.uid), upload.stream, media_type=media_type)
    try:
        with _discarded_unless_committing(ext, stored) as commit:
            return _file_new_document(ext, principal, mrn, document, stored, media_type,
                                      upload, commit)
    except DBIntegrityError:
        # Most likely another upload of the same bytes for this patient committed first
        # (its claim in patient_scans won); nothing of this filing was committed.
        _discard_unfiled(ext, stored)
        with ext.db.transaction() as session:
            existing = scans.filed_as(session, mrn, stored.sha256)
            if existing is not None:
                return _duplicate(session, principal, mrn, existing, upload)
        raise  # some other constraint: not a duplicate, so not answered as one


def _file_new_document(
    ext: Archive,
    principal: Principal,
    mrn: str,
    document: Document,
    stored: StoredObject,
    media_type: str,
    upload: Upload,
    commit: _Commit,
) -> Filing:
    with ext.db.transaction() as session:
        patient = find_patient(session, mrn)
        document.patient_id = patient.id
        document.created_by_id = principal.user_id
        session.add(document)
        session.flush()
        # First, so a losing upload stops before it queues a job or writes an audit event.
        scans.claim(session, patient.id, stored.sha256, document.id)
        version = _new_version(document, 1, stored, media_type, upload, principal, reason="")
        session.add(version)
        session.flush()
        audit.record(
            session,
            principal.actor,
            "document.create",
            patient_mrn=mrn,
            document_id=document.id,
            version_number=1,
            details={"sha256": stored.sha256, "size": stored.size, "type": document.doc_type},
        )
        _notify(ext, session, version)
        session.flush()
        commit.reached = True
        return Filing(version)


@dataclass
class _Commit:
    """Whether a filing's transaction got as far as its COMMIT (every statement before it
    has run): a database failure before that certainly committed nothing; one during the
    COMMIT may have committed, its answer lost on the way."""

    reached: bool = False


@contextmanager
def _discarded_unless_committing(ext: Archive, stored: StoredObject) -> Iterator[_Commit]:
    """Delete the stored object again when the database fails before the filing's COMMIT
    (stopped, unreachable): no row can name it, and nothing else would ever notice it. A
    failure during the COMMIT keeps it, since a row may name it after all."""
    commit = _Commit()
    try:
        yield commit
    except OperationalError:
        if not commit.reached:
            _discard_unfiled(ext, stored)
        raise


def _duplicate(
    session: Session, principal: Principal, mrn: str, existing: DocumentVersion, upload: Upload
) -> Filing:
    audit.record(
        session,
        principal.actor,
        "document.duplicate",
        patient_mrn=mrn,
        document_id=existing.document_id,
        version_number=existing.number,
        details={"sha256": existing.sha256, "filename": upload.filename},
    )
    return Filing(existing, duplicate=True)


def _discard_unfiled(ext: Archive, stored: StoredObject) -> None:
    """Delete the object of a filing that was not committed. No row names it, and no hold or
    retention can be on it yet (both follow committed rows), so its own key (a fresh uid)
    goes with it. A store that refuses (a bucket whose default retention locks every new
    version, or a store that is down) keeps it; it is then logged here, and nothing else
    will notice it: the integrity scrub checks only the objects the database names."""
    try:
        ext.store.delete_version(stored.key, stored.version_id)
    except StorageError as err:
        log.warning("Unfiled object %s version %s left in the store: %s",
                    stored.key, stored.version_id, err.message)


def add_version(
    ext: Archive,
    principal: Principal,
    *,
    document_id: int,
    upload: Upload,
    reason: str,
) -> Filing:
    """A correction, rescan or amendment: a new version; every earlier one stays."""
    require(principal, "document.upload")
    if not (reason or "").strip():
        raise BadRequest("Say why this new version replaces the current one (the reason).")
    with ext.db.transaction() as session:
        document = get_document(session, document_id)
        refuse_if_guarded(ext, session, principal, document, NEW_VERSION)
        key, mrn = document.latest_version.object_key, document.patient.mrn
    with _refusals_audited(ext, principal, upload, mrn):
        media_type = _check_upload(ext, upload)
    stored = ext.store.put(key, upload.stream, media_type=media_type)
    try:
        with _discarded_unless_committing(ext, stored) as commit, \
                ext.db.transaction() as session:
            document = get_document(session, document_id)
            # Again: a hold may have been placed while the upload was being stored (the
            # stored object is then unreferenced, as after any failed commit).
            refuse_if_guarded(ext, session, principal, document, NEW_VERSION)
            number = document.latest_version.number + 1
            version = _new_version(
                document, number, stored, media_type, upload, principal, reason=reason.strip()
            )
            session.add(version)
            document.status = "queued"
            session.flush()
            scans.record(session, document.patient_id, stored.sha256, document_id)
            audit.record(
                session,
                principal.actor,
                "document.version",
                patient_mrn=mrn,
                document_id=document_id,
                version_number=number,
                reason=reason.strip(),
                details={"sha256": stored.sha256, "size": stored.size},
            )
            _notify(ext, session, version)
            session.flush()
            commit.reached = True
            return Filing(version)
    except DBIntegrityError:
        raise Conflict(
            "Another version of this document was filed at the same moment. Reload the "
            "document and try again."
        ) from None


def _notify(ext: Archive, session: Session, version: DocumentVersion) -> None:
    for listener in ext.version_listeners:
        listener(session, version)


def _new_version(document, number, stored, media_type, upload, principal, *, reason):
    return DocumentVersion(
        document=document,
        number=number,
        object_key=stored.key,
        store_version_id=stored.version_id,
        sha256=stored.sha256,
        size=stored.size,
        media_type=media_type,
        original_filename=(upload.filename or "")[:255],
        created_by_id=principal.user_id,
        created_by_name=principal.username,
        reason=reason,
    )

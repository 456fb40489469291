"""Business rules of the records core, shared by the web views, the REST API and the CLI.

Order of writes: an object is stored first, then the rows that point at it are committed
in one transaction with their audit event. A failed store leaves no row; a failed commit
leaves at worst an unreferenced object, never a row pointing at nothing (a filing that
lost a race to a duplicate, or whose database stopped answering before its COMMIT, deletes
its object again: ``_discard_unfiled``).
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, BinaryIO

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, selectinload

from archive import audit
from archive.auth.permissions import Principal, require
from archive.auth.restricted import require_chart_access
from archive.errors import (
    ArchiveError,
    BadRequest,
    Conflict,
    DuplicateMRN,
    EmptyFile,
    IntegrityError,
    NotFound,
    StorageError,
    UnknownPatient,
    UnsupportedMediaType,
)
from archive.interfaces import StoredObject, Upload
from archive.models import Document, DocumentVersion, Patient
from archive.records import scans
from archive.storage.hashing import read_chunks

if TYPE_CHECKING:
    from archive.extensions import Archive

log = logging.getLogger(__name__)

MRN_PATTERN = re.compile(r"^[A-Za-z0-9-]{1,32}$")
DOC_TYPE_PATTERN = re.compile(r"^[a-z0-9_]{2,64}$")
# The changes a package may veto (Archive.change_guards), worded to complete "it cannot be ...".
NEW_VERSION, EDIT, REASSIGN = "given a new version", "edited", "moved to another patient"

# Magic numbers of the scan formats the archive accepts; the name a file was given
# says nothing reliable about what it is.
MAGIC = [
    (b"%PDF-", "application/pdf"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
]


def sniff_media_type(head: bytes) -> str:
    for magic, media_type in MAGIC:
        if head.startswith(magic):
            return media_type
    raise UnsupportedMediaType(
        "This file is not a PDF, TIFF, PNG or JPEG scan. Export the scan in one of those "
        "formats and upload it again."
    )


# --- patients ---------------------------------------------------------------------------


MAX_PATIENT_NAME = 200
PATIENT_EDIT = "changed through its patient's details"


def _checked_name(name: str | None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise BadRequest("Give the patient's name as on the chart, e.g. 'DOE, JANE'.")
    if len(name) > MAX_PATIENT_NAME:
        raise BadRequest(f"A patient's name is at most {MAX_PATIENT_NAME} characters.")
    if not name.isprintable():
        raise BadRequest("A patient's name may not contain control characters.")
    return name


def _checked_dates(dob: date | None, date_of_death: date | None) -> None:
    if dob is None:
        raise BadRequest("Give the patient's date of birth (YYYY-MM-DD).")
    if dob > date.today():
        raise BadRequest("The date of birth is in the future; check it and try again.")
    if date_of_death and date_of_death < dob:
        raise BadRequest("The date of death is before the date of birth; check both.")
    if date_of_death and date_of_death > date.today():
        raise BadRequest("The date of death is in the future; check it and try again.")


def register_patient(
    session: Session,
    principal: Principal,
    *,
    mrn: str,
    name: str,
    dob: date | None,
    date_of_death: date | None = None,
    restricted: bool = False,
) -> Patient:
    require(principal, "patient.create")
    mrn = (mrn or "").strip()
    if not MRN_PATTERN.match(mrn):
        raise BadRequest("An MRN is 1-32 letters, digits or dashes.")
    name = _checked_name(name)
    _checked_dates(dob, date_of_death)
    if session.scalar(select(Patient.id).where(Patient.mrn == mrn)):
        raise DuplicateMRN(f"A patient with MRN {mrn} is already registered.")
    patient = Patient(
        mrn=mrn,
        name=name,
        dob=dob,
        date_of_death=date_of_death,
        restricted=restricted,
    )
    session.add(patient)
    try:
        session.flush()
    except DBIntegrityError:
        # Lost a race with another registration of the same MRN.
        raise DuplicateMRN(f"A patient with MRN {mrn} is already registered.") from None
    audit.record(
        session,
        principal.actor,
        "patient.create",
        patient_mrn=mrn,
        details={"restricted": restricted},
    )
    return patient


def edit_patient(
    ext: Archive,
    principal: Principal,
    mrn: str,
    *,
    name: str,
    dob: date | None,
    date_of_death: date | None,
    restricted: bool,
    reason: str,
) -> Patient:
    """Correct a patient's details (audited with before and after). Refused while a legal
    hold covers any of the patient's documents, as an edit of the documents would be."""
    require(principal, "patient.edit")
    reason = _required_reason(reason)
    name = _checked_name(name)
    _checked_dates(dob, date_of_death)
    with ext.db.transaction() as session:
        patient = find_patient(session, mrn)
        for document in session.scalars(select(Document).where(Document.patient_id == patient.id)):
            _refuse_if_guarded(ext, session, principal, document, PATIENT_EDIT)
        before = _patient_details(patient)
        patient.name, patient.dob = name, dob
        patient.date_of_death, patient.restricted = date_of_death, restricted
        after = _patient_details(patient)
        if before == after:
            raise BadRequest("Nothing was changed; edit a field before saving.")
        audit.record(session, principal.actor, "patient.edit", patient_mrn=mrn, reason=reason,
                     details={"before": before, "after": after})
        return patient


def _patient_details(patient: Patient) -> dict:
    return {
        "name": patient.name,
        "dob": patient.dob.isoformat(),
        "date_of_death": patient.date_of_death.isoformat() if patient.date_of_death else None,
        "restricted": patient.restricted,
    }


def find_patient(session: Session, mrn: str) -> Patient:
    patient = session.scalar(select(Patient).where(Patient.mrn == mrn))
    if patient is None:
        raise NotFound(f"No patient with MRN {mrn} is registered.")
    return patient


LOOKUP_LIMIT = 10
LOOKUP_MIN_CHARACTERS = 2


def find_patients(session: Session, principal: Principal, text: str) -> list[Patient]:
    """Patients whose MRN or name ("DOE, JANE") starts with ``text``, case-insensitively,
    for the lookup that answers as a person types. Audited: it lists who is a patient here."""
    require(principal, "patient.view")
    text = " ".join((text or "").split())
    if len(text) < LOOKUP_MIN_CHARACTERS:
        raise BadRequest(f"Type at least {LOOKUP_MIN_CHARACTERS} characters of an MRN or a name.")
    pattern = _like_escaped(text.upper()) + "%"
    found = list(
        session.scalars(
            select(Patient)
            .where(
                func.upper(Patient.mrn).like(pattern, escape="\\")
                | func.upper(Patient.name).like(pattern, escape="\\")
            )
            .order_by(Patient.name, Patient.mrn)
            .limit(LOOKUP_LIMIT)
        )
    )
    audit.record(
        session, principal.actor, "patient.lookup", details={"query": text, "results": len(found)}
    )
    return found


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def view_patient(session: Session, principal: Principal, mrn: str) -> Patient:
    """The patient with their documents (latest version loaded); the view is audited."""
    require(principal, "patient.view")
    patient = session.scalar(
        select(Patient)
        .where(Patient.mrn == mrn)
        .options(selectinload(Patient.documents).selectinload(Document.versions))
    )
    if patient is None:
        raise NotFound(f"No patient with MRN {mrn} is registered.")
    require_chart_access(session, principal, patient)
    audit.record(session, principal.actor, "patient.view", patient_mrn=mrn)
    return patient


# --- documents --------------------------------------------------------------------------


@dataclass(frozen=True)
class Filing:
    """The outcome of filing a scan: the version it became, or the identical one the
    patient already had (``duplicate``), in which case nothing new was stored."""

    version: DocumentVersion
    duplicate: bool = False


def _checked_doc_type(doc_type: str | None) -> str:
    doc_type = (doc_type or "").strip().lower()
    if not DOC_TYPE_PATTERN.match(doc_type):
        raise BadRequest(
            "Give a document type of 2-64 lowercase letters, digits or underscores, "
            "e.g. discharge_summary."
        )
    return doc_type


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
) -> Filing:
    """File a new document for a patient: check the scan, store the original, then commit
    the rows (and whatever the listening packages add, e.g. the OCR job) together.

    Bytes the patient already has in any version of any document are not filed again: the
    answer is that version, as a duplicate. Concurrent uploads of the same bytes file one
    document between them, whichever database (archive.records.scans)."""
    require(principal, "document.upload")
    with _refusals_audited(ext, principal, upload, mrn):
        doc_type = _checked_doc_type(doc_type)
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
        document = _get_document(session, document_id)
        _refuse_if_guarded(ext, session, principal, document, NEW_VERSION)
        key, mrn = document.latest_version.object_key, document.patient.mrn
    with _refusals_audited(ext, principal, upload, mrn):
        media_type = _check_upload(ext, upload)
    stored = ext.store.put(key, upload.stream, media_type=media_type)
    try:
        with _discarded_unless_committing(ext, stored) as commit, \
                ext.db.transaction() as session:
            document = _get_document(session, document_id)
            # Again: a hold may have been placed while the upload was being stored (the
            # stored object is then unreferenced, as after any failed commit).
            _refuse_if_guarded(ext, session, principal, document, NEW_VERSION)
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


def _refuse_if_guarded(
    ext: Archive, session: Session, principal: Principal, document: Document, action: str
) -> None:
    """Let the packages veto a change (retention: a legal hold) before anything is written."""
    for guard in ext.change_guards:
        guard(session, document, action, principal.actor)


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


def _get_document(session: Session, document_id: int) -> Document:
    document = session.scalar(
        select(Document)
        .where(Document.id == document_id)
        .options(selectinload(Document.versions), selectinload(Document.patient))
    )
    if document is None:
        raise NotFound(f"No document with id {document_id}.")
    return document


def view_document(session: Session, principal: Principal, document_id: int) -> Document:
    require(principal, "document.view")
    document = _get_document(session, document_id)
    require_chart_access(session, principal, document.patient, document_id=document_id)
    audit.record(
        session,
        principal.actor,
        "document.view",
        patient_mrn=document.patient.mrn,
        document_id=document_id,
    )
    return document


def get_version(document: Document, number: int) -> DocumentVersion:
    for version in document.versions:
        if version.number == number:
            return version
    raise NotFound(f"Document {document.id} has no version {number}.")


def open_original(
    ext: Archive, principal: Principal, document_id: int, number: int
) -> tuple[DocumentVersion, Iterator[bytes]]:
    """Start a download of a version's original (audited, verified as it streams)."""
    require(principal, "document.read")
    with ext.db.transaction() as session:
        document = _get_document(session, document_id)
        require_chart_access(session, principal, document.patient, document_id=document_id)
        version = get_version(document, number)
        mrn = document.patient.mrn
    chunks = audited_download(
        ext,
        principal,
        mrn=mrn,
        document_id=document_id,
        number=number,
        key=version.object_key,
        store_version_id=version.store_version_id,
        sha256=version.sha256,
        details={},
    )
    return version, chunks


def audited_download(
    ext: Archive,
    principal: Principal,
    *,
    mrn: str,
    document_id: int,
    number: int,
    key: str,
    store_version_id: str,
    sha256: str,
    details: dict,
) -> Iterator[bytes]:
    """Record the download in the audit trail, then hand out the verified bytes. The caller
    has checked the reader may open the chart (``require_chart_access``)."""
    audit.record_now(
        ext.db,
        principal.actor,
        "document.download",
        patient_mrn=mrn,
        document_id=document_id,
        version_number=number,
        details={**details, "sha256": sha256},
    )
    return read_verified(
        ext,
        principal,
        key=key,
        store_version_id=store_version_id,
        sha256=sha256,
        mrn=mrn,
        document_id=document_id,
        number=number,
    )


def read_verified(
    ext: Archive,
    principal: Principal,
    *,
    key: str,
    store_version_id: str,
    sha256: str,
    mrn: str,
    document_id: int,
    number: int,
) -> Iterator[bytes]:
    """Stored bytes for a reader, verified as they stream. The first chunk is read here,
    so a small corrupt file fails before any response starts; an integrity failure at any
    point is audited before it propagates."""
    chunks = ext.store.open(key, store_version_id, expected_sha256=sha256)

    def audited(first: bytes | None) -> Iterator[bytes]:
        if first is not None:
            yield first
        try:
            yield from chunks
        except IntegrityError as err:
            _audit_integrity_failure(ext.db, principal, mrn, document_id, number, err)
            raise

    try:
        first = next(chunks, None)
    except IntegrityError as err:
        _audit_integrity_failure(ext.db, principal, mrn, document_id, number, err)
        raise
    return audited(first)


def _audit_integrity_failure(db, principal, mrn, document_id, number, err) -> None:
    audit.record_now(
        db,
        principal.actor,
        "document.download",
        outcome="integrity_failure",
        patient_mrn=mrn,
        document_id=document_id,
        version_number=number,
        details={"error": err.message},
    )


def reassign_patient(
    ext: Archive, principal: Principal, document_id: int, *, mrn: str, reason: str
) -> Document:
    """Move a misfiled document to the right patient. Every version moves with it."""
    require(principal, "document.edit")
    reason = _required_reason(reason)
    with ext.db.transaction() as session:
        document = _get_document(session, document_id)
        _refuse_if_guarded(ext, session, principal, document, REASSIGN)
        old_mrn = document.patient.mrn
        if mrn == old_mrn:
            raise BadRequest(f"Document {document_id} is already filed under {mrn}.")
        try:
            target = find_patient(session, mrn)
        except NotFound:
            raise UnknownPatient(
                f"No patient with MRN {mrn} is registered; check the number or register "
                "the patient first."
            ) from None
        scans.move(session, document, document.patient_id, target.id)
        document.patient = target
        audit.record(
            session,
            principal.actor,
            "document.reassign",
            patient_mrn=mrn,
            document_id=document_id,
            reason=reason,
            details={"from": old_mrn, "to": mrn},
        )
        _document_changed(ext, session, document)
        return document


def correct_metadata(
    ext: Archive,
    principal: Principal,
    document_id: int,
    *,
    doc_type: str,
    date_of_service: date | None,
    department: str | None,
    reason: str,
) -> Document:
    """Correct what was typed at filing (type, date of service, department)."""
    require(principal, "document.edit")
    reason = _required_reason(reason)
    doc_type = _checked_doc_type(doc_type)
    with ext.db.transaction() as session:
        document = _get_document(session, document_id)
        _refuse_if_guarded(ext, session, principal, document, EDIT)
        before = _metadata_of(document)
        document.doc_type = doc_type
        document.date_of_service = date_of_service
        document.department = (department or "").strip() or None
        after = _metadata_of(document)
        if before == after:
            raise BadRequest("Nothing was changed; edit a field before saving.")
        audit.record(
            session,
            principal.actor,
            "document.metadata",
            patient_mrn=document.patient.mrn,
            document_id=document_id,
            reason=reason,
            details={"before": before, "after": after},
        )
        _document_changed(ext, session, document)
        return document


def _metadata_of(document: Document) -> dict:
    return {
        "type": document.doc_type,
        "date_of_service": document.date_of_service.isoformat()
        if document.date_of_service
        else None,
        "department": document.department,
    }


def _required_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise BadRequest("Give the reason for this change; it is kept in the audit trail.")
    return reason


def _document_changed(ext: Archive, session: Session, document: Document) -> None:
    for listener in ext.document_listeners:
        listener(session, document)

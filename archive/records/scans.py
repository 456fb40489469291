"""One document per scan and patient, kept by the database (``patient_scans``).

The check made before a scan is stored only spares the store a copy of a known duplicate:
two uploads of the same bytes can both pass it before either commits. What decides is the
primary key (patient_id, sha256) of ``patient_scans``, written in the transaction that files
the document (``claim``): the loser of a race meets a unique violation and is answered with
the winner's document (archive.records.filing.add_document). A lock could decide too, but
SQLite has only the database-wide write lock, and holding any lock across the store's
upload would make every other filing wait for it.

A row exists for every (patient, SHA-256) among the versions of the patient's documents,
so an upload of bytes that any version has is a duplicate, as before the table. Each change
of which documents hold a patient's bytes goes through here: filing, a new version, a move
to another patient and destruction.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, contains_eager

from archive.models import Document, DocumentVersion, Patient, PatientScan


def filed_as(session: Session, mrn: str, sha256: str) -> DocumentVersion | None:
    """The version an upload of these bytes for this patient duplicates, if any: the first
    version with them of the document the patient's row names."""
    return session.scalar(
        select(DocumentVersion)
        .join(Document)
        .join(PatientScan, (PatientScan.document_id == Document.id)
              & (PatientScan.sha256 == DocumentVersion.sha256))
        .join(Patient, Patient.id == PatientScan.patient_id)
        .where(Patient.mrn == mrn, PatientScan.sha256 == sha256)
        .options(contains_eager(DocumentVersion.document))
        .order_by(DocumentVersion.id)
        .limit(1)
    )


def claim(session: Session, patient_id: int, sha256: str, document_id: int) -> None:
    """Make ``document_id`` the patient's document for these bytes. Raises SQLAlchemy's
    ``IntegrityError`` (at this flush, or on PostgreSQL once a concurrent claim commits)
    when the patient has them already; the caller's transaction is then lost."""
    session.add(PatientScan(patient_id=patient_id, sha256=sha256, document_id=document_id))
    session.flush()


def record(session: Session, patient_id: int, sha256: str, document_id: int) -> None:
    """Note that ``document_id`` has these bytes too (a new version, a moved document). If
    the patient already has them in another document, that one stays the answer: a new
    version or a move is a deliberate change of one chosen document, not a second filing."""
    dialect = session.get_bind().dialect.name
    insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
    session.execute(
        insert(PatientScan)
        .values(patient_id=patient_id, sha256=sha256, document_id=document_id)
        .on_conflict_do_nothing()
    )


def move(session: Session, document: Document, from_patient_id: int, to_patient_id: int) -> None:
    """The document now belongs to another patient: its bytes leave the old patient (where
    another of their documents with the same bytes, if any, takes over) and join the new
    one (where a document of theirs with the same bytes stays the answer)."""
    _release(session, document.id, from_patient_id)
    shas = session.scalars(
        select(DocumentVersion.sha256).distinct()
        .where(DocumentVersion.document_id == document.id)
    ).all()
    for sha256 in shas:
        record(session, to_patient_id, sha256, document.id)


def forget(session: Session, document: Document) -> None:
    """An ``Archive.document_erasers`` hook: the document is being destroyed."""
    _release(session, document.id, document.patient_id)


def _release(session: Session, document_id: int, patient_id: int) -> None:
    """Drop the rows naming the document; bytes another document of the patient still has
    are handed to the first such document, so its uploads stay duplicates."""
    shas = session.scalars(
        select(PatientScan.sha256).where(PatientScan.document_id == document_id)
    ).all()
    session.execute(delete(PatientScan).where(PatientScan.document_id == document_id))
    for sha256 in shas:
        heir = session.scalar(
            select(DocumentVersion.document_id)
            .join(Document)
            .where(Document.patient_id == patient_id, Document.id != document_id,
                   DocumentVersion.sha256 == sha256)
            .order_by(DocumentVersion.id)
            .limit(1)
        )
        if heir is not None:
            session.add(PatientScan(patient_id=patient_id, sha256=sha256, document_id=heir))
    session.flush()

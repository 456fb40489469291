"""Which encounter a document belongs to, matched by its date of service: the encounter of
the same patient whose admission-to-discharge days (in the hospital's time zone) contain
it; an encounter not yet discharged runs to today. Matched when a document is filed or its
metadata changes, and when an encounter arrives or changes. Where several encounters
contain the date, the latest admission wins (a readmission on the day of discharge)."""

from __future__ import annotations

from datetime import date, datetime, tzinfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from archive.models import Document
from completion.models import Encounter, EncounterDocument

BY_DATE = "date_of_service"


def _day(moment: datetime, zone: tzinfo) -> date:
    return moment.astimezone(zone).date()


def _contains(encounter: Encounter, service: date, zone: tzinfo) -> bool:
    end = encounter.discharge_at
    return _day(encounter.admit_at, zone) <= service and (
        end is None or service <= _day(end, zone))


def _candidates(session: Session, patient_id: int) -> list[Encounter]:
    """The patient's encounters a document may belong to, latest admission first."""
    return list(session.scalars(
        select(Encounter).where(Encounter.patient_id == patient_id,
                                Encounter.status != "cancelled")
        .order_by(Encounter.admit_at.desc(), Encounter.id.desc())))


def _best(candidates: list[Encounter], service: date | None, zone: tzinfo) -> Encounter | None:
    if service is None:
        return None
    return next((e for e in candidates if _contains(e, service, zone)), None)


def link_document(session: Session, document: Document, zone: tzinfo,
                  candidates: list[Encounter] | None = None) -> None:
    """Match (or match again) one document by its date of service."""
    link = session.get(EncounterDocument, document.id)
    if link is not None and link.matched_by != BY_DATE:
        return  # chosen by a person: never overridden by a guess
    if candidates is None:
        candidates = _candidates(session, document.patient_id)
    encounter = _best(candidates, document.date_of_service, zone)
    if encounter is None:
        if link is not None:
            session.delete(link)
        return
    if link is None:
        session.add(EncounterDocument(document_id=document.id, encounter_id=encounter.id,
                                      matched_by=BY_DATE))
    else:
        link.encounter_id = encounter.id


def link_documents_to(session: Session, encounter: Encounter, zone: tzinfo) -> None:
    """An encounter arrived or changed: match its patient's dated documents again (the
    patient's encounters read once for all of them)."""
    session.flush()
    candidates = _candidates(session, encounter.patient_id)
    documents = list(session.scalars(select(Document).where(
        Document.patient_id == encounter.patient_id, Document.date_of_service.is_not(None))))
    for document in documents:
        link_document(session, document, zone, candidates)
    session.flush()


def unlink_document(session: Session, document: Document) -> None:
    """Disposition destroys the document: its link goes with it."""
    session.execute(delete(EncounterDocument).where(
        EncounterDocument.document_id == document.id))


def encounter_of(session: Session, document_id: int) -> Encounter | None:
    return session.scalar(select(Encounter).join(
        EncounterDocument, EncounterDocument.encounter_id == Encounter.id).where(
        EncounterDocument.document_id == document_id))


def documents_of(session: Session, encounter_ids: list[int]) -> dict[int, list[Document]]:
    """The documents of each encounter, by date of service."""
    rows = session.execute(
        select(EncounterDocument.encounter_id, Document)
        .join(Document, Document.id == EncounterDocument.document_id)
        .where(EncounterDocument.encounter_id.in_(encounter_ids))
        .order_by(Document.date_of_service, Document.id)) if encounter_ids else []
    found: dict[int, list[Document]] = {}
    for encounter_id, document in rows:
        found.setdefault(encounter_id, []).append(document)
    return found

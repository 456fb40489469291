"""Encounters: what an admission, a registration, an update, a discharge or a cancel does to
the archive's encounters, whether it came as an HL7 message or a line of a CSV; the
providers filled from them; and who may read a patient's encounters. Every change is
audited in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from archive import audit
from archive.auth.permissions import Principal, require
from archive.auth.restricted import require_chart_access
from archive.errors import BadRequest, Conflict, NotFound
from archive.models import Patient, utcnow
from archive.records.patients import find_patient, register_patient
from completion.adt import Clinician, Person, Visit
from completion.linking import link_documents_to
from completion.models import ENCOUNTER_CLASSES, Encounter, Provider

VIEW = "encounter.view"


class UnknownEncounter(NotFound):
    code = "unknown_encounter"


class EncounterState(Conflict):
    code = "encounter_state"


@dataclass(frozen=True)
class Change:
    """One ADT event or CSV line, as the services below take it."""

    event: str  # A01, A03, A04, A08, A11, A13 (a CSV line acts as A08)
    person: Person
    visit: Visit
    event_time: datetime | None = None


def apply(session: Session, principal: Principal, change: Change, source: str,
          zone: tzinfo) -> Encounter:
    """Do what the event says, audited; UnknownEncounter or EncounterState (answered AE)
    when the hospital's systems and the archive disagree."""
    patient = ensure_patient(session, principal, change.person)
    encounter = session.scalar(select(Encounter).where(Encounter.number == change.visit.number))
    if encounter is not None and encounter.patient_id != patient.id:
        raise EncounterState(
            f"Encounter {encounter.number} belongs to another patient than MRN "
            f"{patient.mrn}; a move between patients comes as a merge (A40), not as an update.")
    handler = _HANDLERS[change.event]
    encounter = handler(session, patient, encounter, change, source)
    encounter.updated_at = utcnow()
    session.flush()
    link_documents_to(session, encounter, zone)
    audit.record(session, principal.actor, f"encounter.{_ACTIONS[change.event]}",
                 patient_mrn=patient.mrn,
                 details={"encounter": encounter.number, "event": change.event,
                          "status": encounter.status, "source": source})
    return encounter


def _admit(session, patient, encounter, change, source) -> Encounter:
    if encounter is not None and encounter.status == "cancelled":
        encounter.status = "admitted"  # admitted again after a cancelled admission
    encounter = encounter or _new(session, patient, change, source, "admitted")
    _update_fields(session, encounter, change)
    return encounter


def _register(session, patient, encounter, change, source) -> Encounter:
    encounter = encounter or _new(session, patient, change, source, "registered")
    _update_fields(session, encounter, change)
    return encounter


def _update(session, patient, encounter, change, source) -> Encounter:
    """A08: interfaces send it for new visits too, so an unknown encounter is created."""
    status = "discharged" if change.visit.discharge_at else "admitted"
    encounter = encounter or _new(session, patient, change, source, status)
    _update_fields(session, encounter, change)
    if encounter.discharge_at and encounter.status in ("admitted", "registered"):
        encounter.status = "discharged"
    return encounter


def _discharge(session, patient, encounter, change, source) -> Encounter:
    encounter = _existing(encounter, change, "discharge")
    if encounter.status == "cancelled":
        raise EncounterState(f"Encounter {encounter.number} was cancelled; it cannot be "
                             "discharged. Send the admission again first.")
    discharge_at = change.visit.discharge_at or change.event_time
    if discharge_at is None:
        raise BadRequest("A discharge needs its time in PV1-45 (or EVN-6).")
    _update_fields(session, encounter, change)
    if discharge_at < encounter.admit_at:
        raise EncounterState(f"The discharge time of encounter {encounter.number} is before "
                             "its admission; check PV1-44 and PV1-45.")
    encounter.discharge_at, encounter.status = discharge_at, "discharged"
    return encounter


def _cancel_admit(session, patient, encounter, change, source) -> Encounter:
    encounter = _existing(encounter, change, "cancel the admission of")
    if encounter.status == "discharged":
        raise EncounterState(f"Encounter {encounter.number} is discharged: cancel the "
                             "discharge (A13) before the admission (A11).")
    # Its matched documents go to another encounter, if any, as apply() matches again.
    encounter.status = "cancelled"
    return encounter


def _cancel_discharge(session, patient, encounter, change, source) -> Encounter:
    encounter = _existing(encounter, change, "cancel the discharge of")
    if encounter.status != "discharged":
        raise EncounterState(f"Encounter {encounter.number} is not discharged "
                             f"({encounter.status}); there is no discharge to cancel.")
    encounter.status, encounter.discharge_at = "admitted", None
    return encounter


_HANDLERS = {"A01": _admit, "A04": _register, "A08": _update, "A03": _discharge,
             "A11": _cancel_admit, "A13": _cancel_discharge}
_ACTIONS = {"A01": "admit", "A04": "register", "A08": "update", "A03": "discharge",
            "A11": "cancel_admit", "A13": "cancel_discharge"}


def _existing(encounter: Encounter | None, change: Change, what: str) -> Encounter:
    if encounter is None:
        raise UnknownEncounter(f"No encounter {change.visit.number} is known, so the archive "
                               f"cannot {what} it; send its admission or registration first.")
    return encounter


def _new(session: Session, patient: Patient, change: Change, source: str,
         status: str) -> Encounter:
    visit = change.visit
    admit_at = visit.admit_at or change.event_time
    if admit_at is None:
        raise BadRequest(f"Encounter {visit.number} has no admission time: give PV1-44 (or "
                         "EVN-6).")
    if visit.encounter_class is None:
        raise BadRequest(f"Encounter {visit.number} has no patient class in PV1-2.")
    encounter = Encounter(number=visit.number, patient_id=patient.id, status=status,
                          encounter_class=visit.encounter_class, admit_at=admit_at,
                          department="", source=source)
    session.add(encounter)
    return encounter


def _update_fields(session: Session, encounter: Encounter, change: Change) -> None:
    """What the message states replaces what was known; what it leaves empty stays."""
    visit = change.visit
    if visit.encounter_class:
        encounter.encounter_class = visit.encounter_class
    if visit.admit_at:
        encounter.admit_at = visit.admit_at
    if visit.discharge_at and encounter.status != "cancelled":
        encounter.discharge_at = visit.discharge_at
    if visit.department:
        encounter.department = visit.department
    if visit.attending:
        encounter.attending_id = ensure_provider(session, visit.attending,
                                                 encounter.department).id


def ensure_patient(session: Session, principal: Principal, person: Person) -> Patient:
    """The patient of the MRN, registered from the message when the archive does not know
    them yet (their details in the archive are the clerks' to correct, not the feed's)."""
    patient = session.scalar(select(Patient).where(Patient.mrn == person.mrn))
    if patient is not None:
        return patient
    if person.birth_date is None:
        raise BadRequest(f"MRN {person.mrn} is not registered and the message has no birth "
                         "date (PID-7) to register the patient with.")
    return register_patient(session, principal, mrn=person.mrn, name=person.name,
                            dob=person.birth_date)


def ensure_provider(session: Session, clinician: Clinician, department: str) -> Provider:
    provider = session.scalar(select(Provider).where(Provider.identifier == clinician.identifier))
    if provider is None:
        provider = Provider(identifier=clinician.identifier, name=clinician.name,
                            department=department, active=True)
        session.add(provider)
        session.flush()
    elif clinician.name and clinician.name != clinician.identifier:
        provider.name = clinician.name
    return provider


def encounters_of(session: Session, principal: Principal, mrn: str) -> tuple[Patient, list]:
    """A patient's encounters, newest admission first; the view is audited."""
    require(principal, VIEW)
    patient = find_patient(session, mrn)
    require_chart_access(session, principal, patient)
    encounters = list(session.scalars(
        select(Encounter).where(Encounter.patient_id == patient.id)
        .options(joinedload(Encounter.attending))
        .order_by(Encounter.admit_at.desc(), Encounter.id.desc())))
    audit.record(session, principal.actor, "encounter.list", patient_mrn=mrn,
                 details={"encounters": len(encounters)})
    return patient, encounters


def encounter_json(encounter: Encounter) -> dict:
    return {
        "number": encounter.number,
        "class": encounter.encounter_class,
        "status": encounter.status,
        "admit": encounter.admit_at.isoformat(),
        "discharge": encounter.discharge_at.isoformat() if encounter.discharge_at else None,
        "attending": encounter.attending.name if encounter.attending else None,
        "attending_id": encounter.attending.identifier if encounter.attending else None,
        "department": encounter.department,
    }


def check_class(value: str) -> str:
    value = value.strip().lower().replace(" ", "_")
    if value not in ENCOUNTER_CLASSES:
        raise BadRequest(f"Class {value!r} is not one of {', '.join(ENCOUNTER_CLASSES)}.")
    return value


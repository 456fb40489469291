"""Patients: registering, correcting, finding and viewing them."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import Session, selectinload

from archive import audit
from archive.auth.permissions import Principal, require
from archive.auth.restricted import require_chart_access
from archive.errors import BadRequest, DuplicateMRN, NotFound
from archive.models import Document, Patient
from archive.records.changes import PATIENT_EDIT, refuse_if_guarded, required_reason
from archive.records.formats import MRN_PATTERN

if TYPE_CHECKING:
    from archive.extensions import Archive

MAX_PATIENT_NAME = 200
LOOKUP_LIMIT = 10
LOOKUP_MIN_CHARACTERS = 2


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
    reason = required_reason(reason)
    name = _checked_name(name)
    _checked_dates(dob, date_of_death)
    with ext.db.transaction() as session:
        patient = find_patient(session, mrn)
        for document in session.scalars(select(Document).where(Document.patient_id == patient.id)):
            refuse_if_guarded(ext, session, principal, document, PATIENT_EDIT)
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

"""A patient merge (ADT A40): the hospital found that two MRNs are one person. Every
document and encounter of the merged (prior) MRN moves to the surviving one, each document
move audited as a reassignment; nothing moves when a legal hold covers any of the prior
patient's documents (the hold's veto, Archive.change_guards, names it). The prior patient
stays registered, with nothing left under it, so that its MRN still answers."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from archive import audit
from archive.auth.permissions import Principal
from archive.models import Document, Patient
from archive.records import scans
from archive.records.changes import REASSIGN, refuse_if_guarded
from completion.adt import Person
from completion.encounters import EncounterState, UnknownEncounter, ensure_patient
from completion.models import Encounter


class UnknownPriorPatient(UnknownEncounter):
    code = "unknown_prior_patient"


def merge_patients(ext, session: Session, principal: Principal, survivor: Person,
                   prior_mrn: str) -> Patient:
    prior = session.scalar(select(Patient).where(Patient.mrn == prior_mrn))
    if prior is None:
        raise UnknownPriorPatient(f"MRN {prior_mrn} (MRG-1) is not registered; there is "
                                  "nothing to merge.")
    if prior_mrn == survivor.mrn:
        raise EncounterState(f"MRG-1 and PID-3 name the same MRN {prior_mrn}.")
    documents = list(session.scalars(select(Document).where(Document.patient_id == prior.id)))
    # Every veto before the first write: a hold's refusal is audited in its own transaction.
    for document in documents:
        refuse_if_guarded(ext, session, principal, document, REASSIGN)
    target = ensure_patient(session, principal, survivor)
    # A restricted chart stays restricted under its new MRN.
    target.restricted = target.restricted or prior.restricted
    reason = f"HL7 A40: MRN {prior_mrn} merged into {target.mrn}"
    # The encounters first, so that each moved document is matched among them again.
    moved = session.execute(update(Encounter).where(Encounter.patient_id == prior.id)
                            .values(patient_id=target.id)).rowcount
    for document in documents:
        scans.move(session, document, prior.id, target.id)
        document.patient = target
        audit.record(session, principal.actor, "document.reassign", patient_mrn=target.mrn,
                     document_id=document.id, reason=reason,
                     details={"from": prior_mrn, "to": target.mrn})
        for listener in ext.document_listeners:  # reindex under the new MRN, match again
            listener(session, document)
    audit.record(session, principal.actor, "patient.merge", patient_mrn=target.mrn,
                 reason=reason, details={"prior": prior_mrn, "documents": len(documents),
                                         "encounters": moved})
    return target

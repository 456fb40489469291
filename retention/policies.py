"""Retention policies: versioned per document type, with a default ("*") for every type
without its own, and the disposition date each gives a document.

A policy row is never updated: an edit adds a new version, so a disposition date computed
earlier still names the version that produced it, and that version can still be read.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as DBIntegrityError
from sqlalchemy.orm import Session

from archive import audit
from archive.audit import Actor
from archive.auth.permissions import Principal, require
from archive.errors import BadRequest, Conflict, NotFound
from archive.models import Document
from archive.records.formats import DOC_TYPE_PATTERN
from retention.clocks import Rules, disposition_date, last_encounter
from retention.floors import Floors, PolicyBelowFloor
from retention.models import DEFAULT_POLICY, RetentionPolicy
from retention.presets import find_preset


class NoRetentionPolicy(NotFound):
    code = "no_retention_policy"


class Disposition(NamedTuple):
    """A document's computed disposition date (None: keep) and the policy version used."""

    disposition_date: date | None
    policy: RetentionPolicy


def current_policy(session: Session, doc_type: str) -> RetentionPolicy | None:
    """The newest version of the type's own policy, else of the default; None if neither."""
    return _newest_version(session, doc_type) or _newest_version(session, DEFAULT_POLICY)


def policy_history(session: Session, doc_type: str) -> list[RetentionPolicy]:
    """Every version of the type's own policy ("*" for the default), newest first."""
    return list(
        session.scalars(
            select(RetentionPolicy)
            .where(RetentionPolicy.doc_type == doc_type)
            .order_by(RetentionPolicy.version.desc())
        )
    )


def save_policy(
    session: Session,
    principal: Principal,
    doc_type: str,
    *,
    name: str,
    rules: Rules,
    source: str,
    reason: str,
    floors: Floors,
) -> RetentionPolicy:
    """Save a policy for a document type ("*" for the default) as its next version:
    version 1 the first time, a new version on every edit; earlier versions stay as they
    were. Audited with the version before and after.

    Rules with a clock shorter than the year floor are refused (``PolicyBelowFloor``), and
    the refusal is audited in a transaction of its own: call this before the caller's
    transaction writes anything, so that one does not wait on the caller's locks."""
    require(principal, "retention.manage")
    doc_type = checked_policy_type(doc_type)
    name = _required_text(name, "name (what the policy is called in the list)")
    source = _required_text(source, "source (the law or guidance it follows)")
    reason = _required_text(reason, "reason for this version (kept in the audit trail)")
    try:
        floors.check(rules)
    except PolicyBelowFloor as refusal:
        _record_refusal(session, principal.actor, doc_type, rules, refusal, floors)
        raise
    previous = _newest_version(session, doc_type)
    policy = RetentionPolicy(
        doc_type=doc_type,
        version=previous.version + 1 if previous else 1,
        name=name,
        rules=rules.to_json(),
        source=source,
        created_by=principal.username,
        reason=reason,
    )
    session.add(policy)
    try:
        session.flush()
    except DBIntegrityError:
        # Another officer saved a version of the same type between our read and write.
        raise Conflict(
            f"Another version of the {doc_type} retention policy was saved at the same "
            "moment. Reload the policy, check it and save again."
        ) from None
    audit.record(
        session,
        principal.actor,
        "retention.policy_saved",
        reason=reason,
        details={
            "doc_type": doc_type,
            "before": policy_snapshot(previous) if previous else None,
            "after": policy_snapshot(policy),
        },
    )
    return policy


def _record_refusal(
    session: Session, actor: Actor, doc_type: str, rules: Rules, refusal: PolicyBelowFloor,
    floors: Floors,
) -> None:
    # The caller's transaction rolls back as the refusal propagates; this event must stay.
    with Session(session.get_bind(), info=session.info) as own, own.begin():
        audit.record(own, actor, "retention.policy_refused", outcome="refused",
                     reason=refusal.message,
                     details={"doc_type": doc_type, "rules": rules.to_json(),
                              "min_years": floors.min_years})


def apply_preset(
    session: Session, principal: Principal, doc_type: str, preset_key: str, *, reason: str,
    floors: Floors,
) -> RetentionPolicy:
    """Save a shipped preset (retention.presets) as the type's next policy version."""
    preset = find_preset(preset_key)
    return save_policy(
        session,
        principal,
        doc_type,
        name=preset.name,
        rules=preset.rules,
        source=preset.source,
        reason=reason,
        floors=floors,
    )


def disposition_for(session: Session, document: Document, floors: Floors) -> Disposition:
    """The document's disposition date under the policy that applies to its type now,
    from its patient's date of birth, date of death and last encounter, never before the
    floors allow (retention.floors)."""
    policy = current_policy(session, document.doc_type)
    if policy is None:
        raise NoRetentionPolicy(
            f"No retention policy covers {document.doc_type} documents and no default "
            "policy is set. A compliance officer must set the default policy first."
        )
    patient = document.patient
    when = disposition_date(
        floors.raised(Rules.from_json(policy.rules)),
        dob=patient.dob,
        last_encounter=last_encounter_of_patient(session, document.patient_id),
        date_of_death=patient.date_of_death,
    )
    return Disposition(floors.not_before(when, document.created_at.date()), policy)


def last_encounter_of_patient(session: Session, patient_id: int) -> date:
    rows = session.execute(
        select(Document.date_of_service, Document.created_at).where(
            Document.patient_id == patient_id
        )
    )
    # The filing date is the UTC date of filing: west of Greenwich (the Americas) that is
    # the local date or the day after, a later stand-in, so never a shorter retention.
    return last_encounter((served, filed_at.date()) for served, filed_at in rows)


def _newest_version(session: Session, doc_type: str) -> RetentionPolicy | None:
    return session.scalar(
        select(RetentionPolicy)
        .where(RetentionPolicy.doc_type == doc_type)
        .order_by(RetentionPolicy.version.desc())
        .limit(1)
    )


def checked_policy_type(doc_type: str | None) -> str:
    doc_type = (doc_type or "").strip().lower()
    if doc_type != DEFAULT_POLICY and not DOC_TYPE_PATTERN.match(doc_type):
        raise BadRequest(
            "Give the document type the policy is for (2-64 lowercase letters, digits or "
            f"underscores, e.g. discharge_summary), or {DEFAULT_POLICY} for the default."
        )
    return doc_type


def _required_text(text: str | None, what: str) -> str:
    # An auditor asks what a policy is, on what authority, and why it changed.
    text = (text or "").strip()
    if not text:
        raise BadRequest(f"Give the policy's {what}.")
    return text


def policy_snapshot(policy: RetentionPolicy) -> dict:
    """What a version says (the audit trail's before and after, and the API's answer)."""
    return {
        "version": policy.version,
        "name": policy.name,
        "rules": policy.rules,
        "source": policy.source,
    }

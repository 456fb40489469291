"""Disposition dates: every document dated under the policy in force for its type, in SQL,
and the preview of what a policy change would make eligible, counted with the same SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, and_, case, delete, false, func, insert, literal, select
from sqlalchemy.orm import Session

from archive.auth.permissions import Principal, require
from archive.models import Document, Patient, UTCDateTime, utcnow
from retention.clocks import Rules
from retention.date_sql import disposition_date_sql, utc_date
from retention.floors import Floors
from retention.hold_scope import held_clause
from retention.models import DEFAULT_POLICY, RetentionDate, RetentionPolicy
from retention.policies import checked_policy_type


def refresh_dates(session: Session, floors: Floors) -> int:
    """Recompute every document's disposition date (RetentionDate), one INSERT ... SELECT
    per policy in force; the number of documents dated."""
    session.execute(delete(RetentionDate))
    policies = policies_in_force(session)
    last = _last_encounters()
    now = utcnow()
    for doc_type, policy in policies.items():
        when = _disposition_date(Rules.from_json(policy.rules), last, floors)
        rows = (
            _documents_with_patients(last)
            .add_columns(when, literal(policy.id), literal(now, UTCDateTime))
            .where(covered_by(doc_type, policies))
        )
        # Counted below rather than from rowcount: SQLAlchemy 2.1 on psycopg reports -1
        # for an INSERT ... SELECT.
        session.execute(
            insert(RetentionDate.__table__).from_select(
                ["document_id", "disposition_date", "policy_id", "computed_at"], rows
            )
        )
    return session.scalar(select(func.count()).select_from(RetentionDate))


def covered_by(doc_type: str, policies: dict) -> ColumnElement[bool]:
    """The documents the policy of ``doc_type`` governs, given the types with policies."""
    if doc_type == DEFAULT_POLICY:
        return Document.doc_type.not_in([t for t in policies if t != DEFAULT_POLICY])
    return Document.doc_type == doc_type


def _last_encounters():
    """Each patient's last encounter (retention.clocks.last_encounter), as a subquery."""
    return (
        select(
            Document.patient_id,
            func.max(func.coalesce(Document.date_of_service, utc_date(Document.created_at)))
            .label("last_encounter"),
        )
        .group_by(Document.patient_id)
        .subquery()
    )


def _documents_with_patients(last):
    return (
        select(Document.id)
        .join(Patient, Patient.id == Document.patient_id)
        .join(last, last.c.patient_id == Document.patient_id)
    )


def _disposition_date(rules: Rules, last, floors: Floors) -> ColumnElement[date]:
    return disposition_date_sql(rules, dob=Patient.dob, last_encounter=last.c.last_encounter,
                                date_of_death=Patient.date_of_death,
                                filed_on=utc_date(Document.created_at), floors=floors)


@dataclass(frozen=True)
class PolicyPreview:
    """What saving ``rules`` for a type would change, judged today."""

    documents: int  # documents the policy governs
    due_now: int  # past their date under the policy in force
    due_after: int  # past their date under the proposed rules
    newly_due: int  # due under the proposed rules and not under the policy in force
    held: int  # of those due under the proposed rules, covered by a hold (left out)


def preview_policy(
    session: Session, principal: Principal, doc_type: str, rules: Rules, *, today: date,
    floors: Floors,
) -> PolicyPreview:
    """How many documents a policy change would make eligible, before it is saved: the
    same SQL as the sweep, counted instead of stored. Rules that saving would refuse
    (below the year floor) are refused here too."""
    require(principal, "retention.manage")
    doc_type = checked_policy_type(doc_type)
    floors.check(rules)
    policies = policies_in_force(session)
    in_force = policies.get(doc_type) or policies.get(DEFAULT_POLICY)
    if doc_type not in policies:
        policies = {**policies, doc_type: None}  # the type would get its own policy
    last = _last_encounters()
    after = _disposition_date(rules, last, floors) <= today
    now = (_disposition_date(Rules.from_json(in_force.rules), last, floors) <= today
           if in_force else false())
    held = held_clause(session)
    counts = (
        _documents_with_patients(last)
        .where(covered_by(doc_type, policies))
        .with_only_columns(
            func.count(),
            _count_where(now),
            _count_where(after),
            _count_where(and_(after, ~func.coalesce(now, false()))),
            _count_where(and_(after, held)),
        )
    )
    return PolicyPreview(*session.execute(counts).one())


def _count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def policies_in_force(session: Session) -> dict[str, RetentionPolicy]:
    """The newest version of each document type's policy (and of the default, "*")."""
    newest = (
        select(RetentionPolicy.doc_type, func.max(RetentionPolicy.version).label("version"))
        .group_by(RetentionPolicy.doc_type)
        .subquery()
    )
    rows = session.scalars(
        select(RetentionPolicy).join(
            newest,
            and_(
                RetentionPolicy.doc_type == newest.c.doc_type,
                RetentionPolicy.version == newest.c.version,
            ),
        )
    )
    return {policy.doc_type: policy for policy in rows}

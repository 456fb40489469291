"""Disposition, up to approval: the nightly sweep that dates every document and gathers those
past their date and under no hold into a batch, and the compliance officer's review of it.

The sweep is set-based: a few INSERT ... SELECT statements (one per policy in force), never a
Python loop over documents, so it stays well inside a night at a million documents.
Destruction of an approved batch is retention.destruction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    delete,
    false,
    func,
    insert,
    literal,
    select,
    tuple_,
)
from sqlalchemy.orm import Session

from archive import audit
from archive.audit import Actor
from archive.auth.permissions import Principal, require
from archive.errors import BadRequest, Conflict, NotFound
from archive.extensions import Archive
from archive.models import Document, Patient, UTCDateTime, utcnow
from archive.params import Paging
from retention.clocks import Rules, clock_dates
from retention.date_sql import disposition_date_sql, utc_date
from retention.floors import Floors
from retention.hold_scope import held_clause
from retention.models import (
    DEFAULT_POLICY,
    DispositionBatch,
    DispositionItem,
    RetentionDate,
    RetentionPolicy,
    Tombstone,
)
from retention.policies import checked_policy_type, last_encounter_of_patient

SWEEP_ACTOR = Actor("retention sweep", "scheduler")
# Only documents at rest are disposed of: one still in OCR waits for the next sweep.
AT_REST = ("ready", "failed")
# Batches whose pending items are not yet destroyed. "approved_once" waits for a second,
# different compliance officer; only "approved" (by two) is ever executed.
OPEN = ("review", "approved_once", "approved")
# A batch may lose items until it is fully approved: the second officer, reviewing what the
# first approved, can still keep a document; an exclusion never destroys anything.
EXCLUDABLE = ("review", "approved_once")
ITEMS_PER_PAGE = 50


class BatchNotFound(NotFound):
    code = "disposition_batch_not_found"


# --- the sweep --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    dated: int  # documents whose disposition date was computed (a date, or keep)
    undated: int  # documents no policy covers (no default policy set): kept
    held_out: int  # past their date, but a hold covers them
    added: int  # documents added to the batch for review
    batch_id: int | None

    def summary(self) -> str:
        text = f"{self.dated:,} documents dated; "
        text += (f"{self.added:,} added to batch #{self.batch_id}" if self.batch_id
                 else "none newly eligible")
        if self.held_out:
            text += f"; {self.held_out:,} eligible but left out by legal holds"
        if self.undated:
            text += (
                f"; {self.undated:,} documents have no policy (set a default policy, "
                f"{DEFAULT_POLICY}, to date them)"
            )
        return text


def nightly_sweep(ext) -> str:
    """The scheduled job: sweep as of today, committed; returns the summary."""
    with ext.db.transaction() as session:
        return sweep(session, today=date.today(), floors=Floors.of(ext.settings)).summary()


def sweep(
    session: Session, *, today: date, floors: Floors, actor: Actor = SWEEP_ACTOR
) -> SweepResult:
    """Date every document under the policies in force now (never sooner than the floors
    allow), then add those due on ``today`` (the server's local date: set the server's
    time zone to the hospital's) and under no hold to the batch in review, or to a new
    one. Audited with its counts."""
    dated = refresh_dates(session, floors)
    undated = session.scalar(select(func.count(Document.id))) - dated
    batch = _batch_in_review(session) or _new_batch(session, today, actor)
    candidates = _due(session, today, batch.id)
    held = held_clause(session)
    held_out = session.scalar(select(func.count()).select_from(candidates.where(held).subquery()))
    # Counted rather than read from rowcount (see refresh_dates).
    listed_before = _item_count(session, batch.id)
    session.execute(
        insert(DispositionItem.__table__).from_select(
            ["batch_id", "document_id", "disposition_date", "policy_id", "status", "note"],
            candidates.where(~held).with_only_columns(
                literal(batch.id),
                RetentionDate.document_id,
                RetentionDate.disposition_date,
                RetentionDate.policy_id,
                literal("pending"),
                literal(""),
            ),
        )
    )
    added = _item_count(session, batch.id) - listed_before
    if added:
        batch.swept_on = today
    elif not listed_before:
        session.delete(batch)  # nothing to review: no empty batch
    session.flush()
    result = SweepResult(dated, undated, held_out, added, batch.id if added else None)
    audit.record(session, actor, "retention.swept", details={
        "today": today.isoformat(), "dated": dated, "undated": undated,
        "held_out": held_out, "added": added, "batch": result.batch_id,
    })
    return result


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


def _due(session: Session, today: date, batch_id: int):
    """Documents past their disposition date, at rest, not pending in an open batch, not
    excluded before for this same date and policy (an exclusion stands until either
    changes), and not already listed in the batch being filled."""
    pending_elsewhere = (
        select(DispositionItem.document_id)
        .join(DispositionBatch, DispositionBatch.id == DispositionItem.batch_id)
        .where(DispositionBatch.status.in_(OPEN), DispositionItem.status == "pending")
    )
    # NOT IN rather than NOT EXISTS: PostgreSQL hashes each subquery once. As anti-joins
    # against disposition_items, the very table being inserted into, a plan made from
    # statistics taken while it was empty re-scanned it for every candidate row, over the
    # rows just inserted: 75 s instead of 4 s at 100,000 documents, hours at a million.
    excluded_before = tuple_(
        RetentionDate.document_id, RetentionDate.disposition_date, RetentionDate.policy_id
    ).in_(
        select(DispositionItem.document_id, DispositionItem.disposition_date,
               DispositionItem.policy_id).where(DispositionItem.status == "excluded")
    )
    listed = RetentionDate.document_id.in_(
        select(DispositionItem.document_id).where(DispositionItem.batch_id == batch_id)
    )
    return (
        select(RetentionDate.document_id)
        .join(Document, Document.id == RetentionDate.document_id)
        .where(
            RetentionDate.disposition_date <= today,
            Document.status.in_(AT_REST),
            RetentionDate.document_id.not_in(pending_elsewhere),
            ~excluded_before,
            ~listed,
        )
    )


def _batch_in_review(session: Session) -> DispositionBatch | None:
    # New eligible documents join the batch already in review: one list to work through.
    return session.scalar(
        select(DispositionBatch).where(DispositionBatch.status == "review")
        .order_by(DispositionBatch.id).limit(1)
    )


def _new_batch(session: Session, today: date, actor: Actor) -> DispositionBatch:
    batch = DispositionBatch(status="review", swept_on=today, created_by=actor.name)
    session.add(batch)
    session.flush()
    return batch


def _item_count(session: Session, batch_id: int) -> int:
    return session.scalar(select(func.count()).where(DispositionItem.batch_id == batch_id))


# --- review -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemView:
    """One line of a batch as the officer reviews it."""

    item: DispositionItem
    mrn: str
    patient_name: str
    doc_type: str
    date_of_service: date | None
    filed_at: datetime
    policy: RetentionPolicy
    why: list[tuple[str, date]]  # each clock that applies, with its date (empty once destroyed)


@dataclass(frozen=True)
class BatchPage:
    batch: DispositionBatch
    items: list[ItemView]
    counts: dict[str, int]  # items per status
    page: int
    pages: int

    @property
    def pending(self) -> int:
        return self.counts.get("pending", 0)


def batches(session: Session, principal: Principal) -> list[tuple[DispositionBatch, dict]]:
    """Every batch, newest first, with its item counts per status."""
    require(principal, "retention.manage")
    counts: dict[int, dict[str, int]] = {}
    for batch_id, status, count in session.execute(
        select(DispositionItem.batch_id, DispositionItem.status, func.count())
        .group_by(DispositionItem.batch_id, DispositionItem.status)
    ):
        counts.setdefault(batch_id, {})[status] = count
    rows = session.scalars(select(DispositionBatch).order_by(DispositionBatch.id.desc()))
    return [(batch, counts.get(batch.id, {})) for batch in rows]


def batch_page(session: Session, principal: Principal, batch_id: int, page: int = 1) -> BatchPage:
    """A page of a batch's items with what the officer needs to judge each one."""
    require(principal, "retention.manage")
    batch = get_batch(session, batch_id)
    counts = dict(
        session.execute(
            select(DispositionItem.status, func.count())
            .where(DispositionItem.batch_id == batch_id)
            .group_by(DispositionItem.status)
        ).all()
    )
    paging = Paging(max(page, 1), ITEMS_PER_PAGE).within(sum(counts.values()))
    page, pages = paging.page, paging.pages(sum(counts.values()))
    items = session.scalars(paging.rows_of(
        select(DispositionItem)
        .where(DispositionItem.batch_id == batch_id)
        .order_by(DispositionItem.id)
    )).all()
    # The page lists patients and their records: a view of patient data, so audited.
    audit.record(session, principal.actor, "disposition.batch_viewed",
                 details={"batch": batch_id, "page": page, "items": len(items)})
    return BatchPage(batch, [_item_view(session, item) for item in items], counts, page, pages)


def _item_view(session: Session, item: DispositionItem) -> ItemView:
    policy = session.get(RetentionPolicy, item.policy_id)
    document = session.get(Document, item.document_id)
    if document is None:  # destroyed: what is left is its tombstone
        tomb = session.get(Tombstone, item.document_id)
        return ItemView(item, tomb.patient_mrn, tomb.patient_name, tomb.doc_type,
                        tomb.date_of_service, tomb.filed_at, policy, [])
    patient = document.patient
    why = clock_dates(
        Rules.from_json(policy.rules),
        dob=patient.dob,
        last_encounter=last_encounter_of_patient(session, patient.id),
        date_of_death=patient.date_of_death,
    )
    return ItemView(item, patient.mrn, patient.name, document.doc_type,
                    document.date_of_service, document.created_at, policy, why)


def get_batch(session: Session, batch_id: int) -> DispositionBatch:
    batch = session.get(DispositionBatch, batch_id)
    if batch is None:
        raise BatchNotFound(f"There is no disposition batch #{batch_id}.")
    return batch


def exclude_item(
    session: Session, principal: Principal, item_id: int, reason: str,
    *, in_batch: int | None = None,
) -> DispositionItem:
    """Take one document out of a batch in review, for a reason kept with the item and in
    the audit trail. It is not proposed again until its date or policy changes."""
    require(principal, "retention.manage")
    reason = (reason or "").strip()
    if not reason:
        raise BadRequest("Say why this document is excluded from disposition; the reason is "
                         "kept with the batch and in the audit trail.")
    item = session.get(DispositionItem, item_id)
    if item is None or in_batch not in (None, item.batch_id):
        where = f" in batch #{in_batch}" if in_batch is not None else ""
        raise NotFound(f"There is no disposition item #{item_id}{where}.")
    batch = get_batch(session, item.batch_id)
    if batch.status not in EXCLUDABLE or item.status != "pending":
        raise Conflict(f"Document {item.document_id} can no longer be excluded: batch "
                       f"#{batch.id} is {batch.status} and the item is {item.status}.")
    item.status, item.note = "excluded", reason
    item.decided_by, item.decided_at = principal.username, utcnow()
    audit.record(session, principal.actor, "disposition.item_excluded", reason=reason,
                 document_id=item.document_id, details={"batch": batch.id, "item": item.id})
    return item


class SecondApprovalNeeded(Conflict):
    """The same officer tried to give both approvals of a batch."""

    code = "second_approval_needed"


def approve_batch(
    ext: Archive, principal: Principal, batch_id: int, *, pending_seen: int
) -> DispositionBatch:
    """Approve a batch for destruction. Two different compliance officers must approve it:
    the first approval moves it from review to "approved_once", a second one by someone
    else to "approved", and only then is it executed (retention.destruction).
    ``pending_seen`` is the number of pending items the officer was shown: when that
    changed since (the sweep added some, or an item was excluded), the approval is refused,
    so nobody approves documents they have not seen. Every refusal is audited."""
    require(principal, "retention.manage")
    try:
        with ext.db.transaction() as session:
            return _approve(session, principal, batch_id, pending_seen)
    except Conflict as refusal:
        audit.record_now(ext.db, principal.actor, "disposition.approval_refused",
                         outcome="refused", reason=refusal.message,
                         details={"batch": batch_id, "code": refusal.code})
        raise


def _approve(
    session: Session, principal: Principal, batch_id: int, pending_seen: int
) -> DispositionBatch:
    # Locked, so two officers approving at the same moment are judged one after the other.
    batch = session.scalar(select(DispositionBatch).where(DispositionBatch.id == batch_id)
                           .with_for_update().execution_options(populate_existing=True))
    if batch is None:
        raise BatchNotFound(f"There is no disposition batch #{batch_id}.")
    if batch.status not in ("review", "approved_once"):
        raise Conflict(f"Batch #{batch.id} is {batch.status}; only a batch in review or "
                       "awaiting its second approval can be approved.")
    if batch.status == "approved_once" and batch.approved_by == principal.username:
        raise SecondApprovalNeeded(
            f"You approved batch #{batch.id} already; another compliance officer must give "
            "the second approval before its documents can be destroyed."
        )
    pending = session.scalar(
        select(func.count()).where(DispositionItem.batch_id == batch.id,
                                   DispositionItem.status == "pending")
    )
    if pending == 0:
        raise Conflict(f"Batch #{batch.id} has no documents left to destroy; every item was "
                       "excluded.")
    if pending != pending_seen:
        raise Conflict(f"Batch #{batch.id} now has {pending} documents to destroy, not the "
                       f"{pending_seen} you reviewed: the batch changed since. Review the "
                       "batch again, then approve.")
    now = utcnow()
    if batch.status == "review":
        batch.status = "approved_once"
        batch.approved_by, batch.approved_at = principal.username, now
    else:
        batch.status = "approved"
        batch.second_approved_by, batch.second_approved_at = principal.username, now
    audit.record(session, principal.actor, "disposition.approved",
                 details={"batch": batch.id, "documents": pending,
                          "approval": 1 if batch.status == "approved_once" else 2})
    return batch


def approvals_missing(batch: DispositionBatch) -> str:
    """What the batch still needs before it may be executed; "" when two different
    compliance officers approved it."""
    if batch.status == "review" or batch.approved_by is None:
        return "two approvals, by two different compliance officers"
    if batch.second_approved_by is None or batch.second_approved_by == batch.approved_by:
        return f"a second approval, by a compliance officer other than {batch.approved_by}"
    return ""


def pending_ids(session: Session, batch_id: int) -> list[int]:
    return list(session.scalars(
        select(DispositionItem.id)
        .where(DispositionItem.batch_id == batch_id, DispositionItem.status == "pending")
        .order_by(DispositionItem.id)
    ))


"""Disposition review: the compliance officer's view of a batch, excluding a document from
it, and the two approvals by different officers that a batch needs before its destruction
(retention.destruction)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive import audit
from archive.auth.permissions import Principal, require
from archive.errors import BadRequest, Conflict, NotFound
from archive.extensions import Archive
from archive.models import Document, utcnow
from archive.params import Paging
from retention.clocks import Rules, clock_dates
from retention.models import DispositionBatch, DispositionItem, RetentionPolicy, Tombstone
from retention.policies import last_encounter_of_patient

# A batch may lose items until it is fully approved: the second officer, reviewing what the
# first approved, can still keep a document; an exclusion never destroys anything.
EXCLUDABLE = ("review", "approved_once")
ITEMS_PER_PAGE = 50


class BatchNotFound(NotFound):
    code = "disposition_batch_not_found"


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

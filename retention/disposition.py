"""Disposition's nightly sweep: it dates every document and gathers those past their date
and under no hold into a batch for the compliance officers' review.

The sweep is set-based: a few INSERT ... SELECT statements (one per policy in force), never a
Python loop over documents, so it stays well inside a night at a million documents.
The dating itself is retention.disposition_dates, the officers' review and approval of a
batch retention.disposition_review, and destruction of an approved batch
retention.destruction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, insert, literal, select, tuple_
from sqlalchemy.orm import Session

from archive import audit
from archive.audit import Actor
from archive.models import Document
from retention.disposition_dates import refresh_dates
from retention.floors import Floors
from retention.hold_scope import held_clause
from retention.models import DEFAULT_POLICY, DispositionBatch, DispositionItem, RetentionDate

SWEEP_ACTOR = Actor("retention sweep", "scheduler")
# Only documents at rest are disposed of: one still in OCR waits for the next sweep.
AT_REST = ("ready", "failed")
# Batches whose pending items are not yet destroyed. "approved_once" waits for a second,
# different compliance officer; only "approved" (by two) is ever executed.
OPEN = ("review", "approved_once", "approved")


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

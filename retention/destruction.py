"""Destruction of an approved disposition batch, document by document, and its certificate.

Each document goes in three steps, so a crash anywhere leaves the archive consistent and the
work retryable:

1. In one transaction: re-check, at this moment, that no hold covers the document, that it
   is older than the age floor and that the policy in force (raised to the year floor)
   still makes it due (a hold placed or a policy lengthened after the approval wins); then
   write its tombstone, state "started", and stop replication from recording new copies of
   its objects (through Archive.objects_leaving). A retry of a destruction cut short (its tombstone
   "started") re-checks the holds only: the other facts were judged when it started, but a
   hold placed since is a legal order and wins even half-way. The document then stays as
   it is, less what was deleted before the interruption (that cannot come back, and the
   note and the audit event say which objects), and its item stays pending with the
   reason as its note: the batch keeps its certificate back, and the first retry after the
   hold is released finishes the destruction.
2. Log the destruction in the replica store, then delete every version of every stored
   object of the document (originals, derivatives), in the primary and in the replica.
   Deleting what is already gone is not an error, so a retry simply goes on.
3. In one transaction: erase its rows (each package its own, through Archive.document_erasers,
   which also tells the search index to drop it), mark the tombstone "destroyed" and the
   item done, and audit it.

Only a batch approved by two different compliance officers is executed, by an officer or by
the schedule; asking for any other is refused, and the refusal audited.

When no item of the batch is pending any more, the certificate is rendered, stored as a
checksummed object, and the batch is marked executed.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, func, literal, select
from sqlalchemy.orm import Session

from archive import audit
from archive.audit import Actor
from archive.auth.permissions import Principal, require
from archive.db import relocate_rows
from archive.errors import Conflict, DocumentOnHold, ObjectNotFound
from archive.extensions import Archive
from archive.interfaces import ObjectStore, Relocation, holds_version
from archive.models import Document, DocumentVersion, Page, utcnow
from retention.certificate import CertificateFacts, CertificateLine, render_certificate
from retention.disposition_review import approvals_missing, get_batch, pending_ids
from retention.floors import Floors
from retention.holds import DISPOSE
from retention.models import (
    DispositionBatch,
    DispositionItem,
    RetentionDate,
    RetentionPolicy,
    Tombstone,
)
from retention.policies import disposition_for

EXECUTOR = Actor("disposition execution", "scheduler")
METHOD = (
    "Electronic deletion by ChartVault: every version of the original scan and of every "
    "derivative (searchable PDF, page images, thumbnails) deleted from the object store; "
    "page text and document data deleted from the database; entries removed from the search "
    "index."
)
INSTITUTION = "ChartVault archive"
# The destruction log in the replica store: one key, one version per destroyed document (a
# store lists the versions of a key, not keys, so the log is append-only by construction).
DESTRUCTION_LOG = "destruction-log/entries.json"
REPLICAS_NOTE = (
    "Every copy in the replica store was deleted with the original, and the destruction was "
    "logged in the replica so that a restore from it cannot bring these records back."
)


@dataclass(frozen=True)
class BatchOutcome:
    batch_id: int
    destroyed: int
    skipped: int
    executed: bool  # the batch is done and its certificate stored
    # Destructions cut short that a hold placed since keeps from finishing (still pending).
    halted: int = 0

    def summary(self) -> str:
        text = f"batch #{self.batch_id}: {self.destroyed} destroyed, {self.skipped} skipped"
        if self.halted:
            text += f", {self.halted} half-destroyed held back by a legal hold"
        return text + ("; certificate stored" if self.executed else "; not finished")


def run_approved(ext: Archive) -> str:
    """The scheduled job: execute every batch approved by two officers; a one-line
    summary. A batch awaiting its second approval is not touched."""
    with ext.db.transaction() as session:
        approved = list(session.scalars(
            select(DispositionBatch.id).where(DispositionBatch.status == "approved",
                                              DispositionBatch.second_approved_by.is_not(None))
            .order_by(DispositionBatch.id)
        ))
    outcomes = [execute_batch(ext, batch_id, EXECUTOR) for batch_id in approved]
    return "; ".join(o.summary() for o in outcomes) or "no approved batch waiting"


def execute_now(ext: Archive, principal: Principal, batch_id: int) -> BatchOutcome:
    """A compliance officer executes a batch approved by two officers without waiting for
    the schedule."""
    require(principal, "retention.manage")
    return execute_batch(ext, batch_id, principal.actor)


class NotFullyApproved(Conflict):
    code = "batch_not_fully_approved"


def execute_batch(ext: Archive, batch_id: int, actor: Actor) -> BatchOutcome:
    try:
        with ext.db.transaction() as session:
            batch = get_batch(session, batch_id)
            _refuse_unless_executable(batch)
            items = pending_ids(session, batch_id)
    except Conflict as refusal:
        audit.record_now(ext.db, actor, "disposition.execution_refused", outcome="refused",
                         reason=refusal.message, details={"batch": batch_id, "code": refusal.code})
        raise
    destroyed = sum(destroy_item(ext, item_id, actor) for item_id in items)
    finished = finish_batch(ext, batch_id, actor)
    with ext.db.transaction() as session:
        halted = 0 if finished else len(pending_ids(session, batch_id))
    return BatchOutcome(batch_id, destroyed, len(items) - destroyed - halted, finished, halted)


def _refuse_unless_executable(batch: DispositionBatch) -> None:
    missing = approvals_missing(batch)
    if batch.status in ("review", "approved_once") or (batch.status == "approved" and missing):
        raise NotFullyApproved(
            f"Batch #{batch.id} cannot be executed yet: it needs {missing}. Nothing was "
            "destroyed."
        )
    if batch.status != "approved":
        raise Conflict(f"Batch #{batch.id} is {batch.status}; only a batch approved by two "
                       "compliance officers is executed.")


# --- one document -------------------------------------------------------------------------------


def destroy_item(ext: Archive, item_id: int, actor: Actor) -> bool:
    """Destroy the item's document if it may still be; True when it was destroyed."""
    with ext.db.transaction() as session:
        item = session.get(DispositionItem, item_id)
        if item is None or item.status != "pending":
            return False
        if session.get(Tombstone, item.document_id) is not None:
            halted = _hold_on_started(ext, session, item, actor)
            if halted:
                _halt(ext, session, item, halted, actor)
                return False
        refusal = _why_not_now(ext, session, item, actor)
        if refusal:
            _skip(session, item, refusal, actor)
            return False
        _start_tombstone(session, item, actor)
        objects = _stored_objects(ext, session, item.document_id)
        for leaving in ext.objects_leaving:  # backup: no copy of them recorded from now
            leaving(session, objects)
        log_entry = _destruction_log_entry(session, item, objects)
    _log_in_replica(ext, log_entry)
    delete_every_version(ext.store, objects)
    delete_every_version(ext.replica, objects)
    with ext.db.transaction() as session:
        _erase(ext, session, session.get(DispositionItem, item_id), actor)
    return True


def _why_not_now(ext: Archive, session: Session, item: DispositionItem, actor: Actor) -> str:
    """Why the document must not be destroyed now; "" when it may. Judged afresh: the
    approval was given on yesterday's facts."""
    document = session.get(Document, item.document_id)
    if document is None:
        return "The document no longer exists."
    if session.get(Tombstone, document.id) is not None:
        # Destruction started before a crash: finish it. Its holds were checked just now
        # (destroy_item); the rest was judged when it started, and half a document is no
        # record to keep.
        return ""
    try:
        for guard in ext.change_guards:
            guard(session, document, DISPOSE, actor)  # a hold refuses, and audits it
    except DocumentOnHold as held:
        return held.message
    if document.status not in ("ready", "failed"):
        return "A new version is being processed; the document waits for a later batch."
    floors = Floors.of(ext.settings)
    too_young = floors.age_refusal(document.created_at.date(), date.today())
    if too_young:
        return too_young
    due = disposition_for(session, document, floors)
    if due.disposition_date is None or due.disposition_date > date.today():
        now = due.disposition_date.isoformat() if due.disposition_date else "keep permanently"
        return (f"No longer due: the policy in force ({due.policy.doc_type} version "
                f"{due.policy.version}) now gives {now}.")
    return ""


def _hold_on_started(ext: Archive, session: Session, item: DispositionItem,
                     actor: Actor) -> str:
    """The hold refusal, when a hold now covers a document whose destruction was cut short;
    "" when none does."""
    document = session.get(Document, item.document_id)
    if document is None:
        return ""  # its rows are gone already: only the bookkeeping is left to finish
    return hold_refusal(ext, session, document, actor)


def hold_refusal(ext: Archive, session: Session, document: Document, actor: Actor) -> str:
    """Why a hold forbids destroying ``document`` now (the refusal audited); "" if none."""
    try:
        for guard in ext.change_guards:
            guard(session, document, DISPOSE, actor)  # a hold refuses, and audits it
    except DocumentOnHold as held:
        return held.message
    return ""


def _halt(ext: Archive, session: Session, item: DispositionItem, hold: str,
          actor: Actor) -> None:
    """Stop a destruction cut short, because a hold covers the document now. What was
    deleted before the interruption is gone for good (a store keeps no deleted version);
    the note says so, the audit event names the objects. The item stays pending so that the
    batch's certificate waits, and the first retry after the release finishes the job."""
    document = session.get(Document, item.document_id)
    referred = {(version.object_key, version.store_version_id) for version in document.versions}
    for objects_of in ext.document_objects:
        referred.update(objects_of(session, document))
    gone = sorted(f"{key}@{version_id}" for key, version_id in referred
                  if not holds_version(ext.store, key, version_id))
    note = (f"Destruction interrupted and now halted by a legal hold: {hold} "
            f"{len(gone)} of the {len(referred)} stored object versions of the document had "
            "already been deleted from the primary store before the interruption and cannot "
            "be brought back; the rest are kept. The destruction finishes on the first retry "
            "after the hold is released.")
    item.note = note
    audit.record(session, actor, "disposition.destruction_halted", outcome="refused",
                 reason=note, document_id=item.document_id,
                 details={"batch": item.batch_id, "object_versions": len(referred),
                          "deleted_before_hold": gone})



def _skip(session: Session, item: DispositionItem, why: str, actor: Actor) -> None:
    item.status, item.note = "skipped", why
    item.decided_by, item.decided_at = actor.name, utcnow()
    audit.record(session, actor, "disposition.item_skipped", outcome="refused", reason=why,
                 document_id=item.document_id, details={"batch": item.batch_id})


def _start_tombstone(session: Session, item: DispositionItem, actor: Actor) -> None:
    if session.get(Tombstone, item.document_id) is not None:
        return
    document = session.get(Document, item.document_id)
    batch = session.get(DispositionBatch, item.batch_id)
    page_counts = dict(session.execute(
        select(Page.version_id, func.count()).join(DocumentVersion)
        .where(DocumentVersion.document_id == document.id).group_by(Page.version_id)
    ).all())
    session.add(Tombstone(
        document_id=document.id,
        document_uid=document.uid,
        batch_id=item.batch_id,
        patient_mrn=document.patient.mrn,
        patient_name=document.patient.name,
        doc_type=document.doc_type,
        date_of_service=document.date_of_service,
        filed_at=document.created_at,
        disposition_date=item.disposition_date,
        policy_id=item.policy_id,
        versions=[
            {"number": v.number, "sha256": v.sha256, "size": v.size,
             "pages": page_counts.get(v.id, 0)}
            for v in document.versions
        ],
        approved_by=batch.approved_by,
        second_approved_by=batch.second_approved_by,
        executed_by=actor.name,
        state="started",
        method=METHOD,
    ))


def _stored_objects(ext: Archive, session: Session, document_id: int) -> set[str]:
    """The keys of everything stored for the document; every version of each goes."""
    document = session.get(Document, document_id)
    keys = {version.object_key for version in document.versions}
    for objects_of in ext.document_objects:
        keys.update(key for key, _version_id in objects_of(session, document))
    return keys


def _destruction_log_entry(session: Session, item: DispositionItem, keys: set[str]) -> dict:
    tomb = session.get(Tombstone, item.document_id)
    return {
        "document_id": tomb.document_id,
        "document_uid": tomb.document_uid,
        "patient_mrn": tomb.patient_mrn,
        "batch_id": tomb.batch_id,
        "disposition_date": tomb.disposition_date.isoformat(),
        "objects": sorted(keys),
        "logged_at": utcnow().isoformat(),
    }


def _log_in_replica(ext: Archive, entry: dict) -> None:
    """Before anything is deleted, the replica learns of the destruction on its own (not
    only through the next database snapshot): a restore applies this log after the
    snapshot, so it never brings back a destroyed record."""
    body = json.dumps(entry, sort_keys=True).encode()
    ext.replica.put(DESTRUCTION_LOG, io.BytesIO(body), media_type="application/json",
                    length=len(body))


def delete_every_version(store: ObjectStore, keys: set[str]) -> None:
    for key in sorted(keys):
        for info in store.list_versions(key):
            # Gone already: a retry after a crash, or another executor.
            with suppress(ObjectNotFound):
                store.delete_version(key, info.version_id)


def _erase(ext: Archive, session: Session, item: DispositionItem, actor: Actor) -> None:
    document = session.get(Document, item.document_id)
    tomb = session.get(Tombstone, item.document_id)
    if document is not None:
        erase_document_rows(ext, session, document)
    tomb.state, tomb.destroyed_at = "destroyed", utcnow()
    item.status, item.decided_by, item.decided_at = "destroyed", actor.name, tomb.destroyed_at
    item.note = ""  # a hold that halted it for a while: told by the audit trail
    audit.record(session, actor, "document.destroyed", patient_mrn=tomb.patient_mrn,
                 document_id=tomb.document_id, reason=f"disposition batch #{item.batch_id}",
                 details={"batch": item.batch_id, "policy": item.policy_id,
                          "disposition_date": item.disposition_date.isoformat(),
                          "versions": tomb.versions, "method": METHOD})


def erase_document_rows(ext: Archive, session: Session, document: Document) -> set[str]:
    """Delete every row of the document (each package its own, through the erasers) and its
    copy records; the keys of the objects it had (deleted from the stores separately)."""
    keys = _stored_objects(ext, session, document.id)
    for gone in ext.objects_gone:
        gone(session, keys)
    for erase in ext.document_erasers:
        erase(session, document)
    versions = select(DocumentVersion.id).where(DocumentVersion.document_id == document.id)
    session.execute(delete(Page).where(Page.version_id.in_(versions)))
    session.execute(delete(DocumentVersion).where(DocumentVersion.document_id == document.id))
    session.execute(delete(RetentionDate).where(RetentionDate.document_id == document.id))
    session.delete(document)
    return keys


# --- the batch and its certificate -------------------------------------------------------------


def finish_batch(ext: Archive, batch_id: int, actor: Actor) -> bool:
    """Once no item is pending: store the certificate and mark the batch executed."""
    with ext.db.transaction() as session:
        batch = get_batch(session, batch_id)
        if batch.status != "approved" or pending_ids(session, batch_id):
            return batch.status == "executed"
        facts = certificate_facts(session, batch, actor)
    pdf = render_certificate(facts)
    stored = ext.store.put(
        f"certificates/disposition-batch-{batch_id}.pdf", io.BytesIO(pdf),
        media_type="application/pdf", length=len(pdf),
    )
    with ext.db.transaction() as session:
        batch = get_batch(session, batch_id)
        batch.certificate_key, batch.certificate_version_id = stored.key, stored.version_id
        batch.certificate_sha256, batch.certificate_size = stored.sha256, stored.size
        batch.status = "executed"
        batch.executed_by, batch.executed_at = actor.name, facts.executed_at
        audit.record(session, actor, "disposition.executed", details={
            "batch": batch_id, "destroyed": len(facts.lines), "excluded": facts.excluded,
            "skipped": facts.skipped, "certificate_sha256": stored.sha256,
        })
    return True


def certificate_facts(session: Session, batch: DispositionBatch, actor: Actor) -> CertificateFacts:
    tombs = session.scalars(
        select(Tombstone).where(Tombstone.batch_id == batch.id, Tombstone.state == "destroyed")
        .order_by(Tombstone.document_id)
    ).all()
    counts = dict(session.execute(
        select(DispositionItem.status, func.count()).where(DispositionItem.batch_id == batch.id)
        .group_by(DispositionItem.status)
    ).all())
    return CertificateFacts(
        batch_id=batch.id,
        institution=INSTITUTION,
        executed_at=utcnow(),
        approved_by=batch.approved_by,
        approved_at=batch.approved_at,
        second_approved_by=batch.second_approved_by or "",
        second_approved_at=batch.second_approved_at,
        executed_by=actor.name,
        method=METHOD,
        lines=tuple(_certificate_line(session, tomb) for tomb in tombs),
        excluded=counts.get("excluded", 0),
        skipped=counts.get("skipped", 0),
        replicas_note=REPLICAS_NOTE,
    )


def _certificate_line(session: Session, tomb: Tombstone) -> CertificateLine:
    policy = session.get(RetentionPolicy, tomb.policy_id)
    return CertificateLine(
        document_id=tomb.document_id,
        mrn=tomb.patient_mrn,
        patient_name=tomb.patient_name,
        doc_type=tomb.doc_type,
        date_of_service=tomb.date_of_service,
        filed_on=tomb.filed_at.date(),
        disposition_date=tomb.disposition_date,
        policy=f"{policy.doc_type} v{policy.version}: {policy.name}",
        versions=len(tomb.versions),
        pages=sum(version["pages"] for version in tomb.versions),
    )


def open_certificate(ext: Archive, principal: Principal, batch_id: int):
    """The certificate's bytes (verified against its checksum as they are read) and its
    file name; the download is audited."""
    require(principal, "retention.manage")
    with ext.db.transaction() as session:
        batch = get_batch(session, batch_id)
        if batch.certificate_key is None:
            raise Conflict(f"Batch #{batch_id} has no certificate yet: it is {batch.status}.")
        key, version_id, sha256 = (batch.certificate_key, batch.certificate_version_id,
                                   batch.certificate_sha256)
        audit.record(session, principal.actor, "disposition.certificate_downloaded",
                     details={"batch": batch_id, "sha256": sha256})
    chunks = ext.store.open(key, version_id, expected_sha256=sha256)
    return chunks, f"destruction-certificate-batch-{batch_id}.pdf"


# --- certificates are stored objects too (Archive.object_sources, object_relocators) ---------


def stored_certificates():
    """Every stored destruction certificate, for replication and the scrub."""
    return select(
        DispositionBatch.certificate_key.label("key"),
        DispositionBatch.certificate_version_id.label("version_id"),
        DispositionBatch.certificate_sha256.label("sha256"),
        DispositionBatch.certificate_size.label("size"),
        DispositionBatch.executed_at.label("stored_at"),
        literal("certificate").label("kind"),
    ).where(DispositionBatch.certificate_key.is_not(None))


def relocate_certificates(session: Session, moves: Sequence[Relocation]) -> None:
    """Certificates stored again under new version ids (a repair, a restore)."""
    relocate_rows(session, DispositionBatch.__table__.c.certificate_key,
                  DispositionBatch.__table__.c.certificate_version_id, moves)

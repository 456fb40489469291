"""The audit trail (HIPAA audit controls): an append-only, hash-chained event log.

Each event's hash covers its own fields and the previous event's hash, so editing or
deleting any event breaks the chain from that point on; ``verify_chain`` names the first
broken event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from archive.models import AuditEvent, AuditHead, utcnow

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who did something, and from where (an IP address, 'cli', 'worker')."""

    name: str
    source: str = ""


def _canonical(event: AuditEvent) -> bytes:
    ts = event.ts.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    fields = {
        "seq": event.seq,
        "ts": ts,
        "actor": event.actor,
        "action": event.action,
        "outcome": event.outcome,
        "patient_mrn": event.patient_mrn,
        "document_id": event.document_id,
        "version_number": event.version_number,
        "source": event.source,
        "reason": event.reason,
        "details": event.details or {},
        "prev_hash": event.prev_hash,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(_canonical(event)).hexdigest()


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    outcome: str = "success",
    patient_mrn: str | None = None,
    document_id: int | None = None,
    version_number: int | None = None,
    reason: str = "",
    details: dict | None = None,
) -> AuditEvent:
    """Append an event inside the caller's transaction, so it commits (or rolls back)
    together with the change it describes. Use ``record_now`` for events that must
    survive a failing transaction (a refused login, a failed integrity check)."""
    # Claim the next sequence number first: the UPDATE takes the lock that serializes
    # concurrent writers until this transaction ends.
    session.execute(
        update(AuditHead).where(AuditHead.id == 1).values(last_seq=AuditHead.last_seq + 1)
    )
    head = session.get(AuditHead, 1, populate_existing=True)
    event = AuditEvent(
        seq=head.last_seq,
        ts=utcnow(),
        actor=actor.name,
        action=action,
        outcome=outcome,
        patient_mrn=patient_mrn,
        document_id=document_id,
        version_number=version_number,
        source=actor.source,
        reason=reason,
        details=details or {},
        prev_hash=head.last_hash,
    )
    event.hash = compute_hash(event)
    head.last_hash = event.hash
    session.add(event)
    session.flush()
    return event


def record_now(db, actor: Actor, action: str, **fields) -> None:
    """Append an event in a transaction of its own, committed at once."""
    with db.transaction() as session:
        record(session, actor, action, **fields)


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events_checked: int
    first_broken_seq: int | None = None
    problem: str = ""


def _events_in_order(session: Session, batch: int = 1000) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
        session.expunge_all()


def verify_chain(session: Session) -> ChainReport:
    """Walk the whole chain; report the first event whose hash, link or sequence is off."""
    prev_hash, expected_seq, checked = GENESIS_HASH, 1, 0
    for event in _events_in_order(session):
        if event.seq != expected_seq:
            return ChainReport(False, checked, expected_seq, f"event {expected_seq} is missing")
        if event.prev_hash != prev_hash:
            return ChainReport(
                False, checked, event.seq, "its link to the previous event is broken"
            )
        if compute_hash(event) != event.hash:
            return ChainReport(False, checked, event.seq, "its contents were changed after writing")
        prev_hash, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    head = session.get(AuditHead, 1)
    if head is None or head.last_seq != checked or head.last_hash != prev_hash:
        return ChainReport(
            False, checked, checked + 1, "the newest events were deleted (the chain head is ahead)"
        )
    return ChainReport(True, checked)

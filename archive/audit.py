"""The audit trail (HIPAA audit controls): an append-only, MAC-chained event log.

Each event's MAC (HMAC-SHA256) covers its own fields and the previous event's MAC, so
editing or deleting any event breaks the chain from that point on; ``verify_chain`` names
the first broken event. The key is not in the database (CHARTVAULT_AUDIT_KEY, or the
``audit_key`` file `chartvault init` writes into the data directory): someone who can
write to the database but does not hold the key cannot recompute the chain after an edit.
What the key cannot show, deleting the newest events and rewinding the head row with
them, the anchors can: the head written into the replica store as write-once objects
(archive.audit_anchor), which ``verify_chain`` checks the chain against.

Installations older than the key chained their events with plain SHA-256 (``mac`` column
"sha256"). Those events keep their hashes, since re-chaining them with the key would
launder whatever was done to them before; the keyed chain continues from the last of
them, and once an event is keyed, an unkeyed one after it is a forgery. Rewriting every
event as an unkeyed one would pass that rule, so each anchor also records where the keyed
chain began: from there on an unkeyed event is a forgery too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from archive.db import AUDIT_KEY_INFO
from archive.errors import AuditKeyError
from archive.models import AuditEvent, AuditHead, utcnow

GENESIS_HASH = "0" * 64
SHA256, HMAC_SHA256 = "sha256", "hmac-sha256"  # AuditEvent.mac
MIN_KEY_LENGTH = 32
KEY_VARIABLE = "CHARTVAULT_AUDIT_KEY"


def key_bytes(text: str) -> bytes:
    """The MAC key from its configured text; refuses a key short enough to guess."""
    text = text.strip()
    if len(text) < MIN_KEY_LENGTH:
        raise AuditKeyError(
            f"The audit key ({KEY_VARIABLE} or its file) has {len(text)} characters; it needs "
            f"at least {MIN_KEY_LENGTH}. Generate one with "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`."
        )
    return text.encode()


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
    """The plain SHA-256 of events written before the chain was keyed."""
    return hashlib.sha256(_canonical(event)).hexdigest()


def compute_mac(event: AuditEvent, key: bytes) -> str:
    return hmac.new(key, _canonical(event), hashlib.sha256).hexdigest()


def _session_key(session: Session) -> bytes | None:
    return session.info.get(AUDIT_KEY_INFO)


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
    key = _session_key(session)
    if key is None:
        # Never an unkeyed event: it would be as easy to forge as the chain it replaced.
        raise AuditKeyError(
            f"The audit trail cannot be written: no audit key is configured. Run `chartvault "
            f"init`, which writes one into the data directory, or set {KEY_VARIABLE}."
        )
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
        mac=HMAC_SHA256,
    )
    event.hash = compute_mac(event, key)
    head.last_hash = event.hash
    session.add(event)
    session.flush()
    return event


def record_now(db, actor: Actor, action: str, **fields) -> None:
    """Append an event in a transaction of its own, committed at once."""
    with db.transaction() as session:
        record(session, actor, action, **fields)


@dataclass(frozen=True)
class Anchor:
    """The chain's head as written into the replica store at ``anchored_at``: the event
    ``seq`` had the MAC ``hash`` then (archive.audit_anchor)."""

    seq: int
    hash: str
    anchored_at: datetime
    name: str  # the anchor's object key, to name it in a report
    keyed_from: int = 0  # the chain's first keyed event then; 0: none was keyed yet


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events_checked: int
    first_broken_seq: int | None = None
    problem: str = ""
    anchors_checked: int = 0


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


def _mac_problem(
    event: AuditEvent, key: bytes | None, keyed: bool, keyed_since: Anchor | None
) -> str | None:
    """Why the event's own MAC does not hold, or None; ``keyed``: an earlier event was;
    ``keyed_since``: the anchor that says from which event on the chain is keyed."""
    if event.mac == SHA256:
        if keyed:
            return ("it carries a plain SHA-256 although the events before it are keyed: it "
                    "was rewritten without the audit key")
        if keyed_since is not None and event.seq >= keyed_since.keyed_from:
            return (f"it carries a plain SHA-256 although the chain has been keyed since "
                    f"event {keyed_since.keyed_from} (the replica's anchor "
                    f"{keyed_since.name}): it was rewritten without the audit key")
        if compute_hash(event) != event.hash:
            return "its contents were changed after writing"
        return None
    if event.mac != HMAC_SHA256:
        return f"its MAC scheme {event.mac!r} is unknown"
    if key is None:
        return (f"it is keyed, and no audit key is configured to check it ({KEY_VARIABLE} "
                "or the data directory's audit_key file)")
    if not hmac.compare_digest(compute_mac(event, key), event.hash):
        return ("its MAC does not match: it was changed after writing (or the configured "
                "audit key is not the one the chain was written with)")
    return None


def verify_chain(
    session: Session, *, key: bytes | None = None, anchors: Sequence[Anchor] = ()
) -> ChainReport:
    """Walk the whole chain; report the first event whose MAC, link or sequence is off,
    or that differs from an anchor, and anchored events missing from the chain's end.
    ``key`` defaults to the session's (the app's configured key)."""
    key = key if key is not None else _session_key(session)
    pending = deque(sorted(anchors, key=lambda anchor: (anchor.seq, anchor.anchored_at)))
    keyed_since = min((anchor for anchor in anchors if anchor.keyed_from),
                      key=lambda anchor: anchor.keyed_from, default=None)
    prev_hash, expected_seq, checked, keyed, anchored = GENESIS_HASH, 1, 0, False, 0
    for event in _events_in_order(session):
        if event.seq != expected_seq:
            return ChainReport(False, checked, expected_seq, f"event {expected_seq} is missing",
                               anchored)
        if event.prev_hash != prev_hash:
            return ChainReport(
                False, checked, event.seq, "its link to the previous event is broken", anchored
            )
        problem = _mac_problem(event, key, keyed, keyed_since)
        if problem:
            return ChainReport(False, checked, event.seq, problem, anchored)
        while pending and pending[0].seq <= event.seq:
            anchor = pending.popleft()
            if anchor.seq == event.seq and anchor.hash != event.hash:
                return ChainReport(
                    False, checked, event.seq,
                    f"it is not the event anchored in the replica at {_when(anchor)} "
                    f"({anchor.name}): it was rewritten after that", anchored)
            anchored += 1
        keyed = keyed or event.mac == HMAC_SHA256
        prev_hash, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    if pending:
        anchor = pending[-1]
        return ChainReport(
            False, checked, checked + 1,
            f"the newest events were deleted: the replica's anchor of {_when(anchor)} "
            f"({anchor.name}) records event {anchor.seq}, but the chain ends at event {checked}",
            anchored)
    head = session.get(AuditHead, 1)
    if head is None or head.last_seq != checked or head.last_hash != prev_hash:
        return ChainReport(
            False, checked, checked + 1,
            "the newest events were deleted (the chain head is ahead)", anchored
        )
    return ChainReport(True, checked, anchors_checked=anchored)


def _when(anchor: Anchor) -> str:
    return f"{anchor.anchored_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"

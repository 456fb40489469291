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

import csv
import hashlib
import hmac
import io
import json
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from archive.db import AUDIT_KEY_INFO
from archive.errors import AuditKeyError
from archive.models import AuditEvent, AuditHead, utcnow
from archive.params import Paging, optional_id, parse_date

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


def record_about(session: Session, actor: Actor, action: str, document, **fields) -> AuditEvent:
    """``record`` for an event about one document (archive.models.Document): it names the
    document and its patient, so that the patient's trail finds it."""
    return record(session, actor, action, patient_mrn=document.patient.mrn,
                  document_id=document.id, **fields)


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


# --- finding and exporting events ---------------------------------------------------------------


PAGE_SIZE = 50
EXPORT_COLUMNS = ("seq", "ts", "actor", "source", "action", "outcome", "patient_mrn",
                  "document_id", "version_number", "reason", "details", "hash")
EXPORT_BATCH = 1000  # rows read, and CSV lines sent, at a time: memory flat at any size


@dataclass(frozen=True)
class EventFilter:
    """What a compliance officer narrows the trail to; every field optional."""

    actor: str = ""
    action: str = ""
    outcome: str = ""
    mrn: str = ""
    document_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> EventFilter:
        """From a query string (``from`` and ``to`` are dates, YYYY-MM-DD); a bad id or date
        is a 400 naming it."""
        return cls(
            actor=args.get("actor", "").strip(), action=args.get("action", "").strip(),
            outcome=args.get("outcome", "").strip(), mrn=args.get("mrn", "").strip(),
            document_id=optional_id(args.get("document_id"), "document_id"),
            date_from=parse_date(args.get("from", "").strip(), "from"),
            date_to=parse_date(args.get("to", "").strip(), "to"))

    def apply(self, query):
        for column, value in ((AuditEvent.actor, self.actor), (AuditEvent.action, self.action),
                              (AuditEvent.outcome, self.outcome),
                              (AuditEvent.patient_mrn, self.mrn),
                              (AuditEvent.document_id, self.document_id)):
            if value not in ("", None):
                query = query.where(column == value)
        if self.date_from:
            query = query.where(AuditEvent.ts >= datetime.combine(self.date_from, time(), UTC))
        if self.date_to:
            end_exclusive = datetime.combine(self.date_to + timedelta(days=1), time(), UTC)
            query = query.where(AuditEvent.ts < end_exclusive)
        return query

    def as_details(self) -> dict:
        """The filters in force, for the audit event that records the search itself."""
        return {key: value.isoformat() if isinstance(value, date) else value
                for key, value in asdict(self).items() if value not in ("", None)}


def find_events(session: Session, filters: EventFilter,
                paging: Paging) -> tuple[int, list[AuditEvent]]:
    """The matching events' count, and one page of them, newest first."""
    total = session.scalar(filters.apply(select(func.count(AuditEvent.id))))
    events = session.scalars(paging.rows_of(
        filters.apply(select(AuditEvent)).order_by(AuditEvent.seq.desc()))).all()
    return total, list(events)


def count_for_export(session: Session, filters: EventFilter) -> tuple[int, int]:
    """How many events an export of ``filters`` holds, and the newest event it may hold (so
    that the export's own event, written next, is not in it)."""
    upto = session.scalar(select(func.coalesce(func.max(AuditEvent.seq), 0)))
    count = session.scalar(filters.apply(
        select(func.count(AuditEvent.id)).where(AuditEvent.seq <= upto)))
    return count, upto


def export_csv(db, filters: EventFilter, upto: int) -> Iterator[str]:
    """The matching events up to ``upto``, oldest first, as CSV text a batch of lines at a
    time, read ``EXPORT_BATCH`` rows at a time (``yield_per``): a million events stream in
    the memory of a thousand."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    columns = [getattr(AuditEvent, column) for column in EXPORT_COLUMNS]
    with db.transaction() as session:
        # Plain rows, not ORM objects: a tenth of the work per event.
        events = session.execute(
            filters.apply(select(*columns).where(AuditEvent.seq <= upto))
            .order_by(AuditEvent.seq).execution_options(yield_per=EXPORT_BATCH))
        for number, event in enumerate(events, 1):
            writer.writerow(export_row(event))
            if number % EXPORT_BATCH == 0:
                yield _drained(buffer)
    yield _drained(buffer)


def _drained(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def export_row(event) -> list[str]:
    """One event (an AuditEvent or a row of its EXPORT_COLUMNS) as CSV cells."""
    return [spreadsheet_safe(_text(column, getattr(event, column))) for column in EXPORT_COLUMNS]


def _text(column: str, value) -> str:
    if column == "details":
        return json.dumps(value or {}, sort_keys=True, ensure_ascii=False, default=str)
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else str(value)


def spreadsheet_safe(text: str) -> str:
    # A cell starting with = + - @ would be run as a formula by a spreadsheet.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def event_json(event: AuditEvent) -> dict:
    return {column: (getattr(event, column).isoformat() if column == "ts"
                     else getattr(event, column)) for column in EXPORT_COLUMNS}

"""Anchors of the audit chain: its head (the newest event's sequence number and MAC),
written every few minutes and at each backup into the replica store, as objects that are
never rewritten and carry the store's legal hold (on S3 an object-lock legal hold; the
filesystem replica writes read-only files and refuses to delete a held one).

The MAC key stops someone with write access to the database from re-forging an event, but
not from deleting the newest events and rewinding the head row with them: the chain that
is left is a valid chain. The anchors are out of that person's reach, and every one of them
must still be found in the chain (``audit.verify_chain``).

An anchor's key says what it anchors, ``audit/anchors/<seq>-<UTC time>-<MAC>-<keyed
from>.json``, so verifying reads one listing, not every object; the JSON inside repeats it
for people. "keyed from" is the chain's first keyed event (0 while none is): rewriting
every event of the chain as an old unkeyed one is then noticed too (archive.audit).

A restore from an older database snapshot forks the chain: the events after the snapshot
are gone, and new events take their sequence numbers. The restore writes a marker
``audit/restores/<seq>-<UTC time>.json`` the same way, and the anchors written before it
beyond its ``seq`` are then reported as lost with the restore instead of checked.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from archive.audit import HMAC_SHA256, Anchor, ChainReport, verify_chain
from archive.db import Database
from archive.errors import StorageError
from archive.interfaces import ObjectStore
from archive.models import AuditEvent, AuditHead, utcnow

ANCHORS = "audit/anchors/"
RESTORES = "audit/restores/"
_TIME = "%Y%m%dT%H%M%S%fZ"
_ANCHOR = re.compile(
    r"audit/anchors/(\d{12})-(\d{8}T\d{12}Z)-([0-9a-f]{64})-(\d{12})\.json")
_RESTORE = re.compile(r"audit/restores/(\d{12})-(\d{8}T\d{12}Z)\.json")
MEDIA_TYPE = "application/json"


@dataclass(frozen=True)
class RestorePoint:
    """A restore loaded a snapshot whose chain ended at ``seq``, at ``restored_at``."""

    seq: int
    restored_at: datetime


def _time(text: str) -> datetime:
    return datetime.strptime(text, _TIME).replace(tzinfo=UTC)


def anchor_key(seq: int, mac: str, at: datetime, keyed_from: int) -> str:
    return (f"{ANCHORS}{seq:012d}-{at.astimezone(UTC).strftime(_TIME)}-{mac}-"
            f"{keyed_from:012d}.json")


def _put_held(store: ObjectStore, key: str, body: dict) -> None:
    data = json.dumps(body, sort_keys=True, indent=1).encode()
    stored = store.put(key, io.BytesIO(data), media_type=MEDIA_TYPE, length=len(data))
    store.set_legal_hold(key, stored.version_id, True)


def _hold_every_version(store: ObjectStore, key: str) -> None:
    # A put whose hold failed (the store went away in between) is held on the next run.
    for info in store.list_versions(key):
        if not info.legal_hold:
            store.set_legal_hold(key, info.version_id, True)


def write_anchor(db: Database, store: ObjectStore) -> tuple[Anchor | None, bool]:
    """Anchor the chain's current head in ``store``: (the anchor, whether it is new). An
    anchor of the same event and MAC is not written twice; an empty chain has none.
    Raises the store's errors (``StorageUnavailable``)."""
    with db.transaction() as session:
        head = session.get(AuditHead, 1)
        seq, mac = head.last_seq, head.last_hash
        # Walks the seq index from the start: only the old unkeyed events come before it.
        keyed_from = session.scalar(
            select(AuditEvent.seq).where(AuditEvent.mac == HMAC_SHA256)
            .order_by(AuditEvent.seq).limit(1)) or 0
    if seq == 0:
        return None, False
    for anchor in list_anchors(store, f"{ANCHORS}{seq:012d}-"):
        if anchor.hash == mac:
            _hold_every_version(store, anchor.name)
            return anchor, False
    now = utcnow()
    key = anchor_key(seq, mac, now, keyed_from)
    _put_held(store, key, {"seq": seq, "mac": mac, "keyed_from": keyed_from,
                           "anchored_at": now.isoformat()})
    return Anchor(seq, mac, now, key, keyed_from), True


def list_anchors(store: ObjectStore, prefix: str = ANCHORS) -> list[Anchor]:
    """The anchors in ``store``, by sequence number. Keys of another shape under the
    prefix are not the archive's and are left out."""
    found = []
    for key in store.list_keys(prefix):
        match = _ANCHOR.fullmatch(key)
        if match:
            found.append(Anchor(int(match[1]), match[3], _time(match[2]), key,
                                int(match[4])))
    return sorted(found, key=lambda anchor: (anchor.seq, anchor.anchored_at))


def record_restore(store: ObjectStore, seq: int) -> RestorePoint:
    """Mark that the chain was restored to end at event ``seq`` (before the restore
    writes events of its own), so the anchors of the events lost with it stop counting."""
    point = RestorePoint(seq, utcnow())
    key = f"{RESTORES}{seq:012d}-{point.restored_at.strftime(_TIME)}.json"
    _put_held(store, key, {"seq": seq, "restored_at": point.restored_at.isoformat()})
    return point


def list_restores(store: ObjectStore) -> list[RestorePoint]:
    found = []
    for key in store.list_keys(RESTORES):
        match = _RESTORE.fullmatch(key)
        if match:
            found.append(RestorePoint(int(match[1]), _time(match[2])))
    return found


def current_anchors(
    anchors: Sequence[Anchor], restores: Sequence[RestorePoint]
) -> tuple[list[Anchor], list[Anchor]]:
    """(the anchors the chain must match, those of events lost with a later restore)."""
    kept, lost = [], []
    for anchor in anchors:
        superseded = any(anchor.seq > point.seq and anchor.anchored_at < point.restored_at
                         for point in restores)
        (lost if superseded else kept).append(anchor)
    return kept, lost


@dataclass(frozen=True)
class AuditCheck:
    """What `chartvault audit verify` found: the chain report, and how the anchors went."""

    report: ChainReport
    anchors: int = 0  # found in the replica and checked
    lost_in_restores: list[Anchor] | None = None
    replica_problem: str = ""  # the replica could not be read: the anchors were not checked


def check(db: Database, store: ObjectStore) -> AuditCheck:
    """Verify the chain against the configured key and every anchor in ``store``. When the
    store cannot be read, the chain is still verified against the key, and the problem
    is reported instead of the anchors."""
    try:
        kept, lost = current_anchors(list_anchors(store), list_restores(store))
    except StorageError as err:
        with db.transaction() as session:
            return AuditCheck(verify_chain(session), replica_problem=err.message)
    with db.transaction() as session:
        report = verify_chain(session, anchors=kept)
    return AuditCheck(report, len(kept), lost)

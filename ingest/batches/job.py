"""The split job: a queued batch in, its parts filed (or listed as unidentified) out.

Reads top to bottom: claim the oldest queued batch (a lease, as ingest.queue leases jobs),
fetch the verified stack, read every page's code, plan the parts, then file each part
through the ordinary filing service (which queues its OCR job) and record it. Each part is
committed on its own, so a crash leaves the parts done so far; the retry skips them, and a
part filed just before a crash is recognised by its bytes (extract_pages writes the same
bytes every time) and answered as the document it already is.
"""

from __future__ import annotations

import io
import logging
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import and_, or_, select, update

from archive import audit
from archive.audit import Actor
from archive.auth.permissions import SYSTEM_ROLE, Principal
from archive.errors import ArchiveError, UnknownPatient
from archive.extensions import Archive
from archive.interfaces import Upload
from archive.models import utcnow
from archive.records.filing import add_document
from ingest.batches import splitting
from ingest.batches.models import Batch, BatchPart
from ingest.batches.service import known_patient

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3


class BatchLeaseLost(Exception):
    """Another worker took the batch over; this one stops without writing."""


@dataclass(frozen=True)
class BatchLease:
    batch_id: int
    attempt: int
    worker_id: str
    seconds: float


def _claimable(now):
    return or_(Batch.status == "queued",
               and_(Batch.status == "splitting", Batch.lease_expires_at < now))


def claim_next(ext: Archive, worker_id: str, seconds: float) -> BatchLease | None:
    """Lease the oldest batch waiting to be split; None when there is none."""
    while True:
        with ext.db.transaction() as session:
            now = utcnow()
            batch = session.scalar(select(Batch).where(_claimable(now)).order_by(Batch.id)
                                   .limit(1).with_for_update(skip_locked=True))
            if batch is None:
                return None
            if batch.attempts >= MAX_ATTEMPTS:
                _give_up(batch, batch.error or "The worker stopped while splitting this "
                         f"batch {batch.attempts} times. Upload it again or split it by hand.")
                continue
            claimed = session.execute(
                update(Batch).where(Batch.id == batch.id, _claimable(now))
                .values(status="splitting", lease_owner=worker_id, attempts=Batch.attempts + 1,
                        lease_expires_at=now + timedelta(seconds=seconds))
                .execution_options(synchronize_session=False)).rowcount
            if claimed == 1:
                return BatchLease(batch.id, batch.attempts + 1, worker_id, seconds)


def _give_up(batch: Batch, error: str) -> None:
    batch.status = "failed"
    batch.error = error
    batch.lease_owner = None
    batch.finished_at = utcnow()


def _renew(ext: Archive, lease: BatchLease, **values) -> None:
    """Extend our lease (and write ``values``); BatchLeaseLost if it is no longer ours."""
    with ext.db.transaction() as session:
        renewed = session.execute(
            update(Batch).where(Batch.id == lease.batch_id, Batch.lease_owner == lease.worker_id,
                                Batch.status == "splitting")
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease.seconds), **values)
        ).rowcount
    if renewed != 1:
        raise BatchLeaseLost(f"batch {lease.batch_id} is no longer leased to {lease.worker_id}")


def split_next(ext: Archive, worker_id: str, seconds: float, actor: Actor) -> bool:
    """Split the next queued batch, if any; True when one was taken."""
    lease = claim_next(ext, worker_id, seconds)
    if lease is None:
        return False
    try:
        split_batch(ext, lease, actor)
    except BatchLeaseLost:
        log.warning("batch %s was taken over by another worker", lease.batch_id)
    except Exception as err:  # noqa: BLE001 - every failure is recorded on the batch
        _failed(ext, lease, actor, err)
    return True


def split_batch(ext: Archive, lease: BatchLease, actor: Actor) -> None:
    with ext.db.transaction() as session:
        batch = session.get(Batch, lease.batch_id)
        key, version, sha256, media_type = (batch.object_key, batch.store_version_id,
                                             batch.sha256, batch.media_type)
        principal = Principal(batch.created_by or "batch", SYSTEM_ROLE, batch.created_by_id,
                              source=f"batch:{batch.id}")
        done = {p.position for p in session.scalars(
            select(BatchPart).where(BatchPart.batch_id == batch.id))}
    with tempfile.TemporaryDirectory(prefix="chartvault-batch-") as tmp:
        stack = Path(tmp) / ("stack.pdf" if media_type == "application/pdf" else "stack.tif")
        with stack.open("wb") as out:
            for chunk in ext.store.open(key, version, expected_sha256=sha256):
                out.write(chunk)
        readings = splitting.read_stack(
            stack, media_type,
            on_page=lambda number, total: _renew(ext, lease, pages_read=number,
                                                 page_count=total))
        parts = splitting.plan_parts(readings)
        for position, part in enumerate(parts, start=1):
            if position not in done:
                _file_part(ext, lease, principal, stack, media_type, position, part)
                _renew(ext, lease)
    _finish(ext, lease, actor, parts)


def _file_part(ext: Archive, lease: BatchLease, principal: Principal, stack: Path,
               media_type: str, position: int, part: splitting.Part) -> None:
    row = BatchPart(batch_id=lease.batch_id, position=position,
                    pages=",".join(str(n) for n in part.pages), mrn=part.mrn,
                    doc_type=part.doc_type, encounter=part.encounter, problem=part.problem,
                    status="unidentified")
    if not row.problem:
        with ext.db.transaction() as session:
            if not known_patient(session, part.mrn):
                row.problem = (f"The cover sheet names MRN {part.mrn}, which is not registered. "
                               "Register the patient, or check the sheet, then assign the part.")
    if not row.problem:
        _file_document(ext, principal, stack, media_type, part, row)
    with ext.db.transaction() as session:
        session.add(row)


def _file_document(ext: Archive, principal: Principal, stack: Path, media_type: str,
                   part: splitting.Part, row: BatchPart) -> None:
    path = splitting.extract_pages(stack, media_type, part.pages,
                                   stack.parent / f"part-{row.position}")
    name = f"batch-{row.batch_id}-pages-{part.pages[0]}-{part.pages[-1]}{path.suffix}"
    try:
        filing = add_document(ext, principal, mrn=part.mrn, doc_type=part.doc_type,
                              upload=Upload(io.BytesIO(path.read_bytes()), name))
    except UnknownPatient as err:  # unregistered between our check and the filing
        row.problem = err.message
        return
    except ArchiveError as err:  # the part itself was refused (too large, unreadable)
        row.status, row.problem = "refused", err.message
        return
    row.status, row.document_id = "filed", filing.version.document_id


def _finish(ext: Archive, lease: BatchLease, actor: Actor, parts) -> None:
    with ext.db.transaction() as session:
        batch = session.get(Batch, lease.batch_id, with_for_update=True)
        if batch.lease_owner != lease.worker_id or batch.status != "splitting":
            raise BatchLeaseLost(f"batch {lease.batch_id} was taken over")
        batch.status, batch.error, batch.lease_owner = "split", "", None
        batch.finished_at = utcnow()
        audit.record(session, actor, "batch.split",
                     details={"batch": batch.id, "parts": len(parts),
                              "unidentified": sum(1 for p in parts if p.problem),
                              "attempt": lease.attempt})


def _failed(ext: Archive, lease: BatchLease, actor: Actor, err: Exception) -> None:
    if isinstance(err, ArchiveError):
        message = err.message
    else:
        log.exception("batch %s failed", lease.batch_id)
        message = (f"Unexpected error while splitting ({type(err).__name__}); the worker "
                   "log has the details.")
    with ext.db.transaction() as session:
        batch = session.get(Batch, lease.batch_id, with_for_update=True)
        if batch.lease_owner != lease.worker_id:
            return
        if batch.attempts >= MAX_ATTEMPTS:
            _give_up(batch, message)
        else:
            batch.status, batch.error, batch.lease_owner = "queued", message, None
        audit.record(session, actor, "batch.split", outcome="failed",
                     details={"batch": batch.id, "attempt": lease.attempt, "error": message})

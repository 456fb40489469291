"""A clerk assigns an unidentified batch part: they looked at its pages in the stored stack
and say whose they are and what they are. The part is then filed like any other, through
the filing service, and the part records the document it became."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from archive import audit
from archive.auth.permissions import Principal, require
from archive.errors import Conflict, NotFound
from archive.extensions import Archive
from archive.interfaces import Upload
from archive.records.filing import add_document
from archive.records.formats import checked_doc_type
from ingest.batches import splitting
from ingest.batches.models import Batch, BatchPart

OPEN_STATES = ("unidentified", "refused")
LISTED = 50


def open_parts(session: Session, principal: Principal) -> list[tuple[BatchPart, Batch]]:
    """The oldest unidentified parts, for the QC queue."""
    require(principal, "qc.review")
    return list(session.execute(
        select(BatchPart, Batch).join(Batch, Batch.id == BatchPart.batch_id)
        .where(BatchPart.status.in_(OPEN_STATES)).order_by(BatchPart.id).limit(LISTED)).all())


def assign_part(ext: Archive, principal: Principal, part_id: int, mrn: str,
                doc_type: str) -> int:
    """File an unidentified part to the patient and type a clerk names; the document id."""
    require(principal, "qc.review")
    doc_type = checked_doc_type(doc_type)
    with ext.db.transaction() as session:
        part = session.get(BatchPart, part_id)
        if part is None:
            raise NotFound(f"No batch part with id {part_id}.")
        if part.status not in OPEN_STATES:
            raise Conflict(
                f"Part {part.position} of batch {part.batch_id} is already {part.status}.")
        batch = session.get(Batch, part.batch_id)
        source = (batch.object_key, batch.store_version_id, batch.sha256, batch.media_type)
        pages, batch_id, position = part.page_numbers, part.batch_id, part.position
    with tempfile.TemporaryDirectory(prefix="chartvault-assign-") as tmp:
        stack = Path(tmp) / "stack"
        with stack.open("wb") as out:
            for chunk in ext.store.open(source[0], source[1], expected_sha256=source[2]):
                out.write(chunk)
        path = splitting.extract_pages(stack, source[3], pages, Path(tmp) / "part")
        name = f"batch-{batch_id}-pages-{pages[0]}-{pages[-1]}{path.suffix}"
        filing = add_document(ext, principal, mrn=(mrn or "").strip(), doc_type=doc_type,
                              upload=Upload(io.BytesIO(path.read_bytes()), name))
    document_id = filing.version.document_id
    with ext.db.transaction() as session:
        # Conditional: of two clerks assigning at once, one records the part (the other's
        # filing, if for another patient, stands as a document of its own, audited).
        session.execute(update(BatchPart).where(BatchPart.id == part_id,
                                                BatchPart.status.in_(OPEN_STATES))
                        .values(status="filed", mrn=mrn.strip(), doc_type=doc_type,
                                document_id=document_id))
        audit.record(session, principal.actor, "batch.assign", patient_mrn=mrn.strip(),
                     document_id=document_id,
                     details={"batch": batch_id, "part": position, "pages": pages})
    return document_id

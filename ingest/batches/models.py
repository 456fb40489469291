"""Tables of batch intake: a scanned stack (its stored original, the provenance of every
document cut from it) and its parts, each filed as a document or left unidentified.

The batch row is also the split job's queue entry: it is leased to one worker at a time
like a job (ingest.queue), so a worker that dies mid-split leaves it to another."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import Base, UTCDateTime, utcnow

# queued: waiting for a worker; splitting: leased; split: every part filed or listed;
# failed: the stack could not be read (the error says why).
BATCH_STATES = ("queued", "splitting", "split", "failed")
PART_STATES = ("filed", "unidentified", "refused", "destroyed")  # destroyed: by disposition


class Batch(Base):
    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    # The same stack uploaded again is the same batch: nothing is split or filed twice.
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(255), default="")
    object_key: Mapped[str] = mapped_column(String(255), index=True)
    store_version_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    page_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pages_read: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(120), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_by: Mapped[str] = mapped_column(String(120), default="")
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class BatchPart(Base):
    """The pages of a batch between two sheets (numbers in the stack, sheets excluded)."""

    __tablename__ = "batch_parts"
    __table_args__ = (UniqueConstraint("batch_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # 1 for the first part of the stack
    pages: Mapped[str] = mapped_column(Text)  # "3,4,5": stack page numbers, ascending
    mrn: Mapped[str] = mapped_column(String(32), default="")
    doc_type: Mapped[str] = mapped_column(String(64), default="")
    encounter: Mapped[str] = mapped_column(String(40), default="")
    status: Mapped[str] = mapped_column(String(16))
    problem: Mapped[str] = mapped_column(Text, default="")
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def page_numbers(self) -> list[int]:
        return [int(number) for number in self.pages.split(",") if number]

"""Tables of the ingestion package: the job queue, derivatives (searchable PDF, page images),
quality-control flags and the index outbox the search package consumes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import Base, UTCDateTime, utcnow

JOB_STATUSES = ("queued", "running", "done", "failed")


class Job(Base):
    """One unit of background work, leased by a worker for a limited time."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    lease_owner: Mapped[str | None] = mapped_column(String(120), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Indexed (as the moments below): the statistics count by them (migration 0023).
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


DERIVATIVE_KINDS = ("searchable_pdf", "page_image", "thumbnail")


class Derivative(Base):
    """A file made from a version's original; page 0 for whole-document derivatives."""

    __tablename__ = "derivatives"
    __table_args__ = (UniqueConstraint("version_id", "kind", "page_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    page_number: Mapped[int] = mapped_column(Integer, default=0)
    # Indexed: a repair or a restore finds the rows naming a key (migration 0012).
    object_key: Mapped[str] = mapped_column(String(255), index=True)
    store_version_id: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class QcFlag(Base):
    """A deficiency for a clerk to review (records departments call it deficiency review)."""

    __tablename__ = "qc_flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    version_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(Text, default="")
    page_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    comment: Mapped[str] = mapped_column(Text, default="")


class IndexOutbox(Base):
    """A page for the search index to (re)index or drop. Written in the transaction that
    changed the page; the search package deletes a row only after its index committed."""

    __tablename__ = "index_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(Integer, index=True)
    version_id: Mapped[int] = mapped_column(Integer)
    page_number: Mapped[int] = mapped_column(Integer)
    op: Mapped[str] = mapped_column(String(16), default="upsert")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

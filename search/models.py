"""Tables of the search package: the reconcile runs whose findings admins review."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import Base, UTCDateTime, utcnow

RECONCILE_STATUSES = ("requested", "running", "done", "failed")


class ReconcileRun(Base):
    """One comparison of the index with the database, document by document. Requested by
    an admin or by the schedule; run by the indexer, which repairs what it finds."""

    __tablename__ = "reconcile_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="requested", index=True)
    requested_by: Mapped[str] = mapped_column(String(120))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    documents_checked: Mapped[int] = mapped_column(Integer, default=0)
    # Document ids by finding: in the database but not the index ("missing"), indexed with
    # other content than the database holds ("stale"), in the index only ("orphaned").
    findings: Mapped[dict] = mapped_column(JSON, default=dict)
    repaired: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(String(500), default="")

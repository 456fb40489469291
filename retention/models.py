"""Tables of the retention package: versioned retention policies and legal holds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import Base, UTCDateTime, utcnow

DEFAULT_POLICY = "*"  # the doc_type of the policy that applies when no type has its own


class RetentionPolicy(Base):
    """One version of the retention policy of a document type (or the default, "*"). An
    edit adds a new version; the old ones stay, because computed disposition dates name
    the version that produced them."""

    __tablename__ = "retention_policies"
    __table_args__ = (UniqueConstraint("doc_type", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    doc_type: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    # The clocks (retention.clocks.Rules as JSON): years after the last encounter, years
    # after majority (with the age of majority), years after death, permanent.
    rules: Mapped[dict] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(Text, default="")  # the law or guidance it follows
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(Text, default="")


class LegalHold(Base):
    """A hold for a matter: while it is in force, no document in its scope may be disposed,
    deleted, given a new version or have its metadata edited. The scope also covers
    documents filed after the hold was placed."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))  # the matter, e.g. "Smith v. Mercy General"
    reason: Mapped[str] = mapped_column(Text)
    issuer: Mapped[str] = mapped_column(String(200))  # who ordered it (court, counsel)
    contact: Mapped[str] = mapped_column(String(200))  # whom a refused clerk should call
    # {"mrns": [...], "document_ids": [...], "types": [...], "from": "YYYY-MM-DD", "to": ...}:
    # the given parts are combined with AND; each list matches any of its values.
    scope: Mapped[dict] = mapped_column(JSON)
    placed_by: Mapped[str] = mapped_column(String(120))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    released_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    release_reason: Mapped[str] = mapped_column(Text, default="")

"""The backup tables: each stored object's replica copy, and what the integrity scrub found."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import Base, UTCDateTime, utcnow

COPY_STATES = ("pending", "replicated", "failed", "destroying")


class ObjectCopy(Base):
    """One stored object version (an original, a derivative, a certificate) and the state of
    its copy in the replica store. Rows are registered from the tables that record stored
    objects (backup.replication), so nothing stored is ever left out."""

    __tablename__ = "object_copies"
    __table_args__ = (UniqueConstraint("key", "version_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255))
    version_id: Mapped[str] = mapped_column(String(255))  # in the primary store
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))  # original, derivative, certificate
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the primary got it
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    replica_version_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    replicated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When the integrity scrub last re-read both copies (None: never): the scrub takes the
    # least recently checked first, so a full pass spreads evenly over its period.
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class ScrubFinding(Base):
    """A copy the integrity scrub found missing or corrupt, and what was done about it."""

    __tablename__ = "scrub_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    key: Mapped[str] = mapped_column(String(255))
    version_id: Mapped[str] = mapped_column(String(255))  # in the primary store
    side: Mapped[str] = mapped_column(String(16))  # primary, replica
    problem: Mapped[str] = mapped_column(String(16))  # missing, corrupt
    # repaired (from the other copy), unrepaired (both copies bad: needs a person)
    outcome: Mapped[str] = mapped_column(String(16), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")

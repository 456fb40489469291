"""The table of release packets: each PDF built for a request, stored as a checksummed object.
A module of its own beside release.models, so that packets and the request tables can grow
apart without touching each other."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import Base, UTCDateTime, utcnow


class ReleasePacket(Base):
    """One packet built for a request; a request may have several (a packet rebuilt after a
    mistake), the latest being the one released. Rows are never changed: the stored object
    is the record of exactly what left the hospital."""

    __tablename__ = "release_packets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("release_requests.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... within the request
    object_key: Mapped[str] = mapped_column(String(255), index=True)
    store_version_id: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    pages: Mapped[int] = mapped_column(Integer)  # cover letter included
    # What went in: [{"document_id", "version", "pages"}], and the redactions as asked.
    contents: Mapped[list] = mapped_column(JSON)
    redactions: Mapped[list] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

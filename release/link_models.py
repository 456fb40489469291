"""The table of time-limited release links: a packet handed to a requester outside the
hospital through a URL whose token is the credential. A module of its own beside
release.packet_models, so that delivery can grow without touching the packets' table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from archive.models import Base, UTCDateTime, utcnow


class ReleaseLink(Base):
    """One link to one packet (the latest when the link was made; a packet rebuilt later
    does not change what an old link hands out). Only the token's SHA-256 is kept: a copy
    of the database must not hold working links."""

    __tablename__ = "release_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("release_requests.id"), index=True)
    packet_id: Mapped[int] = mapped_column(ForeignKey("release_packets.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    max_downloads: Mapped[int] = mapped_column(Integer)
    downloads: Mapped[int] = mapped_column(Integer, default=0)
    last_download_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_by: Mapped[str] = mapped_column(String(120), default="")
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

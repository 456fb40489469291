"""The table of signed authorizations: the legal basis of a request made "under the patient's
authorization" (45 CFR 164.508), its scan filed as a document of the patient, linked to the
request with its dates. A module of its own beside release.models and release.packet_models,
so that each can grow without touching the others."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from archive.models import Base, Document, UTCDateTime, utcnow


class ReleaseAuthorization(Base):
    """One signed authorization attached to a request. A request may collect several (an
    expired one replaced by a new signature); the latest attached is the one in force.
    A revocation is recorded on the row and never undone: releases made before it stand."""

    __tablename__ = "release_authorizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("release_requests.id"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    signed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    expires_on: Mapped[date] = mapped_column(Date)
    attached_by: Mapped[str] = mapped_column(String(120))
    attached_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    revoke_reason: Mapped[str] = mapped_column(Text, default="")
    revoked_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    document: Mapped[Document] = relationship()

"""The table that links a document to what a request to amend it produced (45 CFR 164.526):
the accepted amendment, or the denial letter, the patient's statement of disagreement and the
hospital's rebuttal. Each of those is a document of the patient in its own right (filed,
checksummed, versioned and indexed like any scan); this table only says which original it
belongs to, so that the viewer shows it beside the original and every later packet of the
original carries it. A module of its own beside release.models, as release.packet_models."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from archive.models import Base, Document, UTCDateTime, utcnow
from release.models import ReleaseRequest

# What a link's document is; each kind at most once per request.
AMENDMENT, DENIAL, DISAGREEMENT, REBUTTAL = "amendment", "denial", "disagreement", "rebuttal"
KINDS = (AMENDMENT, DENIAL, DISAGREEMENT, REBUTTAL)


class AmendmentLink(Base):
    """A document filed for an amendment request, linked to the document it concerns. Rows
    are never changed: the original stays as it was, and so does what was said about it."""

    __tablename__ = "release_amendment_links"
    __table_args__ = (UniqueConstraint("request_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("release_requests.id"), index=True)
    # The original the patient asked to amend, and the document filed about it.
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    linked_document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # KINDS
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # The request page lists a request's links without release.models knowing this table.
    # Loaded with the request (one more query per batch of requests): whether an amendment is
    # filed decides the request's next statuses, which answers read after their transaction.
    request: Mapped[ReleaseRequest] = relationship(
        backref=backref("amendment_links", order_by="AmendmentLink.id", lazy="selectin"))
    linked_document: Mapped[Document] = relationship(foreign_keys=[linked_document_id])

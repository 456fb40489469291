"""Tables of release of information: requests for records, the patients each concerns, and
the disclosures a fulfilled request made (the accounting of disclosures, 45 CFR 164.528)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from archive.models import Base, Patient, UTCDateTime, utcnow


class ReleaseRequest(Base):
    """A request for records (or for an accounting of disclosures, or an amendment): who asks,
    for what, under which legal basis, and where it stands against its legal clock."""

    __tablename__ = "release_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_type: Mapped[str] = mapped_column(String(16))  # release.clocks.REQUEST_TYPES
    legal_basis: Mapped[str] = mapped_column(String(32))
    requester_kind: Mapped[str] = mapped_column(String(32))
    requester_name: Mapped[str] = mapped_column(String(200))
    requester_address: Mapped[str] = mapped_column(Text, default="")
    requester_contact: Mapped[str] = mapped_column(String(200), default="")
    claim_number: Mapped[str] = mapped_column(String(64), default="")  # payers' appeals, audits
    # What is asked: {"complete_chart": bool, "types": [...], "from", "to", "document_ids"}.
    asked: Mapped[dict] = mapped_column(JSON)
    purpose: Mapped[str] = mapped_column(Text, default="")
    received: Mapped[date] = mapped_column(Date, index=True)  # the statistics count by it
    assignee: Mapped[str | None] = mapped_column(String(120), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    # The status a hold interrupted, to which it returns.
    held_from: Mapped[str | None] = mapped_column(String(16), nullable=True)
    status_reason: Mapped[str] = mapped_column(Text, default="")  # of the denial or the hold
    due: Mapped[date] = mapped_column(Date, index=True)
    # The first due date: also the last day the written extension notice may be sent.
    notice_deadline: Mapped[date] = mapped_column(Date)
    extension_notice_sent: Mapped[date | None] = mapped_column(Date, nullable=True)
    extension_reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    patients: Mapped[list[Patient]] = relationship(
        secondary="release_request_patients", order_by="Patient.mrn")


class ReleaseRequestPatient(Base):
    """A patient whose records a request asks for (a family's records may come in one)."""

    __tablename__ = "release_request_patients"
    __table_args__ = (UniqueConstraint("request_id", "patient_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("release_requests.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)


class Disclosure(Base):
    """One patient's records released to someone: the accounting of disclosures. Rows are kept
    whatever the release, since the rule exempts some from the patient's accounting but the
    hospital still answers for every release; ``exempt`` says which."""

    __tablename__ = "release_disclosures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("release_requests.id"), index=True)
    disclosed_on: Mapped[date] = mapped_column(Date, index=True)
    recipient_name: Mapped[str] = mapped_column(String(200))
    recipient_address: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text)  # what was disclosed, briefly
    purpose: Mapped[str] = mapped_column(Text, default="")
    legal_basis: Mapped[str] = mapped_column(String(32))
    exempt: Mapped[bool] = mapped_column(Boolean)
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

"""The tables of chart completion's first increment: the providers who complete charts, the
hospital's encounters (admissions, visits), which encounter each document belongs to, and
every HL7 message received, kept as it came for audit (migration 0022)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from archive.models import Base, Patient, UTCDateTime, utcnow

ENCOUNTER_CLASSES = ("inpatient", "outpatient", "emergency", "observation", "day_surgery")
# registered (A04: an outpatient or emergency visit), admitted (A01), discharged (A03),
# cancelled (A11); a cancelled discharge (A13) goes back to admitted.
ENCOUNTER_STATUSES = ("registered", "admitted", "discharged", "cancelled")


class Provider(Base):
    """A physician or other provider responsible for charts, known by the identifier the
    hospital's systems send (an NPI or a local provider number)."""

    __tablename__ = "providers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    identifier: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    department: Mapped[str] = mapped_column(String(100), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Encounter(Base):
    """One admission or visit of a patient, as the hospital's ADT system numbers it."""

    __tablename__ = "encounters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    encounter_class: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    admit_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    discharge_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    attending_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"), nullable=True,
                                                     index=True)
    department: Mapped[str] = mapped_column(String(100), default="")
    # "hl7" or "csv": where the encounter came from first.
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    patient: Mapped[Patient] = relationship()
    attending: Mapped[Provider | None] = relationship()


class EncounterDocument(Base):
    """Which encounter a document belongs to. A table of its own, not a column on documents,
    so that the archive core knows nothing of encounters; one row per document at most."""

    __tablename__ = "encounter_documents"

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), primary_key=True)
    encounter_id: Mapped[int] = mapped_column(ForeignKey("encounters.id"), index=True)
    # "date_of_service": matched automatically, and matched again when the dates change.
    matched_by: Mapped[str] = mapped_column(String(32))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Hl7Message(Base):
    """Every HL7 message received, as it came, with the acknowledgement it was answered
    with. A sender's message control id is unique: a resend is answered from here."""

    __tablename__ = "hl7_messages"
    __table_args__ = (UniqueConstraint("sender", "control_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # MSH-3^MSH-4 (sending application and facility); "" when the header was unreadable.
    sender: Mapped[str] = mapped_column(String(200), default="")
    # None when unreadable, so that malformed messages never collide on it.
    control_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    event: Mapped[str] = mapped_column(String(16), default="")
    raw: Mapped[str] = mapped_column(Text)
    ack_code: Mapped[str] = mapped_column(String(2))
    error: Mapped[str] = mapped_column(Text, default="")
    peer: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

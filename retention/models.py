"""Tables of the retention package: versioned retention policies, legal holds, and the
disposition of records: computed dates, batches, and the tombstones of destroyed documents."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Integer, String, Text, UniqueConstraint
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


# --- disposition -------------------------------------------------------------------------------
#
# Documents are destroyed, so the disposition tables point at them by plain integer ids, not
# foreign keys: what a batch listed and what a tombstone records outlive the documents.

# review -> approved_once (by one compliance officer) -> approved (by a second, different
# one: only now may it be executed) -> executed.
BATCH_STATUSES = ("review", "approved_once", "approved", "executed", "cancelled")
ITEM_STATUSES = ("pending", "excluded", "destroyed", "skipped")


class RetentionDate(Base):
    """A document's disposition date as the last sweep computed it (None: keep), with the
    policy version that produced it. Refreshed wholesale by every sweep."""

    __tablename__ = "retention_dates"

    document_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    disposition_date: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    # No foreign key: the table is recomputed wholesale every night from the policies read in
    # the same transaction, and checking a million references cost the sweep 8 s.
    policy_id: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DispositionBatch(Base):
    """The documents one sweep found past their disposition date and under no hold, for
    two compliance officers to review and approve, and then to be destroyed."""

    __tablename__ = "disposition_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="review", index=True)
    swept_on: Mapped[date] = mapped_column(Date)  # the day eligibility was judged
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120))
    # The first approval, then the second, by another compliance officer.
    approved_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    second_approved_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    second_approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    executed_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The destruction certificate, stored like any record: key, version and checksum.
    certificate_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    certificate_version_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    certificate_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    certificate_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class DispositionItem(Base):
    """One document of a batch, with the date and policy version that made it eligible."""

    __tablename__ = "disposition_items"
    __table_args__ = (UniqueConstraint("batch_id", "document_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("disposition_batches.id"), index=True)
    document_id: Mapped[int] = mapped_column(Integer, index=True)
    disposition_date: Mapped[date] = mapped_column(Date)
    policy_id: Mapped[int] = mapped_column(ForeignKey("retention_policies.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    # Why an officer excluded it, or why execution skipped it (a hold, a later date).
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Tombstone(Base):
    """What remains of a destroyed document, for good: enough to answer "what was it, by
    whose rule and whose hand did it go, and when" without any of its content."""

    __tablename__ = "tombstones"

    document_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_uid: Mapped[str] = mapped_column(String(32))
    batch_id: Mapped[int] = mapped_column(ForeignKey("disposition_batches.id"), index=True)
    patient_mrn: Mapped[str] = mapped_column(String(32), index=True)
    patient_name: Mapped[str] = mapped_column(String(200))
    doc_type: Mapped[str] = mapped_column(String(64))
    date_of_service: Mapped[date | None] = mapped_column(Date, nullable=True)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disposition_date: Mapped[date] = mapped_column(Date)
    policy_id: Mapped[int] = mapped_column(ForeignKey("retention_policies.id"))
    # [{"number", "sha256", "size", "pages"}] of every version destroyed.
    versions: Mapped[list] = mapped_column(JSON, default=list)
    approved_by: Mapped[str] = mapped_column(String(120))
    # None for documents destroyed before two approvals were required.
    second_approved_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    executed_by: Mapped[str] = mapped_column(String(120))
    # "started" while its objects are being deleted; "destroyed" once nothing is left.
    state: Mapped[str] = mapped_column(String(16), default="started")
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    method: Mapped[str] = mapped_column(Text)


# --- the schedule ------------------------------------------------------------------------------


class JobRun(Base):
    """One run of a scheduled job (retention.schedule): when, how long, and what came of it.
    A run that is still "running" long after it started was cut short by a crash."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outcome: Mapped[str] = mapped_column(String(16), default="running")  # ok, failed
    summary: Mapped[str] = mapped_column(Text, default="")  # what it did, or the error
    attempt: Mapped[int] = mapped_column(Integer, default=1)  # >1 for a retry after a failure

"""The tables of fees: the invoice issued for a request and the payments received against it.
A module of its own beside release.models, so that fees and requests can grow apart."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from archive.models import Base, UTCDateTime, utcnow
from release.models import ReleaseRequest


class ReleaseInvoice(Base):
    """The invoice of a request (one per request): its lines and total in cents as issued,
    and who it was addressed to then, so a later change of the request leaves the invoice as
    it was sent. A waiver with its reason lets the request go out unpaid."""

    __tablename__ = "release_invoices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("release_requests.id"), unique=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    issued_on: Mapped[date] = mapped_column(Date)
    bill_to_name: Mapped[str] = mapped_column(String(200))
    bill_to_address: Mapped[str] = mapped_column(Text, default="")
    requester_kind: Mapped[str] = mapped_column(String(32))
    legal_basis: Mapped[str] = mapped_column(String(32))
    medium: Mapped[str] = mapped_column(String(16))
    pages: Mapped[int] = mapped_column(Integer)  # of the packet charged for
    packet_id: Mapped[int] = mapped_column(ForeignKey("release_packets.id"))
    # [{"description", "quantity", "unit_cents", "amount_cents"}] (release.fees.Line)
    lines: Mapped[list] = mapped_column(JSON)
    total_cents: Mapped[int] = mapped_column(Integer)
    # True when issuing it put the request on hold: paying (or waiving) then lifts the hold.
    holds_request: Mapped[bool] = mapped_column(Boolean, default=False)
    waived_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    waived_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    waive_reason: Mapped[str] = mapped_column(Text, default="")
    issued_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    request: Mapped[ReleaseRequest] = relationship()
    payments: Mapped[list[ReleasePayment]] = relationship(order_by="ReleasePayment.id")

    @property
    def paid_cents(self) -> int:
        return sum(payment.amount_cents for payment in self.payments)

    @property
    def balance_cents(self) -> int:
        return self.total_cents - self.paid_cents

    @property
    def settled(self) -> bool:
        """Nothing more is owed: paid in full, or waived."""
        return self.balance_cents <= 0 or self.waived_on is not None


class ReleasePayment(Base):
    """A payment received against an invoice. Never changed: a mistake is a matter for the
    finance office, and the record of what was received must stay."""

    __tablename__ = "release_payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("release_invoices.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(16))  # release.invoices.PAYMENT_METHODS
    reference: Mapped[str] = mapped_column(String(64), default="")  # check number, receipt
    received_on: Mapped[date] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

"""The shapes of the fees part of release of information's REST API (release.invoice_api):
issuing an invoice, recording a payment, waiving a fee, and the invoice as answered. Amounts
are integer cents, as stored: no float ever carries money."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from archive.api_spec import ISO_DATE, Answer, LongText, Request, Text
from release.fees import MEDIA
from release.invoices import PAYMENT_METHODS

# More than any invoice of copies could come to; keeps amounts inside an SQL integer.
MAX_CENTS = 100_000_000


class NewInvoice(Request):
    media: Literal[MEDIA]
    # Put the request on hold, waiting for payment, when the invoice has something to pay.
    hold: bool = True


class NewPayment(Request):
    amount_cents: int = Field(ge=1, le=MAX_CENTS)
    method: Literal[PAYMENT_METHODS]
    reference: Text(64) = ""  # the check number, the card receipt
    received: ISO_DATE = ""  # "" or left out: today


class Waiver(Request):
    reason: LongText(2000)


class InvoiceLineOut(Answer):
    description: str
    quantity: int
    unit_cents: int
    amount_cents: int


class PaymentOut(Answer):
    amount_cents: int
    method: str
    reference: str
    received: str
    recorded_by: str


class WaiverOut(Answer):
    on: str
    by: str
    reason: str


class InvoiceOut(Answer):
    number: str
    request: int
    issued: str
    media: str
    pages: int
    lines: list[InvoiceLineOut]
    total_cents: int
    paid_cents: int
    balance_cents: int
    status: str  # unpaid, paid, waived or no_charge
    waived: WaiverOut | None
    payments: list[PaymentOut]
    link: str

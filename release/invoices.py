"""Invoices and payments of a request. The invoice charges for the request's latest packet
under the requester's fee schedule (release.fees); issuing one with a balance may put the
request on hold "waiting for payment", and the payment that clears the balance (or a waiver
with its reason) lifts that hold in the same transaction. Fulfilment asks ``require_settled``
first, so no records go out while an issued invoice is owed. Each change and each reading is
audited on the request (release.requests.audit_request). Web and API call these functions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from archive.auth.permissions import Principal, require
from archive.errors import BadRequest, Conflict, NotFound
from archive.models import utcnow
from release.fee_models import ReleaseInvoice, ReleasePayment
from release.fees import FeeSchedule, fee_lines, money, schedule_for
from release.models import ReleaseRequest
from release.packets import latest_packet
from release.requests import MANAGE, VIEW, audit_request, check_move, get_request
from release.workflow import ON_HOLD, OPEN

PAYMENT_METHODS = ("cash", "check", "card", "other")
WAITING_FOR_PAYMENT = "waiting for payment"


class PaymentDue(Conflict):
    """An issued invoice is still owed: the records wait for the payment or a waiver."""

    code = "payment_due"


class Overpayment(Conflict):
    code = "overpayment"


@dataclass(frozen=True)
class FeeRules:
    """The hospital's fee configuration (app.config["RELEASE_FEES"] and
    ["RELEASE_ACCESS_FEE_CAP"])."""

    schedules: Mapping[str, FeeSchedule]
    access_cap: int


@dataclass(frozen=True)
class NewPayment:
    amount_cents: int
    method: str
    reference: str = ""
    received: date | None = None  # None: today


def issue_invoice(db, principal: Principal, rules: FeeRules, request_id: int, *,
                  medium: str, hold: bool = True) -> ReleaseInvoice:
    """Invoice the request's latest packet. With ``hold`` and something to pay, an open
    request goes on hold waiting for payment (the existing hold: it returns where it was)."""
    require(principal, MANAGE)
    with db.transaction() as session:
        _lock_request(session, request_id)
        row = get_request(session, request_id)
        if row.status not in OPEN:
            raise Conflict(f"Request {request_id} is {row.status}: an invoice is issued only "
                           "while the request is open.")
        if _invoice_of(session, request_id) is not None:
            raise Conflict(f"Request {request_id} has its invoice already (one per request); "
                           "record payments against it or waive it.")
        packet = _packet_to_charge(session, request_id)
        lines = fee_lines(schedule_for(rules.schedules, row.requester_kind), pages=packet.pages,
                          medium=medium, legal_basis=row.legal_basis,
                          access_cap=rules.access_cap)
        invoice = ReleaseInvoice(
            request_id=row.id, number=f"INV-{row.id:06d}", issued_on=date.today(),
            bill_to_name=row.requester_name, bill_to_address=row.requester_address,
            requester_kind=row.requester_kind, legal_basis=row.legal_basis, medium=medium,
            pages=packet.pages, packet_id=packet.id,
            lines=[line.as_json() for line in lines],
            total_cents=sum(line.amount for line in lines), waive_reason="",
            issued_by=principal.username, payments=[])
        invoice.holds_request = hold and invoice.total_cents > 0 and row.status != ON_HOLD
        session.add(invoice)
        session.flush()
        audit_request(session, principal, row, "request.invoice",
                      details={"invoice": invoice.number, "total_cents": invoice.total_cents,
                               "pages": packet.pages, "medium": medium})
        if invoice.holds_request:
            _hold_for_payment(session, principal, row)
        return invoice


def view_invoice(session: Session, principal: Principal, request_id: int, *,
                 form: str = "json") -> ReleaseInvoice:
    """The request's invoice with its payments; audited with its format, since it names the
    requester and whose records they asked for."""
    require(principal, VIEW)
    row = get_request(session, request_id)
    invoice = _require_invoice(session, request_id)
    audit_request(session, principal, row, "request.invoice_view",
                  details={"invoice": invoice.number, "format": form})
    return invoice


def invoice_for_page(session: Session, request_id: int) -> ReleaseInvoice | None:
    """The invoice for the request page, whose own reading is audited as the request's view."""
    return _invoice_of(session, request_id)


def record_payment(db, principal: Principal, request_id: int,
                   payment: NewPayment) -> ReleaseInvoice:
    """Record a payment; more than the balance is refused (nothing is stored). The payment
    that clears the balance lifts the hold the invoice put on the request."""
    require(principal, MANAGE)
    _check_payment(payment)
    received = payment.received or date.today()
    with db.transaction() as session:
        _lock_request(session, request_id)
        row = get_request(session, request_id)
        invoice = _require_invoice(session, request_id)
        _check_payable(invoice, payment.amount_cents, received)
        invoice.payments.append(ReleasePayment(
            amount_cents=payment.amount_cents, method=payment.method,
            reference=payment.reference.strip(), received_on=received,
            recorded_by=principal.username))
        session.flush()
        audit_request(session, principal, row, "request.payment",
                      details={"invoice": invoice.number, "amount_cents": payment.amount_cents,
                               "method": payment.method, "received": received.isoformat(),
                               "balance_cents": invoice.balance_cents})
        if invoice.balance_cents == 0:
            _lift_payment_hold(session, principal, row, invoice, "payment received in full")
        return invoice


def waive_fee(db, principal: Principal, request_id: int, reason: str) -> ReleaseInvoice:
    """Waive what is still owed (hardship, a courtesy copy); the reason is kept and audited,
    and the payment hold, if any, is lifted."""
    require(principal, MANAGE)
    reason = reason.strip()
    if not reason:
        raise BadRequest("reason is required to waive a fee: the finance office and the "
                         "audit trail must say why it was not collected.")
    with db.transaction() as session:
        _lock_request(session, request_id)
        row = get_request(session, request_id)
        invoice = _require_invoice(session, request_id)
        if invoice.waived_on is not None:
            raise Conflict(f"Invoice {invoice.number} was waived already on "
                           f"{invoice.waived_on.isoformat()}.")
        if invoice.balance_cents <= 0:
            raise Conflict(f"Invoice {invoice.number} is paid in full: nothing to waive.")
        invoice.waived_on, invoice.waived_by = date.today(), principal.username
        invoice.waive_reason = reason
        audit_request(session, principal, row, "request.invoice_waive", reason=reason,
                      details={"invoice": invoice.number,
                               "waived_cents": invoice.balance_cents})
        _lift_payment_hold(session, principal, row, invoice, f"fee waived: {reason}")
        return invoice


def require_settled(session: Session, row: ReleaseRequest) -> None:
    """Refuse the release of a request whose issued invoice is still owed."""
    invoice = _invoice_of(session, row.id)
    if invoice is not None and not invoice.settled:
        raise PaymentDue(
            f"Request {row.id} cannot be released: invoice {invoice.number} has "
            f"{money(invoice.balance_cents)} unpaid. Record the payment, or waive the fee "
            "with a reason, first.")


def _packet_to_charge(session: Session, request_id: int):
    try:
        return latest_packet(session, request_id)
    except NotFound:
        raise Conflict(f"Request {request_id} has no packet yet: build the packet first, "
                       "since the invoice charges for its pages.") from None


def _lock_request(session: Session, request_id: int) -> None:
    """Judge one request's fee changes one after the other (two clerks recording the same
    check at once must not both pass the balance check): a write that changes nothing takes
    the request's row lock on PostgreSQL and the one write lock on SQLite, before anything
    is read, so the second reads what the first committed."""
    session.execute(update(ReleaseRequest).where(ReleaseRequest.id == request_id)
                    .values(id=ReleaseRequest.id),
                    execution_options={"synchronize_session": False})


def _invoice_of(session: Session, request_id: int) -> ReleaseInvoice | None:
    return session.scalar(select(ReleaseInvoice).where(ReleaseInvoice.request_id == request_id))


def _require_invoice(session: Session, request_id: int) -> ReleaseInvoice:
    invoice = _invoice_of(session, request_id)
    if invoice is None:
        raise NotFound(f"Request {request_id} has no invoice; issue one first.")
    return invoice


def _check_payment(payment: NewPayment) -> None:
    if payment.method not in PAYMENT_METHODS:
        raise BadRequest(f"method must be one of {', '.join(PAYMENT_METHODS)}, not "
                         f"{payment.method!r}.")
    if payment.amount_cents <= 0:
        raise BadRequest("amount must be more than zero.")
    if payment.received and payment.received > date.today():
        raise BadRequest(f"received ({payment.received.isoformat()}) is in the future; give "
                         "the date the payment reached the hospital.")


def _check_payable(invoice: ReleaseInvoice, amount: int, received: date) -> None:
    if invoice.waived_on is not None:
        raise Conflict(f"Invoice {invoice.number} was waived: nothing is owed.")
    if amount > invoice.balance_cents:
        raise Overpayment(
            f"{money(amount)} is more than invoice {invoice.number}'s balance of "
            f"{money(invoice.balance_cents)}; record at most the balance (refund the rest).")
    # A check may come with the request itself, before the invoice; not before the request.
    if received < invoice.request.received:
        raise BadRequest(f"received ({received.isoformat()}) is before the request was "
                         f"received ({invoice.request.received.isoformat()}).")


def _hold_for_payment(session: Session, principal: Principal, row: ReleaseRequest) -> None:
    check_move(row, ON_HOLD, WAITING_FOR_PAYMENT)
    before = row.status
    row.held_from, row.status, row.status_reason = row.status, ON_HOLD, WAITING_FOR_PAYMENT
    row.updated_at = utcnow()
    audit_request(session, principal, row, "request.status", reason=WAITING_FOR_PAYMENT,
                  details={"from": before, "to": ON_HOLD})


def _lift_payment_hold(session: Session, principal: Principal, row: ReleaseRequest,
                       invoice: ReleaseInvoice, reason: str) -> None:
    """Return the request to where it was, if it still waits on this invoice's payment (a
    clerk may have lifted the hold, or held it again for another reason, meanwhile)."""
    if not (invoice.holds_request and row.status == ON_HOLD
            and row.status_reason == WAITING_FOR_PAYMENT and row.held_from):
        return
    before, target = row.status, row.held_from
    row.status, row.held_from, row.status_reason = target, None, ""
    row.updated_at = utcnow()
    audit_request(session, principal, row, "request.status", reason=reason,
                  details={"from": before, "to": target, "automatic": True})

"""The fees part of release of information's REST API: issue a request's invoice, read it as
JSON or PDF, record a payment, waive the fee. Thin: parse, call release.invoices, answer."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, url_for

from archive.api_spec import body_of, operation
from archive.auth.guards import current_principal, requires
from archive.extensions import archive
from archive.params import parse_date
from archive.records.downloads import attachment
from release.fee_models import ReleaseInvoice
from release.fee_schemas import InvoiceOut, NewInvoice, NewPayment, Waiver
from release.invoice_pdf import render_invoice
from release.invoices import (
    FeeRules,
    issue_invoice,
    record_payment,
    view_invoice,
    waive_fee,
)
from release.invoices import NewPayment as Payment
from release.requests import MANAGE, VIEW

bp = Blueprint("release_fees_api", __name__, url_prefix="/api/v1")


@bp.route("/requests/<int:request_id>/invoice", methods=["POST"])
@requires(MANAGE)
@operation("Issue the request's invoice for its latest packet under the requester's fee "
           "schedule; with a balance the request goes on hold waiting for payment unless "
           "hold is false", body=NewInvoice, status=201, answer=InvoiceOut)
def issue(request_id: int):
    body = body_of(NewInvoice)
    invoice = issue_invoice(archive().db, current_principal(), fee_rules(), request_id,
                            medium=body.media, hold=body.hold)
    return jsonify(invoice_json(invoice)), 201


@bp.route("/requests/<int:request_id>/invoice")
@requires(VIEW)
@operation("The request's invoice: lines, total, payments and balance (audited)",
           answer=InvoiceOut)
def show(request_id: int):
    with archive().db.transaction() as session:
        return jsonify(invoice_json(view_invoice(session, current_principal(), request_id)))


@bp.route("/requests/<int:request_id>/invoice.pdf")
@requires(VIEW)
@operation("The request's invoice as PDF (audited download)", media_type="application/pdf")
def invoice_pdf(request_id: int):
    return invoice_download(request_id)


@bp.route("/requests/<int:request_id>/payments", methods=["POST"])
@requires(MANAGE)
@operation("Record a payment against the request's invoice (at most the balance); the one "
           "that clears it returns the request from its payment hold", body=NewPayment,
           status=201, answer=InvoiceOut)
def pay(request_id: int):
    body = body_of(NewPayment)
    invoice = record_payment(archive().db, current_principal(), request_id, Payment(
        amount_cents=body.amount_cents, method=body.method, reference=body.reference,
        received=parse_date(body.received, "received")))
    return jsonify(invoice_json(invoice)), 201


@bp.route("/requests/<int:request_id>/invoice/waive", methods=["POST"])
@requires(MANAGE)
@operation("Waive what is still owed on the request's invoice, with a reason; the request "
           "may then be released and returns from its payment hold", body=Waiver,
           answer=InvoiceOut)
def waive(request_id: int):
    body = body_of(Waiver)
    invoice = waive_fee(archive().db, current_principal(), request_id, body.reason)
    return jsonify(invoice_json(invoice))


def invoice_download(request_id: int) -> Response:
    """The invoice PDF, audited as a download; the web page's link uses it too."""
    with archive().db.transaction() as session:
        invoice = view_invoice(session, current_principal(), request_id, form="pdf")
        data = render_invoice(invoice, [p.mrn for p in invoice.request.patients])
        filename = f"invoice-{invoice.number}.pdf"
    return attachment(data, "application/pdf", filename)


def fee_rules() -> FeeRules:
    return FeeRules(current_app.config["RELEASE_FEES"],
                    current_app.config["RELEASE_ACCESS_FEE_CAP"])


def invoice_status(invoice: ReleaseInvoice) -> str:
    if invoice.total_cents == 0:
        return "no_charge"
    if invoice.waived_on is not None:
        return "waived"
    return "paid" if invoice.balance_cents == 0 else "unpaid"


def invoice_json(invoice: ReleaseInvoice) -> dict:
    return {
        "number": invoice.number, "request": invoice.request_id,
        "issued": invoice.issued_on.isoformat(), "media": invoice.medium,
        "pages": invoice.pages, "lines": invoice.lines, "total_cents": invoice.total_cents,
        "paid_cents": invoice.paid_cents, "balance_cents": invoice.balance_cents,
        "status": invoice_status(invoice),
        "waived": None if invoice.waived_on is None else {
            "on": invoice.waived_on.isoformat(), "by": invoice.waived_by,
            "reason": invoice.waive_reason},
        "payments": [{"amount_cents": p.amount_cents, "method": p.method,
                      "reference": p.reference, "received": p.received_on.isoformat(),
                      "recorded_by": p.recorded_by} for p in invoice.payments],
        "link": url_for("release_fees_api.invoice_pdf", request_id=invoice.request_id),
    }

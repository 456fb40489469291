"""The fees forms of the request page: issue the invoice, record a payment, waive the fee,
and download the invoice PDF. Thin: parse the form, call release.invoices, and answer as the
request page's other forms do (release.views)."""

from __future__ import annotations

from flask import Blueprint, request

from archive.auth.guards import current_principal, requires
from archive.extensions import archive
from archive.params import parse_date
from release.fees import parse_money
from release.invoice_api import fee_rules, invoice_download
from release.invoices import NewPayment, issue_invoice, record_payment, waive_fee
from release.requests import MANAGE, VIEW
from release.views import act_on_request

bp = Blueprint("release_fees", __name__)


@bp.route("/requests/<int:request_id>/invoice", methods=["POST"])
@requires(MANAGE)
def issue(request_id: int):
    form = request.form
    return act_on_request(request_id, "Invoice issued.", lambda: issue_invoice(
        archive().db, current_principal(), fee_rules(), request_id,
        medium=form.get("media", ""), hold=form.get("hold") == "yes"))


@bp.route("/requests/<int:request_id>/payments", methods=["POST"])
@requires(MANAGE)
def pay(request_id: int):
    form = request.form

    def pay_now():
        payment = NewPayment(
            amount_cents=parse_money(form.get("amount", ""), "amount"),
            method=form.get("method", ""), reference=form.get("reference", "")[:64],
            received=parse_date(form.get("received", ""), "received"))
        return record_payment(archive().db, current_principal(), request_id, payment)

    return act_on_request(request_id, "Payment recorded.", pay_now)


@bp.route("/requests/<int:request_id>/invoice/waive", methods=["POST"])
@requires(MANAGE)
def waive(request_id: int):
    return act_on_request(request_id, "Fee waived.", lambda: waive_fee(
        archive().db, current_principal(), request_id, request.form.get("reason", "")))


@bp.route("/requests/<int:request_id>/invoice.pdf")
@requires(VIEW)
def invoice_pdf(request_id: int):
    return invoice_download(request_id)

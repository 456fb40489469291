"""Invoices and payments through the API (POST/GET /api/v1/requests/<id>/invoice, invoice.pdf,
/payments, /invoice/waive), on both databases: totals from the packet's pages under each
kind's schedule, payments and the balance, the payment hold and its automatic release, the
release refused until paid or waived, the PDF's text, who may call them, and the audit."""

from __future__ import annotations

import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from release.fees import FeeSchedule
from release.invoices import NewPayment, Overpayment, record_payment
from tests.release.conftest import audit_events

ATTORNEY = {"requester": {"kind": "attorney", "name": "Lee & Park LLP",
                          "address": "9 Elm St, Springfield"},
            "legal_basis": "authorization", "purpose": "litigation"}
PAYER = {"requester": {"kind": "payer", "name": "Acme Health Plan"}, "legal_basis": "tpo",
         "purpose": "claim review"}


@pytest.fixture
def document(filed):
    return filed().document_id


@pytest.fixture
def packeted(client, people, log_request, move, authorize, document):
    """Log a request (with changes), approve it, attach its authorization when it is made
    under one, and build its packet of the one document; returns (request id, the packet's
    pages)."""

    def make(**changes):
        request_id = log_request(**changes).json["id"]
        for status in ("in_review", "approved"):
            assert move(request_id, status).status_code == 200
        if changes.get("legal_basis") == "authorization":
            authorize(request_id)
        built = client.post(f"/api/v1/requests/{request_id}/packet",
                            json={"documents": [document]}, headers=people.headers("staff"))
        assert built.status_code == 201, built.json
        return request_id, built.json["pages"]

    return make


def call(client, people, request_id, path, body=None, role="staff"):
    url = f"/api/v1/requests/{request_id}/{path}"
    if body is None:
        return client.get(url, headers=people.headers(role))
    return client.post(url, json=body, headers=people.headers(role))


def issue(client, people, request_id, media="electronic", role="staff", **changes):
    return call(client, people, request_id, "invoice", {"media": media, **changes}, role=role)


def pay(client, people, request_id, cents, method="check", **changes):
    return call(client, people, request_id, "payments",
                {"amount_cents": cents, "method": method, **changes})


def shown(client, people, request_id):
    return client.get(f"/api/v1/requests/{request_id}", headers=people.headers("staff")).json


def test_an_attorneys_invoice_charges_flat_pages_and_medium_and_holds(client, people,
                                                                      packeted):
    request_id, pages = packeted(**ATTORNEY)
    response = issue(client, people, request_id, media="cd")
    assert response.status_code == 201, response.json
    invoice = response.json
    assert [(line["description"], line["amount_cents"]) for line in invoice["lines"]] == [
        ("Search and handling", 2500), ("Copies, per page", pages * 100), ("Medium: cd", 1000)]
    assert invoice["total_cents"] == invoice["balance_cents"] == 3500 + pages * 100
    assert (invoice["number"], invoice["pages"], invoice["status"]) == (
        f"INV-{request_id:06d}", pages, "unpaid")
    request = shown(client, people, request_id)
    assert (request["status"], request["status_reason"]) == ("on_hold", "waiting for payment")
    assert request["allowed_next"] == ["approved"]
    assert call(client, people, request_id, "invoice").json == invoice


def test_the_hospitals_configured_schedule_and_cap_are_used(app, client, people, packeted):
    app.config["RELEASE_FEES"]["attorney"] = FeeSchedule(per_page=7)
    app.config["RELEASE_ACCESS_FEE_CAP"] = 30
    attorney_id, pages = packeted(**ATTORNEY)
    assert issue(client, people, attorney_id).json["total_cents"] == 7 * pages
    patient_id, pages = packeted()  # the patient, under the right of access: 25 cents a page
    capped = issue(client, people, patient_id).json
    assert pages * 25 > 30
    assert capped["total_cents"] == 30
    assert capped["lines"][-1]["description"].startswith("Right-of-access fee cap ($0.30")


def test_a_payers_copy_is_free_and_goes_out_without_waiting(client, people, packeted, fulfil):
    request_id, _pages = packeted(**PAYER)
    invoice = issue(client, people, request_id).json
    assert (invoice["lines"], invoice["total_cents"], invoice["status"]) == ([], 0, "no_charge")
    assert shown(client, people, request_id)["status"] == "approved"
    assert fulfil(request_id).status_code == 200


def test_payments_lower_the_balance_and_the_last_one_lifts_the_hold(ext, client, people,
                                                                   packeted, fulfil):
    request_id, pages = packeted(**ATTORNEY)
    total = issue(client, people, request_id).json["total_cents"]
    first = pay(client, people, request_id, 1000, reference="chk 1001",
                received="2026-05-01")
    assert first.status_code == 201, first.json
    assert (first.json["paid_cents"], first.json["balance_cents"]) == (1000, total - 1000)
    assert shown(client, people, request_id)["status"] == "on_hold"
    assert fulfil(request_id).status_code == 409
    last = pay(client, people, request_id, total - 1000, method="card")
    assert (last.json["balance_cents"], last.json["status"]) == (0, "paid")
    assert [(p["amount_cents"], p["method"], p["reference"]) for p in last.json["payments"]] == [
        (1000, "check", "chk 1001"), (total - 1000, "card", "")]
    request = shown(client, people, request_id)
    assert (request["status"], request["status_reason"]) == ("approved", "")
    lifted = audit_events(ext, "request.status", request_id)[-1]
    assert (lifted.details["from"], lifted.details["to"], lifted.details["automatic"]) == (
        "on_hold", "approved", True)
    assert lifted.reason == "payment received in full"
    assert fulfil(request_id).status_code == 200


def test_an_overpayment_is_refused_and_nothing_is_stored(ext, client, people, packeted):
    request_id, _pages = packeted(**ATTORNEY)
    total = issue(client, people, request_id).json["total_cents"]
    refused = pay(client, people, request_id, total + 1)
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "overpayment"
    assert "balance of $" in refused.json["error"]["message"]
    assert call(client, people, request_id, "invoice").json["payments"] == []
    assert audit_events(ext, "request.payment", request_id) == []
    assert pay(client, people, request_id, total).status_code == 201
    assert pay(client, people, request_id, 1).status_code == 409  # nothing owed now


def test_the_release_waits_for_payment_even_without_a_hold(client, people, packeted, fulfil):
    request_id, _pages = packeted(**ATTORNEY)
    invoice = issue(client, people, request_id, hold=False).json
    assert shown(client, people, request_id)["status"] == "approved"
    refused = fulfil(request_id)
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "payment_due"
    message = refused.json["error"]["message"]
    assert invoice["number"] in message and "waive" in message
    assert client.get("/api/v1/patients/MRN-1001/disclosures",
                      headers=people.headers("staff")).json["disclosures"] == []


def test_a_waiver_needs_a_reason_lifts_the_hold_and_allows_the_release(ext, client, people,
                                                                      packeted, fulfil):
    request_id, _pages = packeted(**ATTORNEY)
    issue(client, people, request_id)
    pay(client, people, request_id, 500)
    assert call(client, people, request_id, "invoice/waive", {"reason": " "}).status_code == 400
    waived = call(client, people, request_id, "invoice/waive", {"reason": "pro bono case"})
    assert waived.status_code == 200
    assert (waived.json["status"], waived.json["waived"]["reason"]) == ("waived", "pro bono case")
    assert shown(client, people, request_id)["status"] == "approved"
    assert fulfil(request_id).status_code == 200
    [event] = audit_events(ext, "request.invoice_waive", request_id)
    assert (event.reason, event.details["waived_cents"]) == (
        "pro bono case", waived.json["total_cents"] - 500)
    again = call(client, people, request_id, "invoice/waive", {"reason": "again"})
    assert again.status_code == 409


def test_a_hold_for_another_reason_is_left_alone(client, people, packeted, move):
    request_id, _pages = packeted(**ATTORNEY)
    assert move(request_id, "on_hold", "authorization expired").status_code == 200
    total = issue(client, people, request_id).json["total_cents"]
    assert pay(client, people, request_id, total).status_code == 201
    request = shown(client, people, request_id)
    assert (request["status"], request["status_reason"]) == ("on_hold", "authorization expired")


def test_what_cannot_be_invoiced_is_refused_clearly(client, people, log_request, packeted,
                                                   fulfil):
    bare = log_request(**ATTORNEY).json["id"]
    no_packet = issue(client, people, bare)
    assert no_packet.status_code == 409
    assert "build the packet first" in no_packet.json["error"]["message"]
    assert call(client, people, bare, "invoice").status_code == 404
    assert pay(client, people, bare, 100).status_code == 404
    assert issue(client, people, 9999).status_code == 404
    request_id, _pages = packeted(**PAYER)
    assert issue(client, people, request_id, media="fax").status_code == 400
    assert issue(client, people, request_id).status_code == 201
    twice = issue(client, people, request_id)
    assert twice.status_code == 409 and "already" in twice.json["error"]["message"]
    assert fulfil(request_id).status_code == 200
    closed_id, _pages = packeted(**PAYER)
    assert fulfil(closed_id).status_code == 200
    assert issue(client, people, closed_id).status_code == 409


def test_bad_payments_are_400s_naming_the_field(client, people, packeted):
    request_id, _pages = packeted(**ATTORNEY)
    issue(client, people, request_id)
    for body, field in (({"amount_cents": 0, "method": "check"}, "amount_cents"),
                        ({"amount_cents": 10, "method": "barter"}, "method"),
                        ({"amount_cents": 10.5, "method": "cash"}, "amount_cents"),
                        ({"amount_cents": 10, "method": "cash", "received": "2999-01-01"},
                         "received"),
                        ({"amount_cents": 10, "method": "cash", "received": "2000-01-01"},
                         "received")):
        refused = call(client, people, request_id, "payments", body)
        assert refused.status_code == 400, body
        assert refused.json["error"]["message"].startswith(field), refused.json
    assert call(client, people, request_id, "invoice").json["paid_cents"] == 0


def test_the_same_payment_recorded_at_once_is_taken_once(ext, client, people, packeted):
    """Clerks recording the full balance at the same moment, released together by a barrier:
    without the request's lock each would see the whole balance still owed."""
    request_id, _pages = packeted(**ATTORNEY)
    total = issue(client, people, request_id).json["total_cents"]
    clerk = people.principal("staff")
    clerks = 4
    barrier = threading.Barrier(clerks)

    def record(number: int) -> str:
        barrier.wait(timeout=60)
        try:
            record_payment(ext.db, clerk, request_id,
                           NewPayment(total, "check", reference=f"chk {number}"))
        except Overpayment:
            return "refused"
        return "recorded"

    with ThreadPoolExecutor(clerks) as pool:
        outcomes = sorted(pool.map(record, range(clerks)))
    assert outcomes == ["recorded"] + ["refused"] * (clerks - 1)
    invoice = call(client, people, request_id, "invoice").json
    assert (len(invoice["payments"]), invoice["balance_cents"]) == (1, 0)
    assert shown(client, people, request_id)["status"] == "approved"


def pdf_text(data: bytes) -> str:
    return subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True,
                          check=True).stdout.decode()


def test_the_invoice_pdf_shows_the_lines_total_and_balance(ext, client, people, packeted):
    request_id, pages = packeted(**ATTORNEY)
    invoice = issue(client, people, request_id).json
    pay(client, people, request_id, 1250)
    response = call(client, people, request_id, "invoice.pdf", role="compliance")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    text = pdf_text(response.data)
    total = invoice["total_cents"]
    for expected in (f"Invoice {invoice['number']}", "Lee & Park LLP", "9 Elm St",
                     "MRN MRN-1001", "Search and handling", "$25.00", "Copies, per page",
                     f"{pages}", "Medium: electronic", "$5.00",
                     f"${total // 100}.{total % 100:02d}", "Paid", "$12.50", "Balance due",
                     f"${(total - 1250) // 100}.{(total - 1250) % 100:02d}"):
        assert expected in text, expected
    [event] = audit_events(ext, "request.invoice_view", request_id)[-1:]
    assert (event.actor, event.details["format"], event.patient_mrn) == (
        "compliance1", "pdf", "MRN-1001")


def test_who_may_issue_pay_waive_and_read(client, people, packeted):
    request_id, _pages = packeted(**ATTORNEY)
    for role in ("compliance", "clerk", "admin"):
        assert issue(client, people, request_id, role=role).status_code == 403, role
    assert issue(client, people, request_id).status_code == 201
    for path, body in (("payments", {"amount_cents": 1, "method": "cash"}),
                       ("invoice/waive", {"reason": "x"})):
        assert call(client, people, request_id, path, body, role="compliance").status_code == 403
        anonymous = client.post(f"/api/v1/requests/{request_id}/{path}", json=body)
        assert anonymous.status_code == 401
    for path in ("invoice", "invoice.pdf"):
        assert call(client, people, request_id, path, role="compliance").status_code == 200
        assert call(client, people, request_id, path, role="clerk").status_code == 403
    assert call(client, people, request_id, "invoice").json["paid_cents"] == 0


def test_each_change_and_reading_is_audited_on_the_request(ext, client, people, packeted):
    request_id, _pages = packeted(**ATTORNEY)
    total = issue(client, people, request_id).json["total_cents"]
    pay(client, people, request_id, total, reference="r-1")
    call(client, people, request_id, "invoice", role="compliance")
    [issued] = audit_events(ext, "request.invoice", request_id)
    assert (issued.actor, issued.patient_mrn, issued.details["total_cents"]) == (
        "staff1", "MRN-1001", total)
    [paid] = audit_events(ext, "request.payment", request_id)
    assert (paid.details["amount_cents"], paid.details["balance_cents"]) == (total, 0)
    [viewed] = audit_events(ext, "request.invoice_view", request_id)
    assert (viewed.actor, viewed.details["format"]) == ("compliance1", "json")
    held, lifted = audit_events(ext, "request.status", request_id)[-2:]
    assert (held.details["to"], held.reason) == ("on_hold", "waiting for payment")
    assert lifted.details["to"] == "approved"

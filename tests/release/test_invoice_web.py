"""The invoice section of the request page (/requests/<id>), on both databases: the forms that
issue the invoice, record a payment in dollars and waive the fee, each with its CSRF token and
for release managers only; escaped output; the PDF link; and the page's reading audited."""

from __future__ import annotations

import pytest

from tests.release.conftest import audit_events
from tests.release.test_invoices import ATTORNEY
from tests.release.test_queue import SCRIPT, logged_in


@pytest.fixture
def request_id(client, people, log_request, move, authorize, filed):
    """An approved attorney's request, with the patient's authorization, its packet built."""
    document = filed().document_id
    request_id = log_request(**{**ATTORNEY, "requester": {"kind": "attorney", "name": SCRIPT}}
                             ).json["id"]
    for status in ("in_review", "approved"):
        assert move(request_id, status).status_code == 200
    authorize(request_id)
    assert client.post(f"/api/v1/requests/{request_id}/packet", json={"documents": [document]},
                       headers=people.headers("staff")).status_code == 201
    return request_id


def invoice_of(client, people, request_id):
    return client.get(f"/api/v1/requests/{request_id}/invoice", headers=people.headers("staff"))


def test_staff_issue_pay_and_settle_through_the_page(app, client, people, request_id):
    staff = logged_in(app, "staff1")
    url = f"/requests/{request_id}"
    page = staff.get(url).get_data(as_text=True)
    assert f'action="{url}/invoice"' in page and "No invoice yet" in page
    issued = staff.post(f"{url}/invoice", data={"csrf_token": staff.token, "media": "paper",
                                                "hold": "yes"})
    assert issued.status_code == 303, issued.get_data(as_text=True)
    total = invoice_of(client, people, request_id).json["total_cents"]
    page = staff.get(url).get_data(as_text=True)
    assert f'data-total="{total}"' in page and "waiting for payment" in page
    assert f'action="{url}/payments"' in page and f'action="{url}/invoice"' not in page
    refused = staff.post(f"{url}/fulfil", data={"csrf_token": staff.token,
                                                "description": "complete chart"})
    assert refused.status_code == 409
    assert "unpaid" in refused.get_data(as_text=True)
    paid = staff.post(f"{url}/payments", data={"csrf_token": staff.token, "amount": "12.50",
                                               "method": "cash", "reference": "receipt 7",
                                               "received": ""})
    assert paid.status_code == 303
    page = staff.get(url).get_data(as_text=True)
    assert f'data-balance="{total - 1250}"' in page and "receipt 7" in page
    rest = f"{(total - 1250) // 100}.{(total - 1250) % 100:02d}"
    assert staff.post(f"{url}/payments", data={"csrf_token": staff.token, "amount": rest,
                                               "method": "check"}).status_code == 303
    shown = client.get(f"/api/v1/requests/{request_id}", headers=people.headers("staff")).json
    assert shown["status"] == "approved"
    page = staff.get(url).get_data(as_text=True)
    assert f'action="{url}/payments"' not in page and 'data-balance="0"' in page


def test_refusals_show_on_the_page_and_store_nothing(app, client, people, request_id):
    staff = logged_in(app, "staff1")
    url = f"/requests/{request_id}"
    staff.post(f"{url}/invoice", data={"csrf_token": staff.token, "media": "cd"})
    total = invoice_of(client, people, request_id).json["total_cents"]
    for amount, said in (("1,000,000.00", "more than invoice"), ("12.345", "two digits"),
                         ("twelve", "amount in dollars")):
        refused = staff.post(f"{url}/payments", data={"csrf_token": staff.token,
                                                      "amount": amount, "method": "cash"})
        assert refused.status_code in (400, 409), amount
        assert said in refused.get_data(as_text=True), amount
    no_reason = staff.post(f"{url}/invoice/waive", data={"csrf_token": staff.token})
    assert no_reason.status_code == 400
    invoice = invoice_of(client, people, request_id).json
    assert (invoice["paid_cents"], invoice["status"], invoice["total_cents"]) == (
        0, "unpaid", total)
    # Without the hold box the invoice is issued without holding, but still blocks release.
    assert client.get(f"/api/v1/requests/{request_id}",
                      headers=people.headers("staff")).json["status"] == "approved"


def test_a_waiver_through_the_page(app, client, people, request_id):
    staff = logged_in(app, "staff1")
    url = f"/requests/{request_id}"
    staff.post(f"{url}/invoice", data={"csrf_token": staff.token, "media": "electronic",
                                       "hold": "yes"})
    waived = staff.post(f"{url}/invoice/waive", data={"csrf_token": staff.token,
                                                      "reason": f"hardship {SCRIPT}"})
    assert waived.status_code == 303
    html = staff.get(url).get_data(as_text=True)
    assert SCRIPT not in html and "hardship &lt;script&gt;" in html
    assert invoice_of(client, people, request_id).json["status"] == "waived"


def test_the_forms_need_their_csrf_token(app, client, people, request_id):
    staff = logged_in(app, "staff1")
    url = f"/requests/{request_id}"
    assert staff.post(f"{url}/invoice", data={"media": "paper"}).status_code == 400
    assert invoice_of(client, people, request_id).status_code == 404
    staff.post(f"{url}/invoice", data={"csrf_token": staff.token, "media": "paper"})
    assert staff.post(f"{url}/payments", data={"amount": "1", "method": "cash"}
                      ).status_code == 400
    assert staff.post(f"{url}/invoice/waive", data={"reason": "x"}).status_code == 400
    invoice = invoice_of(client, people, request_id).json
    assert (invoice["paid_cents"], invoice["status"]) == (0, "unpaid")


def test_compliance_reads_the_invoice_but_has_no_forms(app, ext, client, people, request_id):
    client.post(f"/api/v1/requests/{request_id}/invoice", json={"media": "paper"},
                headers=people.headers("staff"))
    officer = logged_in(app, "compliance1")
    url = f"/requests/{request_id}"
    html = officer.get(url).get_data(as_text=True)
    assert "INV-" in html and f'action="{url}/payments"' not in html
    assert SCRIPT not in html
    download = officer.get(f"{url}/invoice.pdf")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    [event] = audit_events(ext, "request.invoice_view", request_id)
    assert (event.actor, event.details["format"]) == ("compliance1", "pdf")
    refused = officer.post(f"{url}/payments", data={"csrf_token": officer.token,
                                                    "amount": "1", "method": "cash"})
    assert refused.status_code == 403
    assert logged_in(app, "clerk1").get(f"{url}/invoice.pdf").status_code == 403

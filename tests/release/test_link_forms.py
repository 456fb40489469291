"""The request page's links panel, on both databases: the form that makes a link shows its
address once (on its own page, not in the session cookie), the list shows downloads left,
expiry and status, the revoke form ends a link, every form needs its CSRF token, and only
release managers see the forms."""

from __future__ import annotations

import re

from tests.release.test_links import approved, download, packet_of  # noqa: F401 - fixtures
from tests.release.test_queue import SCRIPT, logged_in

URL = re.compile(r'value="(http://localhost/release/[A-Za-z0-9_-]{43})"')


def test_the_form_makes_a_link_and_shows_its_address_once(app, client, approved,  # noqa: F811
                                                          packet_of):  # noqa: F811
    packet_of(approved)
    staff = logged_in(app, "staff1")
    page = staff.get(f"/requests/{approved}").get_data(as_text=True)
    assert f'action="/requests/{approved}/links"' in page
    made = staff.post(f"/requests/{approved}/links", data={
        "csrf_token": staff.token, "expires_in_days": "5", "max_downloads": "2"})
    assert made.status_code == 201
    html = made.get_data(as_text=True)
    url = URL.search(html).group(1)
    assert "shown only this once" in html
    token = url.rsplit("/", 1)[1]
    assert download(client, token).status_code == 200

    # Not flashed into the session either: the next page would show it.
    again = staff.get(f"/requests/{approved}").get_data(as_text=True)
    assert token not in again
    row = re.search(r'<tr data-link="1" data-state="active">.*?</tr>', again, re.S).group(0)
    assert "1 of 2 (1 left)" in row
    revoke = f'action="/requests/{approved}/links/1/revoke"'
    assert revoke in row

    revoked = staff.post(f"/requests/{approved}/links/1/revoke",
                         data={"csrf_token": staff.token})
    assert revoked.status_code == 303
    after = staff.get(f"/requests/{approved}").get_data(as_text=True)
    assert 'data-state="revoked"' in after and revoke not in after
    assert download(client, token).status_code == 410


def test_the_forms_refuse_bad_input_and_missing_csrf(app, approved, packet_of):  # noqa: F811
    staff = logged_in(app, "staff1")
    no_packet = staff.post(f"/requests/{approved}/links", data={"csrf_token": staff.token})
    assert no_packet.status_code == 409
    assert "no packet yet" in no_packet.get_data(as_text=True)
    packet_of(approved)
    for field, value, problem in (("expires_in_days", "9999", "between 1 and 30"),
                                  ("max_downloads", "two", "must be a whole number")):
        refused = staff.post(f"/requests/{approved}/links",
                             data={"csrf_token": staff.token, field: value})
        assert refused.status_code == 400 and problem in refused.get_data(as_text=True)
    assert staff.post(f"/requests/{approved}/links", data={}).status_code == 400
    assert staff.post(f"/requests/{approved}/links/1/revoke", data={}).status_code == 400
    assert 'data-link="' not in staff.get(f"/requests/{approved}").get_data(as_text=True)


def test_compliance_sees_the_links_but_no_forms(app, client, people, log_request, move,
                                                packet_of):  # noqa: F811
    request_id = log_request(requester={"kind": "attorney", "name": SCRIPT}).json["id"]
    for status in ("in_review", "approved"):
        move(request_id, status)
    packet_of(request_id)
    made = client.post(f"/api/v1/requests/{request_id}/links", json={},
                       headers=people.headers("staff")).json
    officer = logged_in(app, "compliance1")
    html = officer.get(f"/requests/{request_id}").get_data(as_text=True)
    assert f'data-link="{made["id"]}"' in html and "0 of 3 (3 left)" in html
    assert "/links\"" not in html and "/revoke\"" not in html
    assert officer.post(f"/requests/{request_id}/links",
                        data={"csrf_token": officer.token}).status_code == 403
    recipient = client.get(made["url"].removeprefix("http://localhost")).get_data(as_text=True)
    assert SCRIPT not in recipient and "&lt;script&gt;" in recipient

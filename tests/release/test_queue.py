"""The work queue (GET /api/v1/requests and the /requests page) and the request page with its
forms, on both databases: soonest due first, overdue and due-this-week sections, escaped
requester names, CSRF on every form, and who may see and act."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from archive.models import AuditEvent
from release.models import ReleaseRequest
from tests.conftest import csrf_token_of, login
from tests.release.conftest import audit_events

SCRIPT = "<script>alert(1)</script>"


def logged_in(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    client.token = csrf_token_of(client.get("/").get_data(as_text=True))
    return client


def set_due(ext, request_id: int, due: date) -> None:
    """Put a request's due date where a test needs it (today moves; the clock does not)."""
    with ext.db.transaction() as session:
        session.execute(update(ReleaseRequest).where(ReleaseRequest.id == request_id)
                        .values(due=due))


@pytest.fixture
def queue(ext, log_request):
    """Four open requests: due in 20 days, overdue by 3, due in 2 and overdue by 1 (in the
    order logged); returns their ids in that order."""
    today = date.today()
    ids = []
    for offset, name in ((20, "Later Co"), (-3, "Late Co"), (2, SCRIPT), (-1, "Also Late")):
        request_id = log_request(requester={"kind": "attorney", "name": name}).json["id"]
        set_due(ext, request_id, today + timedelta(days=offset))
        ids.append(request_id)
    return ids


def test_the_api_queue_is_sorted_by_due_date_and_filters(client, people, queue, move):
    later, late, soon, also_late = queue
    listed = client.get("/api/v1/requests", headers=people.headers("compliance"))
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json["requests"]] == [late, also_late, soon, later]
    assert listed.json["total"] == 4
    due_soon = client.get("/api/v1/requests", query_string={"due_before": date.today()},
                          headers=people.headers("staff"))
    assert [r["id"] for r in due_soon.json["requests"]] == [late, also_late]
    assert move(late, "in_review").status_code == 200
    in_review = client.get("/api/v1/requests?status=in_review", headers=people.headers("staff"))
    assert [r["id"] for r in in_review.json["requests"]] == [late]
    nobody = client.get("/api/v1/requests?assignee=staff1", headers=people.headers("staff"))
    assert nobody.json["requests"] == []


def test_the_api_queue_pages_and_leaves_out_closed_requests(client, people, ext, log_request,
                                                           move, monkeypatch):
    monkeypatch.setattr("release.api.PAGE_SIZE", 2)
    ids = [log_request().json["id"] for _ in range(3)]
    for status in ("in_review", "denied", "closed"):
        assert move(ids[0], status, reason="no authorization").status_code == 200
    first = client.get("/api/v1/requests", headers=people.headers("staff")).json
    assert (first["total"], first["pages"], len(first["requests"])) == (2, 1, 2)
    assert ids[0] not in [r["id"] for r in first["requests"]]
    log_request()
    second = client.get("/api/v1/requests?page=2", headers=people.headers("staff")).json
    assert (second["page"], second["pages"], len(second["requests"])) == (2, 2, 1)


def test_the_queue_api_needs_a_role_that_may_view_requests(client, people):
    assert client.get("/api/v1/requests").status_code == 401
    for role in ("clerk", "admin"):
        assert client.get("/api/v1/requests", headers=people.headers(role)).status_code == 403
    bad = client.get("/api/v1/requests?status=lost", headers=people.headers("staff"))
    assert bad.status_code == 400


def test_the_queue_page_has_overdue_and_this_week_sections(app, ext, queue):
    later, late, soon, also_late = queue
    page = logged_in(app, "compliance1").get("/requests")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    overdue, this_week, rest = (html.index(f'id="{name}"') for name in
                                ("overdue", "this_week", "later"))
    rows = {rid: html.index(f'data-request="{rid}"') for rid in queue}
    assert overdue < rows[late] < rows[also_late] < this_week < rows[soon] < rest < rows[later]
    assert SCRIPT not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    with ext.db.transaction() as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "request.queue"))
        assert (event.actor, sorted(event.details["requests"])) == ("compliance1", sorted(queue))
    assert 'href="/requests"' in logged_in(app, "staff1").get("/").get_data(as_text=True)


def test_the_request_page_shows_clock_history_and_escapes(app, ext, log_request, move):
    request_id = log_request(requester={"kind": "patient", "name": SCRIPT}).json["id"]
    assert move(request_id, "in_review").status_code == 200
    page = logged_in(app, "compliance1").get(f"/requests/{request_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert SCRIPT not in html and "&lt;script&gt;" in html
    assert "2026-05-31" in html  # due, and the extension notice deadline
    assert html.count('data-action="request.') == 2  # logged, then in review
    assert f'action="/requests/{request_id}/status"' not in html  # compliance only views
    [viewed] = audit_events(ext, "request.view", request_id)
    assert viewed.actor == "compliance1"


def test_the_forms_move_extend_and_fulfil_a_request(app, client, people, log_request):
    request_id = log_request().json["id"]
    staff = logged_in(app, "staff1")
    url = f"/requests/{request_id}"
    assert f'action="{url}/status"' in staff.get(url).get_data(as_text=True)
    for status in ("in_review", "approved"):
        moved = staff.post(f"{url}/status", data={"csrf_token": staff.token, "status": status})
        assert moved.status_code == 303, moved.get_data(as_text=True)
    extended = staff.post(f"{url}/extend", data={"csrf_token": staff.token,
                                                 "notice_sent": "2026-05-20", "reason": "x"})
    assert extended.status_code == 303
    refused = staff.post(f"{url}/fulfil", data={"csrf_token": staff.token, "description": ""})
    assert refused.status_code == 400
    assert "description is required" in refused.get_data(as_text=True)
    done = staff.post(f"{url}/fulfil", data={"csrf_token": staff.token,
                                             "description": "two notes", "released": ""})
    assert done.status_code == 303
    shown = client.get(f"/api/v1/requests/{request_id}", headers=people.headers("staff")).json
    assert (shown["status"], shown["due"]) == ("fulfilled", "2026-06-30")
    [entry] = client.get("/api/v1/patients/MRN-1001/disclosures",
                         headers=people.headers("staff")).json["disclosures"]
    assert (entry["description"], entry["exempt"]) == ("two notes", True)


def test_the_forms_need_their_csrf_token(app, client, people, log_request):
    request_id = log_request().json["id"]
    staff = logged_in(app, "staff1")
    for action, data in (("status", {"status": "in_review"}),
                         ("extend", {"notice_sent": "2026-05-20", "reason": "x"}),
                         ("fulfil", {"description": "x"})):
        refused = staff.post(f"/requests/{request_id}/{action}", data=data)
        assert refused.status_code == 400, action
    shown = client.get(f"/api/v1/requests/{request_id}", headers=people.headers("staff")).json
    assert (shown["status"], shown["extension_notice_sent"]) == ("logged", None)


def test_only_release_managers_may_post_the_forms(app, log_request):
    request_id = log_request().json["id"]
    officer = logged_in(app, "compliance1")
    refused = officer.post(f"/requests/{request_id}/status",
                           data={"csrf_token": officer.token, "status": "in_review"})
    assert refused.status_code == 403
    assert logged_in(app, "clerk1").get("/requests").status_code == 403

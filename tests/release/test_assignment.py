"""Reassigning a request (POST /api/v1/requests/<id>/assign and the request page's form), on
both databases: only to an enabled user whose role works requests, a 400 naming the problem
otherwise with nothing changed, and each change audited with the old and new assignee."""

from __future__ import annotations

from tests.conftest import add_user
from tests.release.conftest import audit_events
from tests.release.test_queue import logged_in


def assign(client, people, request_id, assignee, role="staff"):
    return client.post(f"/api/v1/requests/{request_id}/assign", json={"assignee": assignee},
                       headers=people.headers(role))


def assignee_of(client, people, request_id):
    return client.get(f"/api/v1/requests/{request_id}", headers=people.headers("staff")
                      ).json["assignee"]


def test_a_request_goes_to_another_release_manager_and_the_change_is_audited(
        client, people, ext, log_request):
    add_user(ext, "staff2", "staff")
    request_id = log_request(assignee="staff1").json["id"]
    moved = assign(client, people, request_id, "staff2")
    assert moved.status_code == 200, moved.json
    assert moved.json["assignee"] == "staff2"
    assert assignee_of(client, people, request_id) == "staff2"
    [event] = audit_events(ext, "request.assign", request_id)
    assert (event.actor, event.details["from"], event.details["to"]) == (
        "staff1", "staff1", "staff2")
    assert event.patient_mrn == "MRN-1001"


def test_only_an_enabled_user_who_may_work_requests_can_be_assigned(client, people, ext,
                                                                    log_request):
    add_user(ext, "staff9", "staff", active=False)
    request_id = log_request(assignee="staff1").json["id"]
    for assignee, problem in (("compliance1", "compliance1 is compliance and may not work"),
                              ("clerk1", "clerk1 is clerk"),
                              ("staff9", "staff9 is disabled"),
                              ("nobody", "no user is named 'nobody'")):
        refused = assign(client, people, request_id, assignee)
        assert refused.status_code == 400, assignee
        assert refused.json["error"]["message"].startswith("assignee: ")
        assert problem in refused.json["error"]["message"]
    assert assign(client, people, request_id, "").status_code == 400
    assert assignee_of(client, people, request_id) == "staff1"
    assert audit_events(ext, "request.assign", request_id) == []


def test_who_may_reassign(client, people, log_request):
    request_id = log_request().json["id"]
    for role in ("clerk", "compliance", "admin"):
        assert assign(client, people, request_id, "staff1", role=role).status_code == 403
    assert assign(client, people, 999, "staff1").status_code == 404
    assert assignee_of(client, people, request_id) is None


def test_the_request_page_form_reassigns(app, client, people, ext, log_request):
    add_user(ext, "staff2", "staff")
    request_id = log_request().json["id"]
    staff = logged_in(app, "staff1")
    html = staff.get(f"/requests/{request_id}").get_data(as_text=True)
    assert f'action="/requests/{request_id}/assign"' in html
    assert '<option value="staff2">' in html and 'value="compliance1"' not in html
    missing_token = staff.post(f"/requests/{request_id}/assign", data={"assignee": "staff2"})
    assert missing_token.status_code == 400
    done = staff.post(f"/requests/{request_id}/assign",
                      data={"csrf_token": staff.token, "assignee": "staff2"})
    assert done.status_code == 303
    assert assignee_of(client, people, request_id) == "staff2"
    refused = staff.post(f"/requests/{request_id}/assign",
                         data={"csrf_token": staff.token, "assignee": "clerk1"})
    assert refused.status_code == 400
    assert "clerk1 is clerk" in refused.get_data(as_text=True)
    officer = logged_in(app, "compliance1")
    assert f'/requests/{request_id}/assign"' not in officer.get(
        f"/requests/{request_id}").get_data(as_text=True)

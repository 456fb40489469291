"""The status workflow through the API, on both databases: every legal move, the illegal ones
refused with a 409 naming the allowed next statuses, reasons for denials and holds, and each
change audited with the request's id."""

from __future__ import annotations

import pytest

from release.workflow import NEXT, STATUSES
from tests.release.conftest import audit_events

# A path from logged to each status, so each legal move can be tried from where it starts.
PATH_TO = {
    "logged": [],
    "in_review": ["in_review"],
    "approved": ["in_review", "approved"],
    "denied": ["in_review", "denied"],
    "fulfilled": ["in_review", "approved", "fulfilled"],
    "closed": ["in_review", "approved", "fulfilled", "closed"],
}
LEGAL = [(start, target) for start, targets in NEXT.items() for target in targets]


@pytest.fixture
def move(move, fulfil):
    """A move through /status, or through /fulfil for fulfilled (the only way there)."""

    def move_to(request_id: int, status: str, reason: str = ""):
        if status == "fulfilled":
            return fulfil(request_id)
        return move_to_status(request_id, status, reason)

    move_to_status = move
    return move_to


def walk(move, request_id: int, statuses: list[str]) -> None:
    for status in statuses:
        response = move(request_id, status, reason="needed")
        assert response.status_code == 200, (status, response.json)


@pytest.mark.parametrize(("start", "target"), LEGAL)
def test_every_legal_move(log_request, move, start, target):
    request_id = log_request().json["id"]
    walk(move, request_id, PATH_TO[start])
    response = move(request_id, target, reason="a reason")
    assert response.status_code == 200, response.json
    assert response.json["status"] == target


def test_status_does_not_accept_fulfilled(client, people, log_request, move):
    request_id = log_request().json["id"]
    walk(move, request_id, ["in_review", "approved"])
    response = client.post(f"/api/v1/requests/{request_id}/status",
                           json={"status": "fulfilled"}, headers=people.headers("staff"))
    assert response.status_code == 400
    assert response.json["error"]["message"].startswith("status:")
    shown = client.get(f"/api/v1/requests/{request_id}", headers=people.headers("staff"))
    assert shown.json["status"] == "approved"


@pytest.mark.parametrize("start", list(PATH_TO))
def test_illegal_moves_are_refused_naming_the_allowed_ones(log_request, move, start):
    request_id = log_request().json["id"]
    walk(move, request_id, PATH_TO[start])
    for target in set(STATUSES) - set(NEXT[start]) - {start}:
        response = move(request_id, target, reason="a reason")
        assert response.status_code == 409, (start, target)
        assert response.json["error"]["code"] == "transition_refused"
        message = response.json["error"]["message"]
        assert all(name in message for name in NEXT[start]), message
        if not NEXT[start]:
            assert "closed" in message


def test_a_denial_needs_a_reason(log_request, move, client, people):
    request_id = log_request().json["id"]
    walk(move, request_id, ["in_review"])
    refused = move(request_id, "denied", reason="  ")
    assert refused.status_code == 400
    assert "reason" in refused.json["error"]["message"]
    denied = move(request_id, "denied", reason="no valid authorization")
    assert denied.json["status_reason"] == "no valid authorization"
    shown = client.get(f"/api/v1/requests/{request_id}", headers=people.headers("staff"))
    assert shown.json["status"] == "denied"


def test_a_hold_needs_a_reason_and_returns_only_where_it_came_from(log_request, move):
    request_id = log_request().json["id"]
    walk(move, request_id, ["in_review", "approved"])
    assert move(request_id, "on_hold").status_code == 400
    held = move(request_id, "on_hold", reason="waiting for payment")
    assert held.json["status"] == "on_hold"
    assert held.json["allowed_next"] == ["approved"]
    refused = move(request_id, "fulfilled")
    assert refused.status_code == 409
    assert "approved" in refused.json["error"]["message"]
    back = move(request_id, "approved")
    assert back.json["status"] == "approved"
    assert back.json["allowed_next"] == ["fulfilled", "on_hold"]


def test_an_unknown_status_is_a_400_listing_the_statuses(log_request, move):
    response = move(log_request().json["id"], "lost")
    assert response.status_code == 400
    assert response.json["error"]["message"].startswith("status:")
    assert "in_review" in response.json["error"]["message"]


def test_each_change_is_audited_with_the_request_id(ext, log_request, move):
    request_id = log_request().json["id"]
    [logged] = audit_events(ext, "request.log", request_id)
    assert logged.patient_mrn == "MRN-1001"
    assert logged.actor == "staff1"
    walk(move, request_id, ["in_review", "denied"])
    changes = audit_events(ext, "request.status", request_id)
    assert [(e.details["from"], e.details["to"]) for e in changes] == [
        ("logged", "in_review"), ("in_review", "denied")]
    assert changes[-1].reason == "needed"


def test_a_refused_move_changes_nothing_and_is_not_audited_as_done(ext, log_request, move):
    request_id = log_request().json["id"]
    assert move(request_id, "fulfilled").status_code == 409
    assert audit_events(ext, "request.status", request_id) == []

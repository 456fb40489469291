"""Retention's part of the REST API: legal holds (DESIGN.md, "Contracts")."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from archive.app import archive
from archive.auth.guards import current_principal, requires
from archive.errors import BadRequest
from retention.holds import hold_json, hold_row, list_holds, place_hold, release_hold

bp = Blueprint("retention_api", __name__, url_prefix="/api/v1")


@bp.route("/holds")
@requires("hold.manage")
def holds():
    with archive().db.transaction() as session:
        rows = list_holds(session, current_principal())
        return jsonify({"holds": [hold_json(row) for row in rows]})


@bp.route("/holds", methods=["POST"])
@requires("hold.manage")
def place():
    body = _json_body()
    hold = place_hold(
        archive(),
        current_principal(),
        name=_text(body, "name"),
        reason=_text(body, "reason"),
        issuer=_text(body, "issuer"),
        contact=_text(body, "contact"),
        scope=body.get("scope"),
    )
    return _hold_response(hold.id, 201)


@bp.route("/holds/<int:hold_id>/release", methods=["POST"])
@requires("hold.manage")
def release(hold_id: int):
    release_hold(archive(), current_principal(), hold_id, _text(_json_body(), "reason"))
    return _hold_response(hold_id, 200)


def _hold_response(hold_id: int, status: int):
    with archive().db.transaction() as session:
        return jsonify(hold_json(hold_row(session, current_principal(), hold_id))), status


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("Send a JSON object with Content-Type: application/json.")
    return body


def _text(body: dict, field: str) -> str:
    value = body.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be text.")
    return value

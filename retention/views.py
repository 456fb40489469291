"""Compliance pages for legal holds: the list with the placement form, and each hold with the
documents it covers and its release form. Thin: parse, call retention.holds, render."""

from __future__ import annotations

import re

from flask import Blueprint, flash, redirect, render_template, request, url_for

from archive.auth.guards import current_principal, requires
from archive.errors import BadRequest, Conflict, UnknownPatient
from archive.extensions import archive
from archive.params import page_number
from retention.holds import hold_with_documents, list_holds, place_hold, release_hold

bp = Blueprint("retention", __name__)

PLACEMENT_FIELDS = ("name", "issuer", "contact", "reason", "mrns", "document_ids", "types",
                    "from", "to")
# Lists in the form may be separated by commas, semicolons, spaces or new lines.
_SEPARATORS = re.compile(r"[\s,;]+")


@bp.route("/holds")
@requires("hold.manage")
def holds():
    return _holds_page()


@bp.route("/holds", methods=["POST"])
@requires("hold.manage")
def place():
    typed = {field: request.form.get(field, "") for field in PLACEMENT_FIELDS}
    try:
        hold = place_hold(
            archive(),
            current_principal(),
            name=typed["name"],
            reason=typed["reason"],
            issuer=typed["issuer"],
            contact=typed["contact"],
            scope=_scope_from(typed),
        )
    except (BadRequest, UnknownPatient) as err:
        return _holds_page(typed, err.message, err.http_status)
    flash(f"Legal hold '{hold.name}' is in force.", "info")
    return redirect(url_for("retention.hold", hold_id=hold.id), code=303)


@bp.route("/holds/<int:hold_id>")
@requires("hold.manage")
def hold(hold_id: int):
    return _hold_page(hold_id, page_number(request.args))


@bp.route("/holds/<int:hold_id>/release", methods=["POST"])
@requires("hold.manage")
def release(hold_id: int):
    reason = request.form.get("reason", "")
    try:
        released = release_hold(archive(), current_principal(), hold_id, reason)
    except (BadRequest, Conflict) as err:
        return _hold_page(hold_id, 1, reason=reason, problem=err.message, status=err.http_status)
    flash(
        f"Legal hold '{released.name}' is released. Documents no other hold covers may be "
        "changed and disposed of again.",
        "info",
    )
    return redirect(url_for("retention.hold", hold_id=hold_id), code=303)


def _scope_from(typed: dict) -> dict:
    def listed(field: str) -> list[str]:
        return [value for value in _SEPARATORS.split(typed[field]) if value]

    return {
        "mrns": listed("mrns"),
        "document_ids": listed("document_ids"),
        "types": listed("types"),
        "from": typed["from"].strip() or None,
        "to": typed["to"].strip() or None,
    }


def _holds_page(typed: dict | None = None, problem: str | None = None, status: int = 200):
    with archive().db.transaction() as session:
        rows = list_holds(session, current_principal())
    return (
        render_template(
            "retention/holds.html",
            in_force=[row for row in rows if row.in_force],
            released=[row for row in rows if not row.in_force],
            typed=typed or {},
            problem=problem,
        ),
        status,
    )


def _hold_page(
    hold_id: int, page: int, *, reason: str = "", problem: str | None = None, status: int = 200
):
    with archive().db.transaction() as session:
        covered = hold_with_documents(session, current_principal(), hold_id, page)
    return (
        render_template("retention/hold.html", covered=covered, reason=reason, problem=problem),
        status,
    )

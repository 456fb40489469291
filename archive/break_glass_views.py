"""Breaking the glass on the web, and compliance's review of every emergency access.
Thin: parse, call archive.auth.restricted, render."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from archive.auth.guards import current_principal, requires
from archive.auth.restricted import REVIEW_PAGE_SIZE, break_glass, grants_to_review, review_grant
from archive.errors import BadRequest, Conflict, PermissionDenied
from archive.extensions import archive
from archive.params import Paging, page_number
from archive.web import local_path, render_restricted

bp = Blueprint("break_glass", __name__)


@bp.route("/patients/<mrn>/break-glass", methods=["POST"])
@requires("chart.break_glass")
def open_restricted(mrn: str):
    reason = request.form.get("reason", "")
    back = local_path(request.form.get("next"))
    try:
        with archive().db.transaction() as session:
            break_glass(
                session,
                current_principal(),
                mrn,
                reason,
                minutes=archive().settings.break_glass_minutes,
            )
    except BadRequest as err:
        return render_restricted(
            mrn, back, reason=reason, problem=err.message, status=err.http_status
        )
    # The chart and document pages say until when the access lasts, and why.
    return redirect(back or url_for("records.patient", mrn=mrn), code=303)


@bp.route("/break-glass/reviews")
@requires("break_glass.review")
def reviews():
    return _reviews_page(page_number(request.args))


def _reviews_page(page: int, refused: dict | None = None, status: int = 200):
    with archive().db.transaction() as session:
        listing = grants_to_review(session, current_principal(), page)
    return (
        render_template(
            "archive/break_glass_reviews.html",
            listing=listing,
            page=page,
            pages=Paging(page, REVIEW_PAGE_SIZE).pages(listing.total),
            refused=refused or {},
        ),
        status,
    )


@bp.route("/break-glass/reviews/<int:grant_id>", methods=["POST"])
@requires("break_glass.review")
def review(grant_id: int):
    comment = request.form.get("comment", "")
    page = page_number(request.form)
    try:
        with archive().db.transaction() as session:
            review_grant(session, current_principal(), grant_id, comment)
    except (BadRequest, Conflict, PermissionDenied) as err:
        refused = {"grant_id": grant_id, "message": err.message, "comment": comment}
        return _reviews_page(page, refused, err.http_status)
    flash(f"Emergency access #{grant_id} is marked reviewed.", "info")
    return redirect(url_for("break_glass.reviews", page=page), code=303)

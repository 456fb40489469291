"""The release-of-information pages: the work queue, the form that logs a new request, and
each request with its clock, its history and the forms that move it on (status, extension,
fulfilment). Thin: parse, call release.requests / release.new_request / release.disclosures /
release.queue, render."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from archive.auth.guards import current_principal, requires
from archive.errors import ArchiveError, BadRequest, Conflict, UnsupportedMediaType
from archive.extensions import archive
from archive.params import Paging, parse_date
from release.assignment import assignable_users
from release.authorizations import authorizations_in_force
from release.builder import request_packets
from release.clocks import REQUEST_TYPES
from release.disclosures import Recipient, fulfil_request
from release.history import request_history
from release.invoices import invoice_for_page
from release.new_request import LABELS, FormProblems, TypedRequest, log_from, read_form
from release.queue import OVERDUE, PAGE_SIZE, THIS_WEEK, QueueFilter, request_queue, section_of
from release.requests import (
    MANAGE,
    VIEW,
    change_status,
    extend_request,
    next_statuses,
    view_request,
)
from release.terms import LEGAL_BASES, REQUESTER_KINDS
from release.workflow import FULFILLED

bp = Blueprint("release", __name__)


@bp.route("/requests")
@requires(VIEW)
def queue_page():
    assignee = request.args.get("assignee", "").strip()[:120] or None
    today = date.today()
    with archive().db.transaction() as session:
        total, paging, rows = request_queue(session, current_principal(),
                                            QueueFilter(assignee=assignee),
                                            Paging.of(request.args, PAGE_SIZE))
        # Sorted by due date, so a page's rows fall into the sections in order.
        sections = {name: [row for row in rows if section_of(row, today) == name]
                    for name in (OVERDUE, THIS_WEEK)}
        later = [row for row in rows if section_of(row, today) not in sections]
        return render_template("release/queue.html", sections=sections, later=later,
                               total=total, paging=paging, pages=paging.pages(total),
                               assignee=assignee or "")


@bp.route("/requests/new")
@requires(MANAGE)
def new_request_page():
    return _new_request_form(TypedRequest.blank(date.today()))


@bp.route("/requests", methods=["POST"])
@requires(MANAGE)
def log():
    """Log a request from the page's form, through the API's own shape and service."""
    typed = TypedRequest.of(request.form)
    try:
        row = log_from(archive().db, current_principal(), current_app.config["RELEASE_CLOCKS"],
                       read_form(typed))
    except FormProblems as refused:
        return _new_request_form(typed, refused.problems, status=400)
    except ArchiveError as err:  # an unknown MRN (404), a received date in the future ...
        return _new_request_form(typed, {"": err.message}, status=err.http_status)
    flash(f"Request #{row.id} logged; due {row.due.isoformat()}.", "info")
    return redirect(url_for("release.request_page", request_id=row.id), code=303)


def _new_request_form(typed: TypedRequest, problems: dict[str, str] | None = None,
                      status: int = 200):
    with archive().db.transaction() as session:
        assignable = assignable_users(session)
    return render_template("release/new_request.html", typed=typed, problems=problems or {},
                           labels=LABELS, kinds=REQUESTER_KINDS, bases=LEGAL_BASES,
                           request_types=REQUEST_TYPES, assignable=assignable), status


@bp.route("/requests/<int:request_id>")
@requires(VIEW)
def request_page(request_id: int):
    return request_page_with(request_id)


@bp.route("/requests/<int:request_id>/status", methods=["POST"])
@requires(MANAGE)
def status(request_id: int):
    form = request.form
    return act_on_request(request_id, "Status changed.", lambda: change_status(
        archive().db, current_principal(), request_id, form.get("status", ""),
        form.get("reason", "")))


@bp.route("/requests/<int:request_id>/extend", methods=["POST"])
@requires(MANAGE)
def extend(request_id: int):
    form = request.form

    def extend_now():
        notice_sent = parse_date(form.get("notice_sent", ""), "notice_sent")
        if notice_sent is None:
            raise BadRequest("notice_sent is required: the date the written notice went out.")
        return extend_request(archive().db, current_principal(),
                              current_app.config["RELEASE_CLOCKS"], request_id,
                              notice_sent=notice_sent, reason=form.get("reason", ""))

    return act_on_request(request_id, "Due date extended.", extend_now)


@bp.route("/requests/<int:request_id>/fulfil", methods=["POST"])
@requires(MANAGE)
def fulfil(request_id: int):
    form = request.form

    def fulfil_now():
        name = form.get("recipient_name", "").strip()
        return fulfil_request(
            archive().db, current_principal(), request_id,
            description=form.get("description", ""),
            released=parse_date(form.get("released", ""), "released"),
            recipient=Recipient(name, form.get("recipient_address", "")) if name else None)

    return act_on_request(request_id,
                          "Release recorded in the patients' accounting of disclosures.",
                          fulfil_now)


def act_on_request(request_id: int, done: str, action):
    """Run a change; on success back to the request page (303), on a refusal the page again
    with the reason and the refusal's status."""
    try:
        action()
    except (BadRequest, Conflict, UnsupportedMediaType) as err:
        return request_page_with(request_id, problem=err.message, status=err.http_status)
    flash(done, "info")
    return redirect(url_for("release.request_page", request_id=request_id), code=303)


def request_page_with(request_id: int, problem: str | None = None, status: int = 200):
    with archive().db.transaction() as session:
        row = view_request(session, current_principal(), request_id)
        allowed = next_statuses(row)
        moves = [status for status in allowed if status != FULFILLED]
        return render_template(
            "release/request.html", row=row, history=request_history(session, row),
            moves=moves, can_fulfil=FULFILLED in allowed,
            problem=problem, today=date.today(), packets=request_packets(session, row.id),
            invoice=invoice_for_page(session, row.id),
            authorizations=authorizations_in_force(session, row)), status

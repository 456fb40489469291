"""The request page's delivery forms: make a time-limited link (its address shown once, on a
page of its own, never put in the session cookie), revoke one, reassign the request, and
download the denial letter. Thin: parse, call release.links / release.assignment /
release.denial_letter, render. The request page reads its panel through the template
global ``release_delivery``, so release.views needs no change for it."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, current_app, render_template, request

from archive.auth.guards import current_principal, requires
from archive.errors import BadRequest, Conflict, NotFound
from archive.extensions import archive
from release.assignment import assign_request, assignable_users
from release.delivery_api import denial_letter_response, link_url
from release.link_models import ReleaseLink
from release.links import (
    DEFAULT_DAYS,
    DEFAULT_DOWNLOADS,
    DELIVERABLE,
    create_link,
    link_state,
    request_links,
    revoke_link,
)
from release.packets import latest_packet
from release.requests import MANAGE, VIEW
from release.views import act_on_request, request_page_with

bp = Blueprint("release_delivery", __name__)


@dataclass(frozen=True)
class Delivery:
    """What the request page's delivery panel shows."""

    links: list[tuple[ReleaseLink, str]]  # each link and its state
    has_packet: bool
    assignable: list[str]
    default_days: int
    max_days: int
    default_downloads: int
    deliverable: tuple[str, ...]


@bp.app_template_global("release_delivery")
def release_delivery(request_id: int) -> Delivery:
    with archive().db.transaction() as session:
        links = request_links(session, current_principal(), request_id)
        try:
            has_packet = latest_packet(session, request_id) is not None
        except NotFound:
            has_packet = False
        return Delivery(links=[(link, link_state(link)) for link in links],
                        has_packet=has_packet, assignable=assignable_users(session),
                        default_days=DEFAULT_DAYS,
                        max_days=current_app.config["RELEASE_LINK_MAX_DAYS"],
                        default_downloads=DEFAULT_DOWNLOADS, deliverable=DELIVERABLE)


@bp.route("/requests/<int:request_id>/links", methods=["POST"])
@requires(MANAGE)
def make_link(request_id: int):
    try:
        link, token = create_link(
            archive().db, current_principal(), request_id,
            expires_in_days=_whole_number("expires_in_days", DEFAULT_DAYS),
            max_downloads=_whole_number("max_downloads", DEFAULT_DOWNLOADS),
            max_days=current_app.config["RELEASE_LINK_MAX_DAYS"])
    except (BadRequest, Conflict) as err:
        return request_page_with(request_id, problem=err.message, status=err.http_status)
    # Rendered, not redirected: a flashed message would carry the token in the cookie.
    return render_template("release/link_created.html", request_id=request_id, link=link,
                           url=link_url(token)), 201


@bp.route("/requests/<int:request_id>/links/<int:link_id>/revoke", methods=["POST"])
@requires(MANAGE)
def revoke(request_id: int, link_id: int):
    return act_on_request(request_id, f"Link {link_id} revoked: it no longer works.",
                lambda: revoke_link(archive().db, current_principal(), request_id, link_id))


@bp.route("/requests/<int:request_id>/assign", methods=["POST"])
@requires(MANAGE)
def assign(request_id: int):
    assignee = request.form.get("assignee", "")[:120]
    return act_on_request(request_id, f"Request assigned to {assignee.strip()}.",
                lambda: assign_request(archive().db, current_principal(), request_id,
                                       assignee))


@bp.route("/requests/<int:request_id>/letter.pdf")
@requires(VIEW)
def letter_pdf(request_id: int):
    return denial_letter_response(request_id)


def _whole_number(field: str, default: int) -> int:
    value = request.form.get(field, "").strip()
    if not value:
        return default
    if not value.isdigit() or len(value) > 6:
        raise BadRequest(f"{field} must be a whole number, not {value[:20]!r}.")
    return int(value)


"""Delivery's part of release of information's REST API: time-limited links to a request's
packet (made, listed, revoked), reassigning a request, and the denial letter. Thin: parse,
call release.links / release.assignment / release.denial_letter, answer."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, url_for

from archive.api_spec import body_of, operation
from archive.auth.guards import current_principal, requires
from archive.extensions import archive
from archive.records.downloads import attachment
from release.api import request_json
from release.assignment import assign_request
from release.delivery_schemas import Assignment, LinkList, LinkOut, NewLink, NewLinkOut
from release.denial_letter import denial_letter
from release.denial_pdf import render_denial_letter
from release.link_models import ReleaseLink
from release.links import create_link, link_state, request_links, revoke_link
from release.requests import MANAGE, VIEW
from release.schemas import RequestOut

bp = Blueprint("release_delivery_api", __name__, url_prefix="/api/v1")


@bp.route("/requests/<int:request_id>/links", methods=["POST"])
@requires(MANAGE)
@operation("Make a time-limited link to the request's latest packet for a requester outside "
           "the hospital; the URL holds the token and is shown only in this answer (audited)",
           body=NewLink, status=201, answer=NewLinkOut)
def make_link(request_id: int):
    body = body_of(NewLink)
    link, token = create_link(archive().db, current_principal(), request_id,
                              expires_in_days=body.expires_in_days,
                              max_downloads=body.max_downloads,
                              max_days=current_app.config["RELEASE_LINK_MAX_DAYS"])
    return jsonify({**link_json(link), "url": link_url(token)}), 201


@bp.route("/requests/<int:request_id>/links")
@requires(VIEW)
@operation("The request's links, newest first, with their downloads and status (no tokens: "
           "none are kept)", answer=LinkList)
def links(request_id: int):
    with archive().db.transaction() as session:
        rows = request_links(session, current_principal(), request_id)
        return jsonify({"request": request_id, "links": [link_json(row) for row in rows]})


@bp.route("/requests/<int:request_id>/links/<int:link_id>/revoke", methods=["POST"])
@requires(MANAGE)
@operation("Revoke a link: from now on it answers 410 Gone (audited)", answer=LinkOut)
def revoke(request_id: int, link_id: int):
    return jsonify(link_json(revoke_link(archive().db, current_principal(), request_id,
                                         link_id)))


@bp.route("/requests/<int:request_id>/assign", methods=["POST"])
@requires(MANAGE)
@operation("Give the request to another member of the release team: an enabled user whose "
           "role may work requests (audited with the old and new assignee)",
           body=Assignment, answer=RequestOut)
def assign(request_id: int):
    body = body_of(Assignment)
    row = assign_request(archive().db, current_principal(), request_id, body.assignee)
    return jsonify(request_json(row))


@bp.route("/requests/<int:request_id>/letter.pdf")
@requires(VIEW)
@operation("The denial letter of a denied request, with the requester's review and complaint "
           "rights for a right-of-access request (audited download)",
           media_type="application/pdf")
def letter_pdf(request_id: int):
    return denial_letter_response(request_id)


def denial_letter_response(request_id: int) -> Response:
    """The denial letter as a download, for the API and the request page alike."""
    return attachment(_denial_letter_pdf(request_id), "application/pdf",
                      f"request-{request_id}-denial.pdf")


def _denial_letter_pdf(request_id: int) -> bytes:
    # Rendered inside the transaction: the download is audited only if the letter is made.
    with archive().db.transaction() as session:
        letter = denial_letter(session, current_principal(), request_id,
                               current_app.config["RELEASE_CONTACT"])
        return render_denial_letter(letter)


def link_url(token: str) -> str:
    return url_for("release_links.landing", token=token, _external=True)


def link_json(link: ReleaseLink) -> dict:
    return {"id": link.id, "packet": link.packet_id, "expires": link.expires_at.isoformat(),
            "max_downloads": link.max_downloads, "downloads": link.downloads,
            "status": link_state(link),
            "revoked_at": link.revoked_at.isoformat() if link.revoked_at else None,
            "revoked_by": link.revoked_by or None, "created_by": link.created_by,
            "created_at": link.created_at.isoformat()}

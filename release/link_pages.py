"""What a requester outside the hospital reaches with a time-limited link: a small page
naming the request, the recipient and the expiry, with a download button, and the packet
itself. Both are public on purpose: the token in the address is the credential
(release.links). The page does not count as a download, so a mail scanner that opens the
address does not use one up. A link that no longer works answers 410 Gone with a page saying
what happened and whom to contact; an unknown token 404."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from archive.auth.guards import client_address, public
from archive.extensions import archive
from archive.records.downloads import verified_download
from release.links import LinkGone, Visitor, open_link_page, take_download

bp = Blueprint("release_links", __name__)


@bp.route("/release/<token>")
@public
def landing(token: str):
    try:
        page = open_link_page(archive().db, token, _visitor())
    except LinkGone as gone:
        return _gone(gone)
    return render_template("release/link.html", page=page, token=token)


@bp.route("/release/<token>/packet.pdf")
@public
def packet(token: str):
    try:
        row, chunks = take_download(archive(), token, _visitor())
    except LinkGone as gone:
        return _gone(gone)
    response = verified_download(chunks, sha256=row.sha256, size=row.size,
                                 media_type="application/pdf",
                                 filename=f"request-{row.request_id}-records.pdf")
    response.headers["Cache-Control"] = "no-store"
    return response


def _visitor() -> Visitor:
    return Visitor(client_address(), request.headers.get("User-Agent", ""))


def _gone(gone: LinkGone):
    return render_template("release/link_gone.html", gone=gone,
                           contact=current_app.config["RELEASE_CONTACT"]), 410

"""The request page's forms for a signed authorization: attach its scan, record its
revocation. Thin: parse, call release.authorizations, then back to the request page (or the
page again with the refusal, as release.views does for its own forms)."""

from __future__ import annotations

from flask import Blueprint, request

from archive.auth.guards import current_principal, requires
from archive.errors import MissingFile
from archive.extensions import archive
from archive.interfaces import Upload
from archive.params import parse_date
from release.authorizations import attach_authorization, revoke_authorization
from release.requests import MANAGE

# The request page and its way of answering a refused form are release.views' own.
from release.views import act_on_request

bp = Blueprint("release_authorization", __name__)


@bp.route("/requests/<int:request_id>/authorization", methods=["POST"])
@requires(MANAGE)
def attach(request_id: int):
    form = request.form

    def attach_now():
        file = request.files.get("file")
        if file is None or not file.filename:
            raise MissingFile("Choose the scan of the signed authorization to attach.")
        return attach_authorization(
            archive(), current_principal(), request_id,
            Upload(stream=file.stream, filename=file.filename),
            expires=parse_date(form.get("expires", ""), "expires"),
            signed=parse_date(form.get("signed", ""), "signed"),
            mrn=form.get("mrn", "").strip() or None)

    return act_on_request(request_id, "Authorization attached and filed in the chart.",
                          attach_now)


@bp.route("/requests/<int:request_id>/authorization/revoke", methods=["POST"])
@requires(MANAGE)
def revoke(request_id: int):
    form = request.form
    return act_on_request(request_id, "Revocation recorded: no release may follow it.",
                          lambda: revoke_authorization(
                              archive().db, current_principal(), request_id,
                              revoked_on=parse_date(form.get("revoked_on", ""), "revoked_on"),
                              reason=form.get("reason", ""),
                              mrn=form.get("mrn", "").strip() or None))

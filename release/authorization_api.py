"""The signed-authorization part of release of information's REST API: attach the scan of a
request's authorization, read it, record its revocation. Thin: parse, call
release.authorizations, answer."""

from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for

from archive.api_spec import body_of, form_of, operation
from archive.auth.guards import current_principal, requires
from archive.errors import MissingFile
from archive.extensions import archive
from archive.interfaces import Upload
from archive.params import parse_date
from release.authorization_models import ReleaseAuthorization
from release.authorization_schemas import AuthorizationForm, AuthorizationOut, Revocation
from release.authorizations import (
    attach_authorization,
    revoke_authorization,
    view_authorizations,
)
from release.requests import MANAGE, VIEW

bp = Blueprint("release_authorization_api", __name__, url_prefix="/api/v1")


@bp.route("/requests/<int:request_id>/authorization", methods=["POST"])
@requires(MANAGE)
@operation("Attach the signed authorization of a request made under one: the scan is filed "
           "in the patient's chart (type authorization) and linked with its expiry",
           form=AuthorizationForm, file=True, status=201, answer=AuthorizationOut)
def attach(request_id: int):
    form = form_of(AuthorizationForm)
    file = request.files.get("file")
    if file is None:
        raise MissingFile("Attach the scan of the signed authorization as the multipart "
                          "field 'file' (PDF, TIFF, PNG or JPEG).")
    mrn, link = attach_authorization(
        archive(), current_principal(), request_id,
        Upload(stream=file.stream, filename=file.filename or ""),
        expires=parse_date(form.expires, "expires"), signed=parse_date(form.signed, "signed"),
        mrn=form.mrn)
    return jsonify(authorization_json(request_id, mrn, link)), 201


@bp.route("/requests/<int:request_id>/authorization")
@requires(VIEW)
@operation("Each patient's authorization in force on the request: its document, expiry and "
           "any revocation (audited)", answer=AuthorizationOut)
def show(request_id: int):
    with archive().db.transaction() as session:
        links = view_authorizations(session, current_principal(), request_id)
        return jsonify({"request": request_id,
                        "on_file": all(link is not None for link in links.values()),
                        "authorizations": [authorization_json(request_id, mrn, link)
                                           for mrn, link in links.items() if link]})


@bp.route("/requests/<int:request_id>/authorization/revoke", methods=["POST"])
@requires(MANAGE)
@operation("Record the patient's revocation of the request's authorization; releases made "
           "before it stand, none may follow", body=Revocation, answer=AuthorizationOut)
def revoke(request_id: int):
    body = body_of(Revocation)
    mrn, link = revoke_authorization(archive().db, current_principal(), request_id,
                                revoked_on=parse_date(body.revoked_on, "revoked_on"),
                                reason=body.reason, mrn=body.mrn)
    return jsonify(authorization_json(request_id, mrn, link))


def authorization_json(request_id: int, mrn: str, link: ReleaseAuthorization) -> dict:
    return {
        "request": request_id, "on_file": True, "id": link.id, "mrn": mrn,
        "document_id": link.document_id,
        "document": url_for("api.get_document", document_id=link.document_id),
        "signed": link.signed_on.isoformat() if link.signed_on else None,
        "expires": link.expires_on.isoformat(),
        "revoked_on": link.revoked_on.isoformat() if link.revoked_on else None,
        "revoke_reason": link.revoke_reason,
        "attached_by": link.attached_by, "attached_at": link.attached_at.isoformat(),
    }

"""The amendment endpoints of the REST API (45 CFR 164.526): accept or deny an amendment
request, file the patient's statement of disagreement and the hospital's rebuttal, and read
what a request has produced. Thin: parse, call release.amendments, answer."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, url_for

from archive.api_spec import body_of, operation
from archive.auth.guards import current_principal, requires
from archive.extensions import archive
from release.amendment_models import AmendmentLink
from release.amendment_schemas import AmendmentDenial, AmendmentState, AmendmentStep, AmendmentText
from release.amendments import (
    accept_amendment,
    amendment_state,
    deny_amendment,
    file_disagreement,
    file_rebuttal,
    link_json,
)
from release.requests import MANAGE, VIEW

bp = Blueprint("release_amendment_api", __name__, url_prefix="/api/v1")


@bp.route("/requests/<int:request_id>/amendment")
@requires(VIEW)
@operation("What an amendment request has filed so far: the amendment, or the denial, "
           "statement of disagreement and rebuttal, each a document (audited)",
           answer=AmendmentState)
def state(request_id: int):
    with archive().db.transaction() as session:
        return jsonify(amendment_state(session, current_principal(), request_id))


@bp.route("/requests/<int:request_id>/amendment/accept", methods=["POST"])
@requires(MANAGE)
@operation("Accept an amendment request: the text is filed as a new document linked to the "
           "one it amends (which stays unchanged), and the request is approved",
           body=AmendmentText, status=201, answer=AmendmentStep)
def accept(request_id: int):
    text = body_of(AmendmentText).text
    return _answer(accept_amendment(archive(), current_principal(), request_id, text))


@bp.route("/requests/<int:request_id>/amendment/deny", methods=["POST"])
@requires(MANAGE)
@operation("Deny an amendment request: a denial letter (the basis, the patient's right to "
           "disagree, how to complain) is filed and linked to the document",
           body=AmendmentDenial, status=201, answer=AmendmentStep)
def deny(request_id: int):
    reason = body_of(AmendmentDenial).reason
    return _answer(deny_amendment(archive(), current_principal(), request_id, reason,
                                  current_app.config["AMENDMENT_CONTACT"]))


@bp.route("/requests/<int:request_id>/amendment/disagreement", methods=["POST"])
@requires(MANAGE)
@operation("File the patient's statement of disagreement with a denial, linked to the "
           "document", body=AmendmentText, status=201, answer=AmendmentStep)
def disagreement(request_id: int):
    text = body_of(AmendmentText).text
    return _answer(file_disagreement(archive(), current_principal(), request_id, text))


@bp.route("/requests/<int:request_id>/amendment/rebuttal", methods=["POST"])
@requires(MANAGE)
@operation("File the hospital's rebuttal of the patient's statement of disagreement, linked "
           "to the document", body=AmendmentText, status=201, answer=AmendmentStep)
def rebuttal(request_id: int):
    text = body_of(AmendmentText).text
    return _answer(file_rebuttal(archive(), current_principal(), request_id, text))


def _answer(link: AmendmentLink):
    with archive().db.transaction() as session:
        link = session.merge(link, load=True)
        body = {**link_json(link), "status": link.request.status,
                "link": url_for("api.get_document", document_id=link.linked_document_id)}
    return jsonify(body), 201

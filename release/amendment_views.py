"""The amendment forms of a request's page (45 CFR 164.526): accept with the amendment's
text, deny with the basis, file the patient's statement of disagreement and the hospital's
rebuttal. Thin: parse, call release.amendments, and answer as the request page's other
forms do (release.views: back to the page, or the page again with the refusal)."""

from __future__ import annotations

from flask import Blueprint, current_app, request

from archive.auth.guards import current_principal, requires
from archive.extensions import archive
from release import views as request_views
from release.amendment_models import AMENDMENT, DENIAL, DISAGREEMENT, REBUTTAL
from release.amendments import (
    LABELS,
    accept_amendment,
    deny_amendment,
    file_disagreement,
    file_rebuttal,
)
from release.requests import MANAGE

bp = Blueprint("release_amendment", __name__)


@bp.route("/requests/<int:request_id>/amendment/accept", methods=["POST"])
@requires(MANAGE)
def accept(request_id: int):
    text = request.form.get("text", "")
    return _filed(request_id, AMENDMENT, lambda: accept_amendment(
        archive(), current_principal(), request_id, text))


@bp.route("/requests/<int:request_id>/amendment/deny", methods=["POST"])
@requires(MANAGE)
def deny(request_id: int):
    reason = request.form.get("reason", "")
    return _filed(request_id, DENIAL, lambda: deny_amendment(
        archive(), current_principal(), request_id, reason,
        current_app.config["AMENDMENT_CONTACT"]))


@bp.route("/requests/<int:request_id>/amendment/disagreement", methods=["POST"])
@requires(MANAGE)
def disagreement(request_id: int):
    text = request.form.get("text", "")
    return _filed(request_id, DISAGREEMENT, lambda: file_disagreement(
        archive(), current_principal(), request_id, text))


@bp.route("/requests/<int:request_id>/amendment/rebuttal", methods=["POST"])
@requires(MANAGE)
def rebuttal(request_id: int):
    text = request.form.get("text", "")
    return _filed(request_id, REBUTTAL, lambda: file_rebuttal(
        archive(), current_principal(), request_id, text))


def _filed(request_id: int, kind: str, action):
    # The request page's own pattern, so a refusal reads the same on every form of it.
    return request_views.act_on_request(
        request_id, f"{LABELS[kind]} filed and linked to the document.", action)


def init_app(app) -> None:
    """Plug amendments in (called from release.init_app): the table, both blueprints, the
    document page's panel, and the links' share in a document's destruction."""
    import release.amendment_models  # noqa: F401 - the links' table, on the shared metadata
    from archive.extensions import DocumentSection, csrf
    from release import amendment_api
    from release.amendments import document_amendments, forget_links

    # Where the denial letter sends statements of disagreement and complaints; a hospital
    # names its own office (and address) here.
    app.config.setdefault("AMENDMENT_CONTACT", "the Privacy Officer, Health Information "
                                               "Management Department")
    ext = app.extensions["chartvault"]
    ext.document_sections.append(DocumentSection(
        "amendments", document_amendments, "release/_document_amendments.html"))
    ext.document_erasers.append(forget_links)
    app.register_blueprint(bp)
    app.register_blueprint(amendment_api.bp)
    csrf.exempt(amendment_api.bp)  # Bearer tokens, no cookies (as the core API)

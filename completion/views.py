"""Chart completion's pages: a patient's encounters, linked from the patient's page. Thin:
parse, call completion.encounters, render."""

from __future__ import annotations

from flask import Blueprint, render_template

from archive.auth.guards import current_principal, requires
from archive.extensions import archive
from completion.encounters import VIEW, encounters_of
from completion.linking import documents_of

bp = Blueprint("completion", __name__)


@bp.route("/patients/<mrn>/encounters")
@requires(VIEW)
def encounters_page(mrn: str):
    with archive().db.transaction() as session:
        patient, found = encounters_of(session, current_principal(), mrn)
        documents = documents_of(session, [e.id for e in found])
        return render_template("completion/encounters.html", patient=patient,
                               encounters=found, documents=documents)

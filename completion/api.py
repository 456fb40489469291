"""Chart completion's part of the REST API (DESIGN.md, "Contracts added with the second
round of issues"): a patient's encounters. Thin: parse, call completion.encounters, answer."""

from __future__ import annotations

from flask import Blueprint, jsonify

from archive.api_spec import operation, query_of
from archive.auth.guards import current_principal, requires
from archive.extensions import archive
from completion.encounters import VIEW, encounter_json, encounters_of
from completion.linking import documents_of
from completion.schemas import EncounterList, EncounterQuery

bp = Blueprint("completion_api", __name__, url_prefix="/api/v1")


@bp.route("/encounters")
@requires(VIEW)
@operation("A patient's encounters (admissions and visits), newest first, with the "
           "documents matched to each (staff, compliance, admin; audited)",
           query=EncounterQuery, answer=EncounterList)
def encounters():
    mrn = query_of(EncounterQuery).mrn
    with archive().db.transaction() as session:
        _, found = encounters_of(session, current_principal(), mrn)
        documents = documents_of(session, [e.id for e in found])
        return jsonify({"mrn": mrn, "encounters": [
            {**encounter_json(e), "documents": [d.id for d in documents.get(e.id, [])]}
            for e in found]})

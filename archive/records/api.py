"""REST API for patients and documents (DESIGN.md, "Contracts")."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from sqlalchemy import text

from archive.app import archive
from archive.auth.guards import current_principal, public, requires
from archive.auth.restricted import break_glass
from archive.errors import ArchiveError, BadRequest, MissingFile
from archive.jsonbody import json_object
from archive.models import Document, DocumentVersion, Patient
from archive.records.downloads import original_response
from archive.records.service import (
    Filing,
    Upload,
    add_document,
    add_version,
    parse_date,
    register_patient,
    view_document,
    view_patient,
)

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _iso(value):
    return value.isoformat() if value else None


def patient_json(patient: Patient, *, with_documents: bool = False) -> dict:
    body = {
        "mrn": patient.mrn,
        "name": patient.name,
        "dob": _iso(patient.dob),
        "date_of_death": _iso(patient.date_of_death),
        "restricted": patient.restricted,
    }
    if with_documents:
        body["documents"] = [
            {
                "id": d.id,
                "type": d.doc_type,
                "date_of_service": _iso(d.date_of_service),
                "status": d.status,
                "versions": len(d.versions),
            }
            for d in patient.documents
        ]
    return body


def version_json(version: DocumentVersion) -> dict:
    return {
        "number": version.number,
        "sha256": version.sha256,
        "size": version.size,
        "media_type": version.media_type,
        "created_at": _iso(version.created_at),
        "created_by": version.created_by_name,
        "reason": version.reason,
    }


def document_json(session, document: Document) -> dict:
    latest = document.latest_version
    body = {
        "id": document.id,
        "mrn": document.patient.mrn,
        "type": document.doc_type,
        "date_of_service": _iso(document.date_of_service),
        "department": document.department,
        "status": document.status,
        "versions": [version_json(v) for v in document.versions],
        "pages": [
            {"page": p.number, "blank": p.blank, "confidence": p.confidence} for p in latest.pages
        ],
        # True until the packages that keep them say otherwise (document_sections).
        "qc_flags": [],
        "holds": [],
    }
    for section in archive().document_sections:
        if section.in_api:
            body[section.key] = section.load(session, document)
    return body


def _string(body: dict, field: str) -> str:
    value = body.get(field, "")
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a string.")
    return value


def _upload_from_request() -> Upload:
    file = request.files.get("file")
    if file is None:
        raise MissingFile("Attach the scan as the multipart field 'file'.")
    return Upload(stream=file.stream, filename=file.filename or "")


def _filed(filing: Filing):
    version = filing.version
    body = {
        "id": version.document_id,
        "version": version.number,
        "sha256": version.sha256,
        "status": "queued",
    }
    if filing.duplicate:
        # The same bytes were already filed for this patient: nothing new stored or queued.
        body.update(status=version.document.status, duplicate_of=version.document_id)
        return jsonify(body), 200
    return jsonify(body), 202


@bp.route("/health")
@public
def health():
    checks = {}
    try:
        with archive().db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as err:  # noqa: BLE001 - any failure means "not healthy"
        checks["database"] = f"unavailable: {type(err).__name__}"
    try:
        archive().store.ping()
        checks["storage"] = "ok"
    except ArchiveError as err:
        checks["storage"] = f"unavailable: {err.message}"
    healthy = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ok" if healthy else "unavailable", **checks}), (
        200 if healthy else 503
    )


@bp.route("/patients", methods=["POST"])
@requires("patient.create")
def create_patient():
    body = json_object()
    restricted = body.get("restricted", False)
    if not isinstance(restricted, bool):
        raise BadRequest("restricted must be true or false.")
    with archive().db.transaction() as session:
        patient = register_patient(
            session,
            current_principal(),
            mrn=_string(body, "mrn"),
            name=_string(body, "name"),
            dob=parse_date(body.get("dob"), "dob"),
            date_of_death=parse_date(body.get("date_of_death"), "date_of_death"),
            restricted=restricted,
        )
        return jsonify(patient_json(patient)), 201


@bp.route("/patients/<mrn>")
@requires("patient.view")
def get_patient(mrn: str):
    with archive().db.transaction() as session:
        patient = view_patient(session, current_principal(), mrn)
        return jsonify(patient_json(patient, with_documents=True))


@bp.route("/patients/<mrn>/break-glass", methods=["POST"])
@requires("chart.break_glass")
def break_the_glass(mrn: str):
    reason = json_object().get("reason")
    with archive().db.transaction() as session:
        grant = break_glass(
            session,
            current_principal(),
            mrn,
            reason if isinstance(reason, str) else "",
            minutes=archive().settings.break_glass_minutes,
        )
        return jsonify(
            {
                "id": grant.id,
                "mrn": mrn,
                "reason": grant.reason,
                "granted_at": _iso(grant.granted_at),
                "expires_at": _iso(grant.expires_at),
            }
        ), 201


@bp.route("/documents", methods=["POST"])
@requires("document.upload")
def create_document():
    form = request.form
    filing = add_document(
        archive(),
        current_principal(),
        mrn=form.get("mrn", "").strip(),
        doc_type=form.get("type", ""),
        upload=_upload_from_request(),
        date_of_service=parse_date(form.get("date_of_service"), "date_of_service"),
        department=form.get("department"),
    )
    return _filed(filing)


@bp.route("/documents/<int:document_id>/versions", methods=["POST"])
@requires("document.upload")
def create_version(document_id: int):
    filing = add_version(
        archive(),
        current_principal(),
        document_id=document_id,
        upload=_upload_from_request(),
        reason=request.form.get("reason", ""),
    )
    return _filed(filing)


@bp.route("/documents/<int:document_id>")
@requires("document.view")
def get_document(document_id: int):
    with archive().db.transaction() as session:
        document = view_document(session, current_principal(), document_id)
        return jsonify(document_json(session, document))


@bp.route("/documents/<int:document_id>/versions/<int:number>/original")
@requires("document.read")
def download_original(document_id: int, number: int):
    return original_response(current_principal(), document_id, number)

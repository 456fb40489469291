"""REST API for patients and documents (DESIGN.md, "Contracts")."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from sqlalchemy import text

from archive.api_spec import body_of, form_of, operation
from archive.auth.guards import current_principal, public, requires
from archive.auth.restricted import break_glass
from archive.errors import ArchiveError, MissingFile
from archive.extensions import archive
from archive.interfaces import Upload
from archive.models import Document, DocumentVersion, Patient
from archive.params import parse_date
from archive.records.downloads import original_response
from archive.records.filing import Filing, add_document, add_version
from archive.records.patients import register_patient, view_patient
from archive.records.reading import view_document
from archive.records.schemas import (
    BreakGlass,
    DocumentOut,
    Filed,
    Grant,
    Health,
    NewDocument,
    NewPatient,
    NewVersion,
    PatientOut,
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
        "pages": [_page_json(page) for page in latest.pages],
        # True until the packages that keep them say otherwise (document_sections).
        "qc_flags": [],
        "holds": [],
    }
    for section in archive().document_sections:
        if section.in_api:
            body[section.key] = section.load(session, document)
    return body


def _page_json(page) -> dict:
    return {
        "page": page.number,
        "blank": page.blank,
        "confidence": page.confidence,
        "skew": page.skew,
        "straightened": page.straightened,
    }


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
@operation("Whether the database and the object store answer", answer=Health)
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
@operation("Register a patient", body=NewPatient, status=201, answer=PatientOut)
def create_patient():
    body = body_of(NewPatient)
    with archive().db.transaction() as session:
        patient = register_patient(
            session,
            current_principal(),
            mrn=body.mrn,
            name=body.name,
            dob=parse_date(body.dob, "dob"),
            date_of_death=parse_date(body.date_of_death, "date_of_death"),
            restricted=body.restricted,
        )
        return jsonify(patient_json(patient)), 201


@bp.route("/patients/<mrn>")
@requires("patient.view")
@operation("A patient and their documents (audited)", answer=PatientOut)
def get_patient(mrn: str):
    with archive().db.transaction() as session:
        patient = view_patient(session, current_principal(), mrn)
        return jsonify(patient_json(patient, with_documents=True))


@bp.route("/patients/<mrn>/break-glass", methods=["POST"])
@requires("chart.break_glass")
@operation("Open a restricted chart for a while, giving the reason (reviewed by compliance)",
           body=BreakGlass, status=201, answer=Grant)
def break_the_glass(mrn: str):
    reason = body_of(BreakGlass).reason
    with archive().db.transaction() as session:
        grant = break_glass(
            session,
            current_principal(),
            mrn,
            reason,
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
@operation("File a scan for a patient (202: queued for OCR; 200: the same bytes were filed "
           "already)", form=NewDocument, file=True, status=202, answer=Filed)
def create_document():
    form = form_of(NewDocument)
    filing = add_document(
        archive(),
        current_principal(),
        mrn=form.mrn,
        doc_type=form.type,
        upload=_upload_from_request(),
        date_of_service=parse_date(form.date_of_service, "date_of_service"),
        department=form.department,
    )
    return _filed(filing)


@bp.route("/documents/<int:document_id>/versions", methods=["POST"])
@requires("document.upload")
@operation("File a new version (a correction or rescan); every earlier version stays",
           form=NewVersion, file=True, status=202, answer=Filed)
def create_version(document_id: int):
    reason = form_of(NewVersion).reason
    filing = add_version(
        archive(),
        current_principal(),
        document_id=document_id,
        upload=_upload_from_request(),
        reason=reason,
    )
    return _filed(filing)


@bp.route("/documents/<int:document_id>")
@requires("document.view")
@operation("A document's metadata, versions, pages, QC flags and holds (audited)",
           answer=DocumentOut)
def get_document(document_id: int):
    with archive().db.transaction() as session:
        document = view_document(session, current_principal(), document_id)
        return jsonify(document_json(session, document))


@bp.route("/documents/<int:document_id>/versions/<int:number>/original")
@requires("document.read")
@operation("The original bytes of a version (audited; header Digest: sha-256=...)",
           media_type="application/octet-stream")
def download_original(document_id: int, number: int):
    return original_response(current_principal(), document_id, number)

"""Batch intake's part of the REST API: cover and separator sheets, uploading a scanned
stack, and following it as it is split and filed."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from archive.api_spec import DOC_TYPE, Answer, Request, Text, operation, query_of
from archive.auth.guards import current_principal, requires
from archive.errors import MissingFile
from archive.extensions import archive
from archive.interfaces import Upload
from ingest.batches import service, sheets

bp = Blueprint("batches_api", __name__, url_prefix="/api/v1")


class CoverSheetQuery(Request):
    type: DOC_TYPE
    encounter: Text(40, pattern=r"^[A-Za-z0-9-]*$") = ""


class BatchReceived(Answer):
    id: int
    status: str
    sha256: str


class BatchDocument(Answer):
    id: int | None
    mrn: str
    type: str
    pages: list[int]


class UnidentifiedPart(Answer):
    part: int
    pages: list[int]
    reason: str


class BatchOut(Answer):
    id: int
    status: str
    documents: list[BatchDocument]
    unidentified: list[UnidentifiedPart]


def pdf_response(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"  # it names a patient
    return response


@bp.route("/patients/<mrn>/cover-sheet.pdf")
@requires("document.upload")
@operation("A patient's printable cover sheet for one document type (audited)",
           query=CoverSheetQuery, media_type="application/pdf")
def cover_sheet(mrn: str):
    query = query_of(CoverSheetQuery)
    with archive().db.transaction() as session:
        data = service.cover_sheet(session, current_principal(), mrn, query.type,
                                   query.encounter)
    return pdf_response(data, f"cover-sheet-{mrn}-{query.type}.pdf")


@bp.route("/separator-sheet.pdf")
@requires("document.upload")
@operation("The generic 'new document, same patient' separator sheet",
           media_type="application/pdf")
def separator_sheet():
    return pdf_response(sheets.separator_sheet_pdf(), "separator-sheet.pdf")


@bp.route("/batches", methods=["POST"])
@requires("document.upload")
@operation("Upload a scanned stack to be split at its cover sheets (202: queued; 200: the "
           "same stack was uploaded already)", file=True, status=202, answer=BatchReceived)
def create_batch():
    file = request.files.get("file")
    if file is None:
        raise MissingFile("Attach the scanned stack (PDF or TIFF) as the multipart field 'file'.")
    with file.stream:  # a large upload is spooled to a temporary file: closed at once
        received = service.receive_batch(archive(), current_principal(),
                                         Upload(file.stream, file.filename or ""))
    body = {"id": received.batch_id, "sha256": received.sha256,
            "status": "processing", "duplicate": received.duplicate}
    if received.duplicate:
        with archive().db.transaction() as session:
            body["status"] = service.batch_state(session, service.get_batch(
                session, received.batch_id))
    return jsonify(body), 200 if received.duplicate else 202


@bp.route("/batches/<int:batch_id>")
@requires("document.view")
@operation("A batch: its state, the documents filed from it and its unidentified parts "
           "(audited)", answer=BatchOut)
def get_batch(batch_id: int):
    with archive().db.transaction() as session:
        return jsonify(service.view_batch(session, current_principal(), batch_id))

"""The clerk's batch pages: printing cover and separator sheets, uploading a scanned stack,
and the batch page that shows each part, its patient and its state. Thin: parse, call a
service, render."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from archive.auth.guards import current_principal, requires
from archive.errors import MissingFile
from archive.extensions import NavLink, archive
from archive.interfaces import Upload
from archive.web import local_path
from ingest.batches import service, sheets
from ingest.batches.api import pdf_response
from ingest.batches.assign import assign_part
from ingest.uploads import TYPE_CHOICES

bp = Blueprint("batches", __name__)

NAVIGATION = (
    NavLink("batches.upload_form", "Batch scan", "document.upload",
            "Upload a whole scanned stack with cover sheets; each document files itself.",
            "scanning"),
)


@bp.route("/patients/<mrn>/cover-sheet")
@requires("document.upload")
def cover_sheet_form(mrn: str):
    return render_template("ingest/cover_sheet.html", mrn=mrn, type_choices=TYPE_CHOICES)


@bp.route("/patients/<mrn>/cover-sheet.pdf")
@requires("document.upload")
def cover_sheet(mrn: str):
    doc_type = request.args.get("type", "")
    with archive().db.transaction() as session:
        data = service.cover_sheet(session, current_principal(), mrn, doc_type,
                                   request.args.get("encounter", ""))
    return pdf_response(data, f"cover-sheet-{mrn}.pdf")


@bp.route("/separator-sheet.pdf")
@requires("document.upload")
def separator_sheet():
    return pdf_response(sheets.separator_sheet_pdf(), "separator-sheet.pdf")


@bp.route("/batches/upload")
@requires("document.upload")
def upload_form():
    return render_template("ingest/batch_upload.html")


@bp.route("/batches", methods=["POST"])
@requires("document.upload")
def upload():
    file = request.files.get("file")
    if file is None or not file.filename:
        raise MissingFile("Choose the scanned stack (one PDF or TIFF) to upload.")
    with file.stream:  # a large upload is spooled to a temporary file: closed at once
        received = service.receive_batch(archive(), current_principal(),
                                         Upload(file.stream, file.filename))
    return redirect(url_for("batches.batch_page", batch_id=received.batch_id), code=303)


@bp.route("/batches/<int:batch_id>")
@requires("document.view")
def batch_page(batch_id: int):
    with archive().db.transaction() as session:
        batch = service.view_batch(session, current_principal(), batch_id)
    return render_template("ingest/batch.html", batch=batch, type_choices=TYPE_CHOICES)


@bp.route("/batches/parts/<int:part_id>/assign", methods=["POST"])
@requires("qc.review")
def assign(part_id: int):
    document_id = assign_part(archive(), current_principal(), part_id,
                              request.form.get("mrn", ""), request.form.get("doc_type", ""))
    flash(f"The part was filed as document {document_id}.")
    back = local_path(request.form.get("back"))
    return redirect(back or url_for("records.document", document_id=document_id), code=303)

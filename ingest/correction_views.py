"""The corrections made from a document's page: reassign to another patient, correct the
details typed at filing, file a rescan as a new version, and queue it for processing again.
Thin: parse, call a service, render.

They are routes of the ingest blueprint (ingest.views.bp), whose endpoints the document
page's forms name. Reassigning and rescanning need only the records core, but correcting the
details needs the upload form's document types and a retry needs ingest's job queue, and a
refused correction comes back on the document page with what was typed, as the clerk's
other forms do: they stay together here, above the core that they call."""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for

from archive.auth.guards import current_principal, requires
from archive.errors import ArchiveError, BadRequest, MissingFile, NotFound
from archive.extensions import archive
from archive.interfaces import Upload
from archive.params import parse_date
from archive.records.edits import correct_metadata, reassign_patient
from archive.records.filing import add_version
from ingest.services import retry_document
from ingest.uploads import doc_type_from
from ingest.views import bp, document_page


def _to_document(document_id: int):
    return redirect(url_for("records.document", document_id=document_id), code=303)


def _document_page_with_error(document_id: int, err: ArchiveError, form: str, **values):
    """Show the document page again with the error, keeping what the clerk typed."""
    if isinstance(err, NotFound):
        raise err  # the document itself is gone: the 404 page says so
    flash(err.message, "error")
    g.ingest_form = {"name": form, "message": err.message, "values": values}
    return document_page(document_id, err.http_status)


@bp.route("/documents/<int:document_id>/retry", methods=["POST"])
@requires("document.upload")
def retry(document_id: int):
    try:
        with archive().db.transaction() as session:
            retry_document(session, current_principal(), document_id)
    except ArchiveError as err:
        return _document_page_with_error(document_id, err, "retry")
    flash(f"Document #{document_id} is queued to be processed again.", "info")
    return _to_document(document_id)


@bp.route("/documents/<int:document_id>/reassign", methods=["POST"])
@requires("document.edit")
def reassign(document_id: int):
    mrn = request.form.get("mrn", "").strip()
    reason = request.form.get("reason", "")
    try:
        if not mrn:
            raise BadRequest("Enter the MRN of the patient this document belongs to.")
        reassign_patient(archive(), current_principal(), document_id, mrn=mrn, reason=reason)
    except ArchiveError as err:
        return _document_page_with_error(document_id, err, "reassign", mrn=mrn, reason=reason)
    flash(f"Document #{document_id} is now filed under MRN {mrn}.", "info")
    return _to_document(document_id)


@bp.route("/documents/<int:document_id>/metadata", methods=["POST"])
@requires("document.edit")
def metadata(document_id: int):
    form = request.form
    values = {
        "doc_type": form.get("doc_type", "").strip(),
        "doc_type_other": form.get("doc_type_other", "").strip(),
        "date_of_service": form.get("date_of_service", "").strip(),
        "department": form.get("department", "").strip(),
        "reason": form.get("reason", ""),
    }
    try:
        correct_metadata(
            archive(),
            current_principal(),
            document_id,
            doc_type=doc_type_from(values["doc_type"], values["doc_type_other"]),
            date_of_service=parse_date(values["date_of_service"], "The date of service"),
            department=values["department"],
            reason=values["reason"],
        )
    except ArchiveError as err:
        return _document_page_with_error(document_id, err, "metadata", **values)
    flash(f"The details of document #{document_id} are corrected.", "info")
    return _to_document(document_id)


@bp.route("/documents/<int:document_id>/versions", methods=["POST"])
@requires("document.upload")
def new_version(document_id: int):
    reason = request.form.get("reason", "")
    file = request.files.get("file")
    try:
        if file is None or not file.filename:
            raise MissingFile("Choose the rescanned file to upload as the new version.")
        filing = add_version(
            archive(),
            current_principal(),
            document_id=document_id,
            upload=Upload(file.stream, file.filename),
            reason=reason,
        )
    except ArchiveError as err:
        return _document_page_with_error(document_id, err, "version", reason=reason)
    flash(
        f"Version {filing.version.number} of document #{document_id} is filed and queued "
        "for OCR. Earlier versions are kept.",
        "info",
    )
    return _to_document(document_id)

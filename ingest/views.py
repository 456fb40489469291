"""The clerk's pages: upload with live progress and the QC queue; the corrections made from a
document's page (reassign, metadata, rescan, retry) are routes of this blueprint too, in
ingest.correction_views. Thin: parse, call a service, render."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from flask import (
    Blueprint,
    flash,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import RequestEntityTooLarge

from archive import audit
from archive.auth.guards import current_principal, requires
from archive.errors import (
    ArchiveError,
    BadRequest,
    MissingFile,
    NotFound,
    PayloadTooLarge,
)
from archive.extensions import NavLink, archive
from archive.interfaces import Upload
from archive.models import utcnow
from archive.params import Paging, page_number
from archive.records import views as records_views
from archive.records.patients import find_patient
from archive.web import local_path, render_archive_error
from ingest.api import derivative_response
from ingest.batches.assign import open_parts
from ingest.qc import KIND_LABELS
from ingest.services import (
    QC_PAGE_SIZE,
    follow_processing,
    open_flags,
    review_flag,
)
from ingest.uploads import OTHER_TYPE, TYPE_CHOICES, UploadForm, file_batch

bp = Blueprint("ingest", __name__)

ACCEPTED_FILES = ".pdf,.tif,.tiff,.png,.jpg,.jpeg,application/pdf,image/tiff,image/png,image/jpeg"
# Links the page header and the home page's "Scanning" panel show to those who may use them.
NAVIGATION = (
    NavLink("ingest.upload", "Upload", "document.upload",
            "File scanned charts for a patient and watch them being read.", "scanning"),
    NavLink("ingest.qc_queue", "QC queue", "qc.review",
            "Review what quality control flagged: missing MRNs, unreadable pages, missing dates.",
            "scanning"),
)


# --- helpers ------------------------------------------------------------------------------


def _wants_json() -> bool:
    if request.path.endswith(".json"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _error_json(err: ArchiveError, **extra):
    return {"code": err.code, "message": err.message, **extra}


@bp.errorhandler(ArchiveError)
def _archive_error(err: ArchiveError):
    if _wants_json():
        return jsonify({"error": _error_json(err)}), err.http_status
    return render_archive_error(err)


@bp.app_context_processor
def _template_helpers():
    return {
        "document_type_choices": TYPE_CHOICES,
        "other_document_type": OTHER_TYPE,
    }


@bp.app_template_filter("age")
def _age(moment: datetime | str | None) -> str:
    """How long ago, in the largest unit that fits: '3 days ago', '5 min ago'."""
    if not moment:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    seconds = max(0, int((utcnow() - moment).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("min", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 and unit != 'min' else ''} ago"
    return "just now"


def document_page(document_id: int, status: int):
    """The document page again, answering a refused form of its own (with ``g.ingest_form``)."""
    response = make_response(records_views.document(document_id))
    response.status_code = status
    return response


# --- upload ---------------------------------------------------------------------------------


@bp.route("/upload", methods=["GET", "POST"])
@requires("document.upload")
def upload():
    if request.method == "GET":
        return _upload_page(UploadForm(mrn=request.args.get("mrn", "").strip()))
    as_json = _wants_json()
    try:
        form = UploadForm.from_form(request.form)
        files = [f for f in request.files.getlist("files") if f.filename]
    except RequestEntityTooLarge:
        err = PayloadTooLarge(
            f"The upload is larger than the archive accepts "
            f"({archive().settings.max_upload_mb} MiB at once). Send fewer or smaller files."
        )
        if as_json:
            return jsonify(_refused_json(err)), err.http_status
        return _upload_page(UploadForm(), {"files": err}, status=err.http_status)
    with archive().db.transaction() as session:
        patient, problems = form.check(session)
    if not files:
        problems["files"] = MissingFile("Choose at least one scanned file to upload.")
    elif as_json and len(files) > 1:
        problems["files"] = BadRequest("Send one file per request when asking for JSON.")
    if problems:
        field, err = next(iter(problems.items()))
        if as_json:
            return jsonify(_refused_json(err, field=field)), err.http_status
        return _upload_page(form, problems, status=err.http_status)

    uploads = [Upload(f.stream, f.filename or "") for f in files]
    outcomes = file_batch(archive(), current_principal(), form, uploads)
    if as_json:
        [outcome] = outcomes
        return jsonify(_outcome_json(outcome)), outcome.http_status
    filed = [o for o in outcomes if o.status != "refused"]
    status = 200 if filed else outcomes[0].http_status
    return (
        render_template(
            "ingest/upload_results.html", form=form, patient=patient, outcomes=outcomes
        ),
        status,
    )


def _upload_page(form: UploadForm, problems: dict | None = None, status: int = 200):
    return (
        render_template(
            "ingest/upload.html",
            form=form,
            problems={name: err.message for name, err in (problems or {}).items()},
            accepted_files=ACCEPTED_FILES,
            max_upload_mb=archive().settings.max_upload_mb,
        ),
        status,
    )


def _refused_json(err: ArchiveError, **extra) -> dict:
    return {
        "id": None,
        "status": "refused",
        "duplicate_of": None,
        "url": None,
        "status_url": None,
        "error": _error_json(err, **extra),
    }


def _outcome_json(outcome) -> dict:
    if outcome.error is not None:
        body = _refused_json(outcome.error)
        body["filename"] = outcome.filename
        return body
    document_id = outcome.document_id
    return {
        "id": document_id,
        "filename": outcome.filename,
        "status": outcome.status,
        "version": outcome.version,
        "duplicate_of": document_id if outcome.status == "duplicate" else None,
        "url": url_for("records.document", document_id=document_id),
        "status_url": url_for("ingest.document_status", document_id=document_id),
        "error": None,
    }


@bp.route("/patients/<mrn>/summary.json")
@requires("patient.view")
def patient_summary(mrn: str):
    """Name and date of birth, so the clerk can confirm the MRN before filing."""
    principal = current_principal()
    with archive().db.transaction() as session:
        try:
            patient = find_patient(session, mrn)
        except NotFound as err:
            # Looking up an MRN that is not there is recorded too: it may be probing.
            audit.record(
                session, principal.actor, "patient.lookup", outcome="failure", patient_mrn=mrn
            )
            body, status = {"error": _error_json(err)}, err.http_status
        else:
            audit.record(session, principal.actor, "patient.lookup", patient_mrn=mrn)
            body = {"mrn": patient.mrn, "name": patient.name, "dob": patient.dob.isoformat()}
            status = 200
    return jsonify(body), status


@bp.route("/documents/<int:document_id>/status.json")
@requires("document.view")
def document_status(document_id: int):
    with archive().db.transaction() as session:
        return jsonify(follow_processing(session, current_principal(), document_id).as_json())


# --- the QC queue -----------------------------------------------------------------------------


@bp.route("/qc")
@requires("qc.review")
def qc_queue():
    return _qc_page(page_number(request.args))


def _qc_page(page: int, status: int = 200):
    with archive().db.transaction() as session:
        total, flags = open_flags(session, current_principal(), page)
        parts = [(part.id, part.batch_id, part.position, part.page_numbers, part.problem)
                 for part, _ in open_parts(session, current_principal())]
    pages = Paging(page, QC_PAGE_SIZE).pages(total)
    if page > pages and status == 200:
        # Reviewing the last flags of the last page empties it: show the page before.
        return redirect(url_for("ingest.qc_queue", page=pages), code=303)
    return (
        render_template(
            "ingest/qc.html",
            flags=flags,
            unidentified_parts=parts,
            total=total,
            page=page,
            pages=pages,
            page_size=QC_PAGE_SIZE,
        ),
        status,
    )


@bp.route("/qc/<int:flag_id>/review", methods=["POST"])
@requires("qc.review")
def review(flag_id: int):
    comment = request.form.get("comment", "")
    back = local_path(request.form.get("next"))
    try:
        with archive().db.transaction() as session:
            flag = review_flag(session, current_principal(), flag_id, comment)
            label, document_id = KIND_LABELS.get(flag.kind, flag.kind), flag.document_id
    except ArchiveError as err:
        if isinstance(err, NotFound):
            raise
        flash(err.message, "error")
        g.ingest_form = {
            "name": "review",
            "flag_id": flag_id,
            "message": err.message,
            "values": {"comment": comment},
        }
        on_document = re.fullmatch(r"/documents/(\d+)", urlsplit(back or "").path)
        if on_document:
            return document_page(int(on_document.group(1)), err.http_status)
        back_query = parse_qs(urlsplit(back or "").query)
        return _qc_page(page_number({"page": back_query.get("page", [""])[0]}), err.http_status)
    flash(f"“{label}” on document #{document_id} is marked reviewed.", "info")
    return redirect(back or url_for("ingest.qc_queue"), code=303)


@bp.route("/documents/<int:document_id>/versions/<int:number>/searchable.pdf")
@requires("document.read")
def searchable_pdf(document_id: int, number: int):
    return derivative_response(document_id, number, "searchable_pdf")


@bp.route("/documents/<int:document_id>/versions/<int:number>/pages/<int:page>/image")
@requires("document.read_work")
def page_image(document_id: int, number: int, page: int):
    return derivative_response(document_id, number, "page_image", page)


@bp.route("/documents/<int:document_id>/versions/<int:number>/pages/<int:page>/thumbnail")
@requires("document.read_work")
def page_thumbnail(document_id: int, number: int, page: int):
    return derivative_response(document_id, number, "thumbnail", page)

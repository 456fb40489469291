"""Compliance pages for disposition: the batches the retention sweep gathered, each batch's
documents with why each is due, exclusion, approval, execution and the destruction
certificate. Thin: parse, call retention.disposition_review and retention.destruction, render."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from archive.auth.guards import current_principal, requires
from archive.errors import BadRequest, Conflict, NotFound
from archive.extensions import archive
from archive.params import page_number
from retention.destruction import execute_now, open_certificate
from retention.disposition_review import (
    approvals_missing,
    approve_batch,
    batch_page,
    exclude_item,
)
from retention.disposition_review import batches as list_batches

bp = Blueprint("disposition", __name__)


@bp.route("/retention/disposition")
@requires("retention.manage")
def batches():
    with archive().db.transaction() as session:
        rows = list_batches(session, current_principal())
        page = render_template("retention/batches.html", rows=rows)
    return page


@bp.route("/retention/disposition/<int:batch_id>")
@requires("retention.manage")
def batch(batch_id: int):
    return _batch_page(batch_id, page_number(request.args))


@bp.route("/retention/disposition/<int:batch_id>/items/<int:item_id>/exclude",
          methods=["POST"])
@requires("retention.manage")
def exclude(batch_id: int, item_id: int):
    reason = request.form.get("reason", "")
    page = page_number(request.form)
    try:
        with archive().db.transaction() as session:
            item = exclude_item(session, current_principal(), item_id, reason,
                                in_batch=batch_id)
            document_id, batch_id = item.document_id, item.batch_id
    except (BadRequest, Conflict, NotFound) as err:
        return _batch_page(batch_id, page, problem=err.message, status=err.http_status,
                           item_id=item_id, reason=reason)
    flash(f"Document #{document_id} is excluded from batch #{batch_id}; it is kept.", "info")
    return redirect(url_for("disposition.batch", batch_id=batch_id, page=page), code=303)


@bp.route("/retention/disposition/<int:batch_id>/approve", methods=["POST"])
@requires("retention.manage")
def approve(batch_id: int):
    try:
        pending_seen = _whole_number(request.form.get("pending_seen", ""))
        approved = approve_batch(archive(), current_principal(), batch_id,
                                 pending_seen=pending_seen)
    except (BadRequest, Conflict) as err:
        return _batch_page(batch_id, 1, problem=err.message, status=err.http_status)
    if approved.status == "approved_once":
        text = (f"Batch #{approved.id} has your approval, the first of two. Another "
                "compliance officer must give the second before it can be executed.")
    else:
        text = (f"Batch #{approved.id} is approved by {approved.approved_by} and "
                f"{approved.second_approved_by}. Execute it now, or the scheduled "
                "disposition run destroys its documents.")
    flash(text, "info")
    return redirect(url_for("disposition.batch", batch_id=approved.id), code=303)


@bp.route("/retention/disposition/<int:batch_id>/execute", methods=["POST"])
@requires("retention.manage")
def execute(batch_id: int):
    try:
        outcome = execute_now(archive(), current_principal(), batch_id)
    except Conflict as err:
        return _batch_page(batch_id, 1, problem=err.message, status=err.http_status)
    text = f"Batch #{batch_id}: {outcome.destroyed:,} documents destroyed"
    if outcome.skipped:
        text += f", {outcome.skipped:,} skipped (see the note on each)"
    text += ("; the destruction certificate is stored." if outcome.executed
             else "; some documents are still pending: execute again to finish.")
    flash(text, "info")
    return redirect(url_for("disposition.batch", batch_id=batch_id), code=303)


@bp.route("/retention/disposition/<int:batch_id>/certificate")
@requires("retention.manage")
def certificate(batch_id: int):
    chunks, filename = open_certificate(archive(), current_principal(), batch_id)
    return Response(
        stream_with_context(chunks),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadRequest("The approval form is incomplete: reload the batch, review it and "
                         "approve again.") from None


def _batch_page(batch_id: int, page: int, *, problem: str | None = None, status: int = 200,
                item_id: int | None = None, reason: str = ""):
    with archive().db.transaction() as session:
        viewed = batch_page(session, current_principal(), batch_id, page)
        html = render_template("retention/batch.html", viewed=viewed, problem=problem,
                               problem_item=item_id, reason=reason,
                               missing=approvals_missing(viewed.batch),
                               me=current_principal().username)
    return html, status

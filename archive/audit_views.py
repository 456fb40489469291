"""The audit trail for compliance officers: filter, page through, export as CSV. Thin: the
queries and the export are archive.audit's."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template, request, stream_with_context
from pydantic import Field

from archive import audit
from archive.api_spec import ISO_DATE, Answer, Request, Text, operation, query_of
from archive.auth.guards import current_principal, requires
from archive.extensions import archive
from archive.models import AuditEvent
from archive.params import MAX_ID, MAX_PAGE, Paging

bp = Blueprint("audit", __name__)
api_bp = Blueprint("audit_api", __name__, url_prefix="/api/v1")


def _search(filters: audit.EventFilter, paging: Paging) -> tuple[int, list[AuditEvent]]:
    """One page of events; looking at it is itself audited."""
    with archive().db.transaction() as session:
        total, events = audit.find_events(session, filters, paging)
        audit.record(session, current_principal().actor, "audit.view",
                     details={"filters": filters.as_details(), "page": paging.page})
    return total, events


@bp.route("/audit")
@requires("audit.view")
def index():
    filters = audit.EventFilter.from_args(request.args)
    paging = Paging.of(request.args, audit.PAGE_SIZE)
    total, events = _search(filters, paging)
    return render_template("archive/audit.html", events=events, total=total, page=paging.page,
                           pages=paging.pages(total), filters=filters)


@bp.route("/audit.csv")
@requires("audit.view")
def export_csv():
    """The matching events as CSV, streamed; the export is audited, with its size, first."""
    filters = audit.EventFilter.from_args(request.args)
    ext = archive()
    with ext.db.transaction() as session:
        count, upto = audit.count_for_export(session, filters)
        audit.record(session, current_principal().actor, "audit.export",
                     details={"filters": filters.as_details(), "events": count})
    return Response(stream_with_context(audit.export_csv(ext.db, filters, upto)),
                    mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="audit.csv"'})


class AuditQuery(Request):
    actor: Text(120) | None = None
    action: Text(64) | None = None
    outcome: Text(32) | None = None
    mrn: Text(32) | None = None
    document_id: int | None = Field(None, ge=1, le=MAX_ID)
    from_: ISO_DATE | None = Field(None, alias="from")
    to: ISO_DATE | None = None
    page: int | None = Field(None, ge=1, le=MAX_PAGE)


class AuditPage(Answer):
    total: int
    page: int
    events: list[dict]


@api_bp.route("/audit")
@requires("audit.view")
@operation("Audit events, newest first, filtered, 50 a page (the view is audited)",
           query=AuditQuery, answer=AuditPage)
def api_index():
    query_of(AuditQuery)
    filters = audit.EventFilter.from_args(request.args)
    paging = Paging.of(request.args, audit.PAGE_SIZE)
    total, events = _search(filters, paging)
    return jsonify({"total": total, "page": paging.page,
                    "events": [audit.event_json(event) for event in events]})

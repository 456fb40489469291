"""The audit trail for compliance officers: filter, page through, export as CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from flask import Blueprint, Response, jsonify, render_template, request
from pydantic import Field
from sqlalchemy import func, select

from archive import audit
from archive.api_spec import ISO_DATE, Answer, Request, Text, operation, query_of
from archive.app import archive
from archive.auth.guards import current_principal, requires
from archive.models import AuditEvent
from archive.params import MAX_ID, MAX_PAGE, optional_id, page_number
from archive.records.service import parse_date

bp = Blueprint("audit", __name__)
api_bp = Blueprint("audit_api", __name__, url_prefix="/api/v1")

PAGE_SIZE = 50
CSV_COLUMNS = (
    "seq",
    "ts",
    "actor",
    "source",
    "action",
    "outcome",
    "patient_mrn",
    "document_id",
    "version_number",
    "reason",
    "details",
    "hash",
)


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    action: str = ""
    outcome: str = ""
    mrn: str = ""
    document_id: int | None = None
    date_from: str = ""
    date_to: str = ""

    @classmethod
    def from_args(cls, args) -> AuditFilter:
        return cls(
            actor=args.get("actor", "").strip(),
            action=args.get("action", "").strip(),
            outcome=args.get("outcome", "").strip(),
            mrn=args.get("mrn", "").strip(),
            document_id=optional_id(args.get("document_id"), "document_id"),
            date_from=args.get("from", "").strip(),
            date_to=args.get("to", "").strip(),
        )

    def apply(self, query):
        if self.actor:
            query = query.where(AuditEvent.actor == self.actor)
        if self.action:
            query = query.where(AuditEvent.action == self.action)
        if self.outcome:
            query = query.where(AuditEvent.outcome == self.outcome)
        if self.mrn:
            query = query.where(AuditEvent.patient_mrn == self.mrn)
        if self.document_id is not None:
            query = query.where(AuditEvent.document_id == self.document_id)
        if start := parse_date(self.date_from, "from"):
            query = query.where(AuditEvent.ts >= datetime.combine(start, time(), UTC))
        if end := parse_date(self.date_to, "to"):
            end_exclusive = datetime.combine(end + timedelta(days=1), time(), UTC)
            query = query.where(AuditEvent.ts < end_exclusive)
        return query

    def as_details(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in ("", None)}


def _search(filters: AuditFilter, page: int) -> tuple[int, list[AuditEvent]]:
    with archive().db.transaction() as session:
        total = session.scalar(filters.apply(select(func.count(AuditEvent.id))))
        events = session.scalars(
            filters.apply(select(AuditEvent))
            .order_by(AuditEvent.seq.desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        ).all()
        audit.record(
            session,
            current_principal().actor,
            "audit.view",
            details={"filters": filters.as_details(), "page": page},
        )
    return total, list(events)


@bp.route("/audit")
@requires("audit.view")
def index():
    filters = AuditFilter.from_args(request.args)
    page = page_number(request.args)
    total, events = _search(filters, page)
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template(
        "archive/audit.html", events=events, total=total, page=page, pages=pages, filters=filters
    )


@bp.route("/audit.csv")
@requires("audit.view")
def export_csv():
    filters = AuditFilter.from_args(request.args)
    with archive().db.transaction() as session:
        events = session.scalars(filters.apply(select(AuditEvent)).order_by(AuditEvent.seq)).all()
        audit.record(
            session,
            current_principal().actor,
            "audit.export",
            details={"filters": filters.as_details(), "events": len(events)},
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for event in events:
        writer.writerow([_csv_safe(getattr(event, column)) for column in CSV_COLUMNS])
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )


def _csv_safe(value) -> str:
    text = (
        value.isoformat()
        if isinstance(value, datetime)
        else str(value if value is not None else "")
    )
    # A cell starting with = + - @ would be run as a formula by a spreadsheet.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def event_json(event: AuditEvent) -> dict:
    return {
        column: (getattr(event, column).isoformat() if column == "ts" else getattr(event, column))
        for column in CSV_COLUMNS
    }


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
    filters = AuditFilter.from_args(request.args)
    page = page_number(request.args)
    total, events = _search(filters, page)
    return jsonify({"total": total, "page": page, "events": [event_json(e) for e in events]})

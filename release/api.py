"""Release of information's part of the REST API (DESIGN.md, "Contracts added with the second
round of issues"): log a request, read it, move it through its workflow, extend its due date.
Thin: parse, call release.requests, answer."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, current_app, jsonify, request, url_for

from archive.api_spec import body_of, operation, query_of
from archive.auth.guards import current_principal, requires
from archive.errors import BadRequest
from archive.extensions import archive
from archive.params import Paging, parse_date
from archive.records.downloads import attachment, verified_download
from release.accounting_pdf import render_accounting
from release.disclosures import (
    Recipient,
    accounting_csv,
    fulfil_request,
    patient_accounting,
    patient_disclosures,
)
from release.models import Disclosure, ReleaseRequest
from release.new_request import log_from
from release.packet_schemas import packet_documents
from release.packets import Redaction, build_packet, open_packet
from release.queue import PAGE_SIZE, QueueFilter, request_queue
from release.requests import (
    MANAGE,
    VIEW,
    change_status,
    extend_request,
    next_statuses,
    view_request,
)
from release.schemas import (
    AccountingQuery,
    DisclosureList,
    DisclosureQuery,
    Extension,
    Fulfilment,
    NewPacket,
    NewRequest,
    PacketOut,
    QueuePage,
    QueueQuery,
    RequestOut,
    StatusChange,
)

bp = Blueprint("release_api", __name__, url_prefix="/api/v1")


@bp.route("/requests", methods=["POST"])
@requires(MANAGE)
@operation("Log a request for records; its due date comes from the legal clock of its kind",
           body=NewRequest, status=201, answer=RequestOut)
def log():
    row = log_from(archive().db, current_principal(), _clocks(), body_of(NewRequest))
    return jsonify(request_json(row)), 201


@bp.route("/requests")
@requires(VIEW)
@operation("The work queue: requests soonest due first (open ones unless a status is given), "
           "50 a page (audited)", query=QueueQuery, answer=QueuePage)
def queue():
    query = query_of(QueueQuery)
    filters = QueueFilter(status=query.status, assignee=query.assignee,
                          due_before=parse_date(query.due_before, "due_before"))
    with archive().db.transaction() as session:
        total, paging, rows = request_queue(session, current_principal(), filters,
                                            Paging.of(request.args, PAGE_SIZE))
        return jsonify({"total": total, "page": paging.page, "pages": paging.pages(total),
                        "requests": [request_json(row) for row in rows]})


@bp.route("/requests/<int:request_id>")
@requires(VIEW)
@operation("A request: requester, patients, what is asked, status and due date (audited)",
           answer=RequestOut)
def show(request_id: int):
    with archive().db.transaction() as session:
        return jsonify(request_json(view_request(session, current_principal(), request_id)))


@bp.route("/requests/<int:request_id>/status", methods=["POST"])
@requires(MANAGE)
@operation("Move a request to its next status (a denial or a hold needs a reason)",
           body=StatusChange, answer=RequestOut)
def status(request_id: int):
    body = body_of(StatusChange)
    row = change_status(archive().db, current_principal(), request_id, body.status, body.reason)
    return jsonify(request_json(row))


@bp.route("/requests/<int:request_id>/extend", methods=["POST"])
@requires(MANAGE)
@operation("Extend a request's due date once, after a written notice inside the first period",
           body=Extension, answer=RequestOut)
def extend(request_id: int):
    body = body_of(Extension)
    row = extend_request(archive().db, current_principal(), _clocks(), request_id,
                         notice_sent=_required_date(body.notice_sent, "notice_sent"),
                         reason=body.reason)
    return jsonify(request_json(row))


@bp.route("/requests/<int:request_id>/fulfil", methods=["POST"])
@requires(MANAGE)
@operation("Record the release of an approved request: it becomes fulfilled and each of its "
           "patients gets an entry in the accounting of disclosures", body=Fulfilment,
           answer=RequestOut)
def fulfil(request_id: int):
    body = body_of(Fulfilment)
    to = body.recipient
    row = fulfil_request(archive().db, current_principal(), request_id,
                         description=body.description,
                         released=parse_date(body.released, "released"),
                         recipient=Recipient(to.name, to.address) if to else None)
    return jsonify(request_json(row))


@bp.route("/patients/<mrn>/disclosures")
@requires(VIEW)
@operation("A patient's accounting of disclosures, newest first, over the last six years "
           "unless from/to say otherwise (audited)", query=DisclosureQuery,
           answer=DisclosureList)
def disclosures(mrn: str):
    query = query_of(DisclosureQuery)
    with archive().db.transaction() as session:
        rows = patient_disclosures(session, current_principal(), mrn,
                                   date_from=parse_date(query.from_, "from"),
                                   date_to=parse_date(query.to, "to"))
        return jsonify({"mrn": mrn, "disclosures": [disclosure_json(row) for row in rows]})


@bp.route("/patients/<mrn>/disclosures.csv")
@requires(VIEW)
@operation("A patient's accounting of disclosures as CSV: the accountable disclosures (exempt "
           "ones too with include_exempt=true), six years unless from/to say otherwise "
           "(audited download)", query=AccountingQuery, media_type="text/csv")
def disclosures_csv(mrn: str):
    with archive().db.transaction() as session:
        text = accounting_csv(_accounting(session, mrn, "csv"))
    return attachment(text.encode("utf-8"), "text/csv; charset=utf-8",
                      f"disclosures-{mrn}.csv")


@bp.route("/patients/<mrn>/disclosures.pdf")
@requires(VIEW)
@operation("A patient's accounting of disclosures as PDF: the accountable disclosures (exempt "
           "ones too with include_exempt=true), six years unless from/to say otherwise "
           "(audited download)", query=AccountingQuery, media_type="application/pdf")
def disclosures_pdf(mrn: str):
    with archive().db.transaction() as session:
        data = render_accounting(_accounting(session, mrn, "pdf"))
    return attachment(data, "application/pdf", f"disclosures-{mrn}.pdf")


def _accounting(session, mrn: str, form: str):
    query = query_of(AccountingQuery)
    return patient_accounting(session, current_principal(), mrn,
                              date_from=parse_date(query.from_, "from"),
                              date_to=parse_date(query.to, "to"),
                              include_exempt=query.include_exempt, form=form)



def _clocks():
    return current_app.config["RELEASE_CLOCKS"]


def _required_date(value: str, field: str) -> date:
    parsed = parse_date(value, field)
    if parsed is None:
        raise BadRequest(f"{field} is required: a date written YYYY-MM-DD.")
    return parsed


def request_json(row: ReleaseRequest) -> dict:
    def iso(value):
        return value.isoformat() if value else None

    return {
        "id": row.id,
        "status": row.status,
        "due": row.due.isoformat(),
        "allowed_next": list(next_statuses(row)),
        "status_reason": row.status_reason,
        "request_type": row.request_type,
        "legal_basis": row.legal_basis,
        "mrns": [patient.mrn for patient in row.patients],
        "requester": {"kind": row.requester_kind, "name": row.requester_name,
                      "address": row.requester_address, "contact": row.requester_contact,
                      "claim_number": row.claim_number},
        "documents": row.asked,
        "purpose": row.purpose,
        "received": row.received.isoformat(),
        "assignee": row.assignee,
        "notice_deadline": row.notice_deadline.isoformat(),
        "extension_notice_sent": iso(row.extension_notice_sent),
        "extension_reason": row.extension_reason,
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def disclosure_json(row: Disclosure) -> dict:
    return {"date": row.disclosed_on.isoformat(), "recipient": row.recipient_name,
            "recipient_address": row.recipient_address, "description": row.description,
            "purpose": row.purpose, "legal_basis": row.legal_basis, "exempt": row.exempt,
            "request": row.request_id}


# --- packets (issue 18 item 2) ---------------------------------------------------------------


@bp.route("/requests/<int:request_id>/packet", methods=["POST"])
@requires(MANAGE)
@operation("Build the request's packet: cover letter, the chosen documents with their "
           "redactions burned in, every page stamped; stored and audited",
           body=NewPacket, status=201, answer=PacketOut)
def packet(request_id: int):
    body = body_of(NewPacket)
    row = build_packet(archive(), current_principal(), request_id,
                       packet_documents(body.documents),
                       [Redaction(r.document_id, r.page, r.box) for r in body.redactions])
    return jsonify({"id": row.id, "request": request_id, "number": row.number,
                    "pages": row.pages, "sha256": row.sha256, "size": row.size,
                    "link": url_for("release_api.packet_pdf", request_id=request_id)}), 201


@bp.route("/requests/<int:request_id>/packet.pdf")
@requires(VIEW)
@operation("The request's latest packet (audited download)", media_type="application/pdf")
def packet_pdf(request_id: int):
    row, chunks = open_packet(archive(), current_principal(), request_id)
    return verified_download(chunks, sha256=row.sha256, size=row.size,
                             media_type="application/pdf",
                             filename=f"request-{request_id}-packet-{row.number}.pdf")

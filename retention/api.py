"""Retention's part of the REST API: legal holds (DESIGN.md, "Contracts"), retention policies
and disposition batches. Thin: parse, call the services the compliance pages call, answer."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

from flask import Blueprint, Response, jsonify, request, stream_with_context

from archive.api_spec import (
    PageQuery,
    Request,
    body_of,
    operation,
)
from archive.auth.guards import current_principal, requires
from archive.errors import BadRequest
from archive.extensions import archive
from archive.params import page_number
from retention.clocks import Rules
from retention.destruction import execute_now, open_certificate
from retention.disposition_dates import policies_in_force, preview_policy
from retention.disposition_review import approve_batch, batch_page, batches, exclude_item
from retention.floors import Floors
from retention.holds import hold_json, hold_row, list_holds, place_hold, release_hold
from retention.models import DispositionBatch, RetentionPolicy
from retention.policies import apply_preset, policy_snapshot, save_policy
from retention.presets import find_preset
from retention.schemas import (
    Approval,
    Batches,
    BatchOut,
    Excluded,
    Executed,
    HoldOut,
    Holds,
    NewHold,
    NewPolicy,
    Policies,
    PolicyOut,
    PolicyPreview,
    Preview,
    Reason,
)

bp = Blueprint("retention_api", __name__, url_prefix="/api/v1")


@bp.route("/holds")
@requires("hold.manage")
@operation("Every legal hold, in force and released", answer=Holds)
def holds():
    with archive().db.transaction() as session:
        rows = list_holds(session, current_principal())
        return jsonify({"holds": [hold_json(row) for row in rows]})


@bp.route("/holds", methods=["POST"])
@requires("hold.manage")
@operation("Place a legal hold on a scope (patients, documents, types, dates)", body=NewHold,
           status=201, answer=HoldOut)
def place():
    body = _json_body(NewHold)
    hold = place_hold(
        archive(),
        current_principal(),
        name=_text(body, "name"),
        reason=_text(body, "reason"),
        issuer=_text(body, "issuer"),
        contact=_text(body, "contact"),
        scope=body.get("scope"),
    )
    return _hold_response(hold.id, 201)


@bp.route("/holds/<int:hold_id>/release", methods=["POST"])
@requires("hold.manage")
@operation("Release a legal hold, giving the reason", body=Reason, answer=HoldOut)
def release(hold_id: int):
    release_hold(archive(), current_principal(), hold_id, _text(_json_body(Reason), "reason"))
    return _hold_response(hold_id, 200)


def _hold_response(hold_id: int, status: int):
    with archive().db.transaction() as session:
        return jsonify(hold_json(hold_row(session, current_principal(), hold_id))), status


def _json_body(model: type[Request]) -> dict:
    """The JSON body, validated by ``model``; the fields the client sent, by their names."""
    return body_of(model).model_dump(by_alias=True, exclude_unset=True)


def _text(body: dict, field: str) -> str:
    value = body.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be text.")
    return value


# --- retention policies -----------------------------------------------------------------------


@bp.route("/retention/policies")
@requires("retention.manage")
@operation("The retention policy in force for each document type", answer=Policies)
def policies():
    with archive().db.transaction() as session:
        in_force = policies_in_force(session)
        return jsonify({"policies": [_policy_json(p) for _t, p in sorted(in_force.items())]})


@bp.route("/retention/policies", methods=["POST"])
@requires("retention.manage")
@operation("Save a new version of a type's retention policy (rules or a preset)",
           body=NewPolicy, status=201, answer=PolicyOut)
def save():
    """A new version of a type's policy: from ``preset``, or from ``name``, ``rules``
    (retention.clocks.Rules as JSON) and ``source``; ``reason`` always."""
    body = _json_body(NewPolicy)
    doc_type, reason = _text(body, "doc_type"), _text(body, "reason")
    with archive().db.transaction() as session:
        if body.get("preset") is not None:
            policy = apply_preset(session, current_principal(), doc_type,
                                  _text(body, "preset"), reason=reason, floors=_floors())
        else:
            policy = save_policy(session, current_principal(), doc_type,
                                 name=_text(body, "name"), rules=Rules.from_json(body.get("rules")),
                                 source=_text(body, "source"), reason=reason, floors=_floors())
        return jsonify(_policy_json(policy)), 201


@bp.route("/retention/policies/preview", methods=["POST"])
@requires("retention.manage")
@operation("What saving these rules would make due today; saves nothing",
           body=PolicyPreview, answer=Preview)
def preview():
    """What saving these rules (or ``preset``) for ``doc_type`` would make due today; saves
    nothing."""
    body = _json_body(PolicyPreview)
    rules = (find_preset(_text(body, "preset")).rules if body.get("preset") is not None
             else Rules.from_json(body.get("rules")))
    with archive().db.transaction() as session:
        figures = preview_policy(session, current_principal(), _text(body, "doc_type"), rules,
                                 today=date.today(), floors=_floors())
    return jsonify(asdict(figures))


def _floors() -> Floors:
    return Floors.of(archive().settings)


def _policy_json(policy: RetentionPolicy) -> dict:
    return {
        "doc_type": policy.doc_type,
        **policy_snapshot(policy),
        "created_by": policy.created_by,
        "created_at": policy.created_at.isoformat(),
        "reason": policy.reason,
    }


# --- disposition batches --------------------------------------------------------------------


@bp.route("/disposition/batches")
@requires("retention.manage")
@operation("The disposition batches, newest first", answer=Batches)
def disposition_batches():
    with archive().db.transaction() as session:
        rows = batches(session, current_principal())
        return jsonify({"batches": [_batch_json(batch, counts) for batch, counts in rows]})


@bp.route("/disposition/batches/<int:batch_id>")
@requires("retention.manage")
@operation("One page of a batch's items, each with why it is due (audited)",
           query=PageQuery, answer=BatchOut)
def disposition_batch(batch_id: int):
    """One page of a batch's items (``page``), each with why it is due; audited."""
    page = page_number(request.args)
    with archive().db.transaction() as session:
        viewed = batch_page(session, current_principal(), batch_id, page)
        return jsonify({
            **_batch_json(viewed.batch, viewed.counts),
            "page": viewed.page,
            "pages": viewed.pages,
            "items": [_item_json(view) for view in viewed.items],
        })


@bp.route("/disposition/batches/<int:batch_id>/items/<int:item_id>/exclude",
          methods=["POST"])
@requires("retention.manage")
@operation("Take a document out of a batch in review, giving the reason", body=Reason,
           answer=Excluded)
def disposition_exclude(batch_id: int, item_id: int):
    with archive().db.transaction() as session:
        item = exclude_item(session, current_principal(), item_id,
                            _text(_json_body(Reason), "reason"), in_batch=batch_id)
        return jsonify({"item": item.id, "document_id": item.document_id,
                        "status": item.status, "note": item.note})


@bp.route("/disposition/batches/<int:batch_id>/approve", methods=["POST"])
@requires("retention.manage")
@operation("Give a batch one of its two approvals", body=Approval, answer=BatchOut)
def disposition_approve(batch_id: int):
    """Give the batch one of its two approvals (by two different compliance officers);
    ``pending_seen`` is the number of pending items the caller reviewed (a 409 if that
    changed since, or if the caller gave the first approval already)."""
    seen = _json_body(Approval).get("pending_seen")
    if isinstance(seen, bool) or not isinstance(seen, int):
        raise BadRequest("pending_seen must be the number of pending items you reviewed.")
    batch = approve_batch(archive(), current_principal(), batch_id, pending_seen=seen)
    return jsonify(_batch_json(batch, {}))


@bp.route("/disposition/batches/<int:batch_id>/execute", methods=["POST"])
@requires("retention.manage")
@operation("Destroy a batch approved by two officers, now", answer=Executed)
def disposition_execute(batch_id: int):
    outcome = execute_now(archive(), current_principal(), batch_id)
    return jsonify({"batch": batch_id, "destroyed": outcome.destroyed,
                    "skipped": outcome.skipped, "executed": outcome.executed})


@bp.route("/disposition/batches/<int:batch_id>/certificate")
@requires("retention.manage")
@operation("The certificate of destruction of an executed batch",
           media_type="application/pdf")
def disposition_certificate(batch_id: int):
    chunks, filename = open_certificate(archive(), current_principal(), batch_id)
    return Response(stream_with_context(chunks), mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _batch_json(batch: DispositionBatch, counts: dict) -> dict:
    approvals = [{"by": by, "at": at.isoformat()}
                 for by, at in ((batch.approved_by, batch.approved_at),
                                (batch.second_approved_by, batch.second_approved_at))
                 if by is not None]
    return {
        "id": batch.id,
        "status": batch.status,
        "swept_on": batch.swept_on.isoformat(),
        "approved_by": batch.approved_by,
        # Each approval given, first to second: two different officers are needed.
        "approvals": approvals,
        "approvals_needed": 2 - len(approvals) if batch.status in ("review", "approved_once")
        else 0,
        "executed_by": batch.executed_by,
        "certificate_sha256": batch.certificate_sha256,
        "counts": counts,
    }


def _item_json(view) -> dict:
    item = view.item
    return {
        "item": item.id,
        "document_id": item.document_id,
        "mrn": view.mrn,
        "patient_name": view.patient_name,
        "type": view.doc_type,
        "date_of_service": view.date_of_service.isoformat() if view.date_of_service else None,
        "disposition_date": item.disposition_date.isoformat(),
        "policy": {"doc_type": view.policy.doc_type, "version": view.policy.version},
        "why": [{"clock": label, "date": when.isoformat()} for label, when in view.why],
        "status": item.status,
        "note": item.note,
    }

"""Records pages: home with patient lookup, patient, document, version download."""

from __future__ import annotations

from itertools import groupby

from flask import Blueprint, jsonify, redirect, render_template, request, url_for

from archive.app import archive
from archive.auth.guards import current_principal, requires
from archive.auth.permissions import can
from archive.auth.restricted import grant_in_force
from archive.records.downloads import original_response
from archive.records.service import find_patients, view_document, view_patient

bp = Blueprint("records", __name__)


@bp.route("/")
@requires("session")
def home():
    return render_template("archive/home.html")


@bp.route("/patients")
@requires("patient.view")
def lookup():
    mrn = request.args.get("mrn", "").strip()
    if not mrn:
        return redirect(url_for("records.home"))
    return redirect(url_for("records.patient", mrn=mrn))


@bp.route("/patients/lookup.json")
@requires("patient.view")
def lookup_json():
    with archive().db.transaction() as session:
        patients = find_patients(session, current_principal(), request.args.get("q", ""))
        return jsonify(
            patients=[
                {
                    "mrn": p.mrn,
                    "name": p.name,
                    "dob": p.dob.isoformat(),
                    "restricted": p.restricted,
                    "url": url_for("records.patient", mrn=p.mrn),
                }
                for p in patients
            ]
        )


@bp.route("/patients/<mrn>")
@requires("patient.view")
def patient(mrn: str):
    principal = current_principal()
    with archive().db.transaction() as session:
        found = view_patient(session, principal, mrn)
        documents = sorted(
            found.documents, key=lambda d: (d.doc_type, d.date_of_service or d.created_at.date())
        )
        by_type = [
            (doc_type, list(docs))
            for doc_type, docs in groupby(documents, key=lambda d: d.doc_type)
        ]
        return render_template(
            "archive/patient.html",
            patient=found,
            by_type=by_type,
            emergency_access=grant_in_force(session, principal, found),
        )


@bp.route("/documents/<int:document_id>")
@requires("document.view")
def document(document_id: int):
    principal = current_principal()
    with archive().db.transaction() as session:
        found = view_document(session, principal, document_id)
        sections = [(section, section.load(session, found))
                    for section in archive().document_sections if section.template]
        return render_template(
            "archive/document.html",
            sections=sections,
            document=found,
            patient=found.patient,
            may_download=can(principal.role, "document.read"),
            emergency_access=grant_in_force(session, principal, found.patient),
        )


@bp.route("/documents/<int:document_id>/versions/<int:number>/original")
@requires("document.read")
def download(document_id: int, number: int):
    return original_response(current_principal(), document_id, number)

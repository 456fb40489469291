"""Records pages: home with patient lookup, patient, document, version download."""

from __future__ import annotations

from itertools import groupby

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for

from archive import audit
from archive.auth.guards import current_principal, requires
from archive.auth.permissions import can
from archive.auth.restricted import grant_in_force
from archive.auth.work import may_read_pages
from archive.errors import ArchiveError, NotFound
from archive.extensions import archive
from archive.params import parse_date
from archive.records.downloads import original_response
from archive.records.patients import (
    edit_patient,
    find_patient,
    find_patients,
    register_patient,
    view_patient,
)
from archive.records.reading import view_document

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
        return _chart_page("archive/patient.html", session, principal, found, by_type=by_type,
                           patient_links=archive().patient_links)


@bp.route("/documents/<int:document_id>")
@requires("document.view")
def document(document_id: int):
    principal = current_principal()
    with archive().db.transaction() as session:
        found = view_document(session, principal, document_id)
        sections = [(section, section.load(session, found))
                    for section in archive().document_sections if section.template]
        return _chart_page(
            "archive/document.html",
            session,
            principal,
            found.patient,
            sections=sections,
            document=found,
            may_download=can(principal.role, "document.read"),
            may_read=may_read_pages(archive(), session, principal, found),
        )


def _chart_page(template: str, session, principal, patient, **context) -> str:
    """A page of a patient's chart, which says so while it is open by breaking the glass."""
    return render_template(
        template,
        patient=patient,
        emergency_access=grant_in_force(session, principal, patient),
        **context,
    )


@bp.route("/documents/<int:document_id>/versions/<int:number>/original")
@requires("document.read")
def download(document_id: int, number: int):
    return original_response(current_principal(), document_id, number)


# --- registering and correcting patients --------------------------------------------------

PATIENT_FIELDS = ("mrn", "name", "dob", "date_of_death", "reason")


def _typed() -> dict:
    typed = {name: request.form.get(name, "").strip() for name in PATIENT_FIELDS}
    typed["restricted"] = request.form.get("restricted") == "yes"
    return typed


def _patient_form(mrn: str | None, typed: dict, problem: str | None = None, status: int = 200):
    return render_template("archive/patient_form.html", editing=mrn is not None, mrn=mrn,
                           typed=typed, problem=problem), status


def _after_saving(mrn: str):
    # Admins register patients but do not open charts: they go back to the form.
    if can(current_principal().role, "patient.view"):
        return redirect(url_for("records.patient", mrn=mrn), code=303)
    return redirect(url_for("records.new_patient"), code=303)


@bp.route("/register/patient")
@requires("patient.create")
def new_patient():
    return _patient_form(None, {"mrn": request.args.get("mrn", "").strip()[:32]})


@bp.route("/register/patient", methods=["POST"])
@requires("patient.create")
def register():
    typed = _typed()
    try:
        with archive().db.transaction() as session:
            register_patient(
                session, current_principal(), mrn=typed["mrn"], name=typed["name"],
                dob=parse_date(typed["dob"], "Date of birth"),
                date_of_death=parse_date(typed["date_of_death"], "Date of death"),
                restricted=typed["restricted"])
    except ArchiveError as err:
        return _patient_form(None, typed, err.message, err.http_status)
    flash(f"Patient {typed['mrn']} is registered.", "info")
    return _after_saving(typed["mrn"])


@bp.route("/patients/<mrn>/edit")
@requires("patient.edit")
def edit_patient_form(mrn: str):
    with archive().db.transaction() as session:
        patient = find_patient(session, mrn)
        audit.record(session, current_principal().actor, "patient.view", patient_mrn=mrn,
                     details={"for": "correction"})
        typed = {
            "name": patient.name,
            "dob": patient.dob.isoformat(),
            "date_of_death": patient.date_of_death.isoformat() if patient.date_of_death else "",
            "restricted": patient.restricted,
        }
    return _patient_form(mrn, typed)


@bp.route("/patients/<mrn>/edit", methods=["POST"])
@requires("patient.edit")
def save_patient(mrn: str):
    typed = _typed()
    try:
        edit_patient(
            archive(), current_principal(), mrn, name=typed["name"],
            dob=parse_date(typed["dob"], "Date of birth"),
            date_of_death=parse_date(typed["date_of_death"], "Date of death"),
            restricted=typed["restricted"], reason=typed["reason"])
    except NotFound:
        raise
    except ArchiveError as err:
        return _patient_form(mrn, typed, err.message, err.http_status)
    flash(f"The details of patient {mrn} are corrected.", "info")
    return _after_saving(mrn)

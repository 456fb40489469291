"""A patient's access report of emergency (break-the-glass) accesses, on the web and the REST
API, as a page, JSON or CSV. Thin: parse, call release.access_report, render."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template

from archive.api_spec import operation
from archive.auth.guards import current_principal, requires
from archive.extensions import archive
from archive.records.downloads import attachment
from release.access_report import REVIEW, access_json, access_report, access_report_csv
from release.authorization_schemas import AccessReportOut

bp = Blueprint("access_report", __name__)
api_bp = Blueprint("access_report_api", __name__, url_prefix="/api/v1")


@bp.route("/patients/<mrn>/access-report")
@requires(REVIEW)
def page(mrn: str):
    with archive().db.transaction() as session:
        report = access_report(session, current_principal(), mrn, form="page")
        return render_template("release/access_report.html", report=report)


@bp.route("/patients/<mrn>/access-report.csv")
@requires(REVIEW)
def page_csv(mrn: str):
    return _csv(mrn)


@api_bp.route("/patients/<mrn>/access-report")
@requires(REVIEW)
@operation("Every break-the-glass access to the patient's restricted chart: who, when, the "
           "reason, what they opened while it lasted (compliance; audited)",
           answer=AccessReportOut)
def report_json(mrn: str):
    with archive().db.transaction() as session:
        report = access_report(session, current_principal(), mrn)
        return jsonify({"mrn": report.mrn,
                        "accesses": [access_json(access) for access in report.accesses]})


@api_bp.route("/patients/<mrn>/access-report.csv")
@requires(REVIEW)
@operation("The patient's access report as CSV, one line per thing opened (compliance; "
           "audited download)", media_type="text/csv")
def report_csv(mrn: str):
    return _csv(mrn)


def _csv(mrn: str) -> Response:
    with archive().db.transaction() as session:
        text = access_report_csv(access_report(session, current_principal(), mrn, form="csv"))
    # The MRN named a registered patient ([A-Za-z0-9-], archive.api_spec.MRN): no quoting.
    return attachment(text.encode("utf-8"), "text/csv; charset=utf-8",
                      f"access-report-{mrn}.csv")

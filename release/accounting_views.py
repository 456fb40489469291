"""The patient's accounting of disclosures as a page (issue 18 item 6): the last six years'
disclosures, exempt ones only when asked for (internal review), with the CSV and PDF copies
for the patient. Viewing and each download are audited by release.disclosures, as through
the API. Thin: parse, call release.disclosures, render."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from archive.auth.guards import current_principal, requires
from archive.extensions import archive
from archive.records.downloads import attachment
from release.accounting_pdf import render_accounting
from release.disclosures import accounting_csv, patient_accounting
from release.requests import VIEW

bp = Blueprint("release_accounting", __name__)


@bp.route("/patients/<mrn>/accounting")
@requires(VIEW)
def accounting_page(mrn: str):
    include_exempt = _include_exempt()
    with archive().db.transaction() as session:
        accounting = patient_accounting(session, current_principal(), mrn,
                                        include_exempt=include_exempt, form="page")
        return render_template("release/accounting.html", accounting=accounting)


@bp.route("/patients/<mrn>/accounting.csv")
@requires(VIEW)
def accounting_csv_download(mrn: str):
    with archive().db.transaction() as session:
        text = accounting_csv(patient_accounting(session, current_principal(), mrn,
                                                 include_exempt=_include_exempt(), form="csv"))
    return attachment(text.encode("utf-8"), "text/csv; charset=utf-8", f"disclosures-{mrn}.csv")


@bp.route("/patients/<mrn>/accounting.pdf")
@requires(VIEW)
def accounting_pdf_download(mrn: str):
    with archive().db.transaction() as session:
        data = render_accounting(patient_accounting(session, current_principal(), mrn,
                                                    include_exempt=_include_exempt(),
                                                    form="pdf"))
    return attachment(data, "application/pdf", f"disclosures-{mrn}.pdf")


def _include_exempt() -> bool:
    # A checkbox sends "1"; a link may say "true". Anything else is the patient's copy.
    return request.args.get("include_exempt", "") in ("1", "true")


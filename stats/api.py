"""The department's figures for the hospital's own reporting tools, under /api/v1/stats
(DESIGN.md fixes /stats/filing). Thin: parse the period, take the figure from stats.service."""

from __future__ import annotations

from flask import Blueprint, jsonify

from archive.api_spec import operation, query_of
from archive.auth.guards import requires
from archive.extensions import archive
from stats import schemas
from stats.periods import period_of
from stats.service import CACHE_SECONDS, figure_of

VIEW = "stats.view"

bp = Blueprint("stats_api", __name__, url_prefix="/api/v1/stats")

_CACHED = f" (computed at most {CACHE_SECONDS} s before)"


def _answer(name: str):
    query = query_of(schemas.PeriodQuery)
    period = period_of(query.from_, query.to, archive().settings.zone)
    return jsonify(figure_of(name, period))


@bp.get("/filing")
@requires(VIEW)
@operation("Documents and pages filed on each local day from `from` to `to`" + _CACHED,
           query=schemas.PeriodQuery, answer=schemas.FilingOut)
def filing():
    return _answer("filing")


@bp.get("/ocr")
@requires(VIEW)
@operation("OCR backlog now, and the median and 95th percentile (nearest rank) of the time "
           "from upload to ready, over the period and per day" + _CACHED,
           query=schemas.PeriodQuery, answer=schemas.OcrOut)
def ocr():
    return _answer("ocr")


@bp.get("/qc")
@requires(VIEW)
@operation("Quality-control flags raised and resolved in the period, per kind" + _CACHED,
           query=schemas.PeriodQuery, answer=schemas.QcOut)
def qc():
    return _answer("qc")


@bp.get("/requests")
@requires(VIEW)
@operation("Requests for records received and fulfilled, median turnaround in days, per "
           "month, and the open requests overdue today" + _CACHED,
           query=schemas.PeriodQuery, answer=schemas.RequestsOut)
def requests():
    return _answer("requests")


@bp.get("/storage")
@requires(VIEW)
@operation("Bytes stored now and added in each month of the period" + _CACHED,
           query=schemas.PeriodQuery, answer=schemas.StorageOut)
def storage():
    return _answer("storage")

"""The department dashboard (/dashboard): a date-range form and, per figure, a plot drawn by
static/dashboard.js from the data table under it, and a CSV download of that table's rows.
Thin: parse the period, take the figures from stats.service, render."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request

from archive.audit import record_now
from archive.auth.guards import current_principal, requires
from archive.extensions import archive
from stats.api import VIEW
from stats.periods import Period, period_of
from stats.service import CACHE_SECONDS, FIGURES, figure_csv, figure_of

bp = Blueprint("stats", __name__)


def duration(seconds: float) -> str:
    """Seconds as a person reads them: "45 s", "12 min", "5.5 h", "309 days"."""
    for size, unit in ((86400, "days"), (3600, "h"), (60, "min")):
        if seconds >= 2 * size:
            return f"{seconds / size:.1f} {unit}".replace(".0 ", " ")
    return f"{seconds:g} s"


def _period() -> Period:
    return period_of(request.args.get("from"), request.args.get("to"), archive().settings.zone)


@bp.get("/dashboard")
@requires(VIEW)
def dashboard():
    period = _period()
    answers = {name: figure_of(name, period) for name in FIGURES}
    return render_template("stats/dashboard.html", period=period, figures=FIGURES,
                           answers=answers, cache_seconds=CACHE_SECONDS)


@bp.get("/dashboard/<name>.csv")
@requires(VIEW)
def figure_download(name: str):
    if name not in FIGURES:
        abort(404)
    period = _period()
    text = figure_csv(name, figure_of(name, period))
    # Aggregates name no patient, but what leaves the archive is still accounted for.
    record_now(archive().db, current_principal().actor, "stats.export",
               details={"figure": name, "from": period.first.isoformat(),
                        "to": period.last.isoformat()})
    filename = f"{name}-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    return Response(text.encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})

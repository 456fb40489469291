"""The department's figures over a period, each computed by the database as one set-based
aggregate (SQLite and PostgreSQL alike; stats.sql holds what they spell differently).

Definitions, since a manager's report must say what it counts:
- filed documents: documents whose first version was filed that local day; filed pages:
  the pages of every version filed that day (a rescan files pages too), as OCR counted them,
  so a scan still waiting for OCR adds its pages once it is read;
- OCR backlog: OCR jobs queued or running now; time to ready: from the upload (the job's
  creation) to the end of its successful OCR run, for runs that ended in the period;
- QC flags: raised in the period (by OCR) and resolved in it (reviewed by a clerk), per kind;
- requests: received in the period; fulfilled ones are those with a recorded release, and
  their turnaround is the days from receipt to the first release; overdue: open requests
  past their due date today;
- storage: bytes of originals and derivatives, now, and those added in each month.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import and_, case, func, or_, select, union_all
from sqlalchemy.orm import Session

from archive.models import DocumentVersion
from ingest.models import Derivative, Job, QcFlag
from release.models import Disclosure, ReleaseRequest
from release.workflow import OPEN
from stats.periods import Period
from stats.sql import (
    date_month,
    days_between,
    local_day,
    local_month,
    nearest_rank,
    ranked,
    seconds_between,
)

PENDING_JOBS = ("queued", "running")


def filing(session: Session, period: Period) -> list[dict]:
    """Documents and pages filed on each day of the period, days without any as zeros."""
    version = DocumentVersion
    day = local_day(session, version.created_at, period).label("day")
    found = {_text(label): (documents, pages) for label, documents, pages in session.execute(
        select(day, func.sum(case((version.number == 1, 1), else_=0)),
               func.coalesce(func.sum(version.page_count), 0))
        .where(version.created_at >= period.starts, version.created_at < period.ends)
        .group_by(day))}
    return [{"date": label, "documents": int(found.get(label, (0, 0))[0]),
             "pages": int(found.get(label, (0, 0))[1])}
            for label in (day.isoformat() for day in period.days())]


def ocr_backlog(session: Session, now: datetime) -> dict:
    """OCR jobs waiting or running now, and how long the oldest has waited."""
    count, oldest = session.execute(
        select(func.count(), func.min(Job.created_at))
        .where(Job.kind == "ocr", Job.status.in_(PENDING_JOBS))).one()
    return {"jobs": int(count),
            "oldest_seconds": round((now - oldest).total_seconds()) if oldest else None}


def ocr_time_to_ready(session: Session, period: Period) -> dict:
    """Median and 95th percentile of upload-to-ready seconds over the whole period."""
    runs = _ready_runs(session, period).subquery("runs")
    order = ranked(runs, runs.c.seconds)
    count, median, p95 = session.execute(
        select(func.coalesce(func.max(order.c.n), 0), nearest_rank(order, 50),
               nearest_rank(order, 95))).one()
    return {"ready": int(count), "median_seconds": _number(median), "p95_seconds": _number(p95)}


def ocr_days(session: Session, period: Period) -> list[dict]:
    """Per day of the period: OCR runs that finished, and their median and 95th percentile."""
    runs = (_ready_runs(session, period)
            .add_columns(local_day(session, Job.finished_at, period).label("day"))
            .subquery("runs"))
    order = ranked(runs, runs.c.seconds, runs.c.day)
    found = {_text(day): (count, median, p95) for day, count, median, p95 in session.execute(
        select(order.c.grp, func.max(order.c.n), nearest_rank(order, 50),
               nearest_rank(order, 95)).group_by(order.c.grp))}
    answer = []
    for day in period.days():
        count, median, p95 = found.get(day.isoformat(), (0, None, None))
        answer.append({"date": day.isoformat(), "ready": int(count),
                       "median_seconds": _number(median), "p95_seconds": _number(p95)})
    return answer


def _ready_runs(session: Session, period: Period):
    return (select(seconds_between(session, Job.created_at, Job.finished_at).label("seconds"))
            .where(Job.kind == "ocr", Job.status == "done",
                   Job.finished_at >= period.starts, Job.finished_at < period.ends))


def qc_flags(session: Session, period: Period) -> list[dict]:
    """Per kind of flag: how many were raised and how many resolved in the period."""
    raised = and_(QcFlag.created_at >= period.starts, QcFlag.created_at < period.ends)
    resolved = and_(QcFlag.reviewed_at >= period.starts, QcFlag.reviewed_at < period.ends)
    rows = session.execute(
        select(QcFlag.kind, func.sum(case((raised, 1), else_=0)),
               func.sum(case((resolved, 1), else_=0)))
        .where(or_(raised, resolved)).group_by(QcFlag.kind).order_by(QcFlag.kind))
    return [{"kind": kind, "raised": int(up), "resolved": int(down)} for kind, up, down in rows]


def _request_releases(period: Period):
    """Each request received in the period, with the date of its first release (or none)."""
    return (select(ReleaseRequest.id, ReleaseRequest.received,
                   func.min(Disclosure.disclosed_on).label("released"))
            .outerjoin(Disclosure, Disclosure.request_id == ReleaseRequest.id)
            .where(ReleaseRequest.received >= period.first,
                   ReleaseRequest.received <= period.last)
            .group_by(ReleaseRequest.id, ReleaseRequest.received).subquery("releases"))


def request_months(session: Session, period: Period) -> list[dict]:
    """Per month of the period: requests received, fulfilled, and the median turnaround."""
    releases = _request_releases(period)
    month = date_month(session, releases.c.received).label("month")
    counts = {_text(label): (received, fulfilled) for label, received, fulfilled in
              session.execute(select(month, func.count(releases.c.id),
                                     func.count(releases.c.released)).group_by(month))}
    turnaround = (select(month, days_between(session, releases.c.received,
                                             releases.c.released).label("days"))
                  .where(releases.c.released.is_not(None)).subquery("turnaround"))
    order = ranked(turnaround, turnaround.c.days, turnaround.c.month)
    medians = {_text(label): median for label, median in session.execute(
        select(order.c.grp, nearest_rank(order, 50)).group_by(order.c.grp))}
    return [{"month": label, "received": int(counts.get(label, (0, 0))[0]),
             "fulfilled": int(counts.get(label, (0, 0))[1]),
             "median_turnaround_days": _number(medians.get(label))}
            for label in _month_labels(period)]


def request_summary(session: Session, period: Period, today: date) -> dict:
    """Requests received and fulfilled in the period, the median turnaround, and how many
    open requests are overdue today (three figures, one aggregate each)."""
    releases = _request_releases(period)
    received, fulfilled = session.execute(
        select(func.count(releases.c.id), func.count(releases.c.released))).one()
    turnaround = (select(days_between(session, releases.c.received, releases.c.released)
                         .label("days")).where(releases.c.released.is_not(None))
                  .subquery("turnaround"))
    median = session.execute(select(nearest_rank(ranked(turnaround, turnaround.c.days), 50)))
    overdue = session.execute(
        select(func.count()).select_from(ReleaseRequest)
        .where(ReleaseRequest.status.in_(sorted(OPEN)), ReleaseRequest.due < today))
    return {"received": int(received), "fulfilled": int(fulfilled),
            "median_turnaround_days": _number(median.scalar_one()),
            "overdue_now": int(overdue.scalar_one())}


def storage_now(session: Session) -> int:
    """Bytes of every stored original and derivative."""
    originals = select(func.coalesce(func.sum(DocumentVersion.size), 0)).scalar_subquery()
    derived = select(func.coalesce(func.sum(Derivative.size), 0)).scalar_subquery()
    return int(session.execute(select(originals + derived)).scalar_one())


def storage_months(session: Session, period: Period) -> list[dict]:
    """Bytes of originals and derivatives stored in each month of the period."""
    def stored(model):
        month = local_month(session, model.created_at, period).label("month")
        return (select(month, model.size)
                .where(model.created_at >= period.starts, model.created_at < period.ends))

    rows = union_all(stored(DocumentVersion), stored(Derivative)).subquery("stored")
    found = {_text(label): added for label, added in session.execute(
        select(rows.c.month, func.sum(rows.c.size)).group_by(rows.c.month))}
    return [{"month": label, "bytes_added": int(found.get(label, 0))}
            for label in _month_labels(period)]


def _month_labels(period: Period) -> list[str]:
    return [month.isoformat()[:7] for month in period.months()]


def _text(label) -> str:
    """A day or month label as the database gave it, as text (PostgreSQL may give a date)."""
    return label if isinstance(label, str) else label.isoformat()


def _number(value) -> float | None:
    """A database's number as JSON shows it: whole numbers without a fraction."""
    if value is None:
        return None
    value = float(value)
    return int(value) if value.is_integer() else value

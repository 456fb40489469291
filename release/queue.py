"""The work queue: requests sorted by due date, filtered by status, assignee and due date, a
page at a time; and which section of the queue page a request falls in (overdue, due this
week, later). API and web call these functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive import audit
from archive.auth.permissions import Principal, require
from archive.params import Paging
from release.models import ReleaseRequest
from release.requests import VIEW
from release.workflow import OPEN

PAGE_SIZE = 50
OVERDUE, THIS_WEEK, LATER = "overdue", "this_week", "later"
# "This week" is the seven days from today, not the calendar week: on a Friday the clerk still
# needs to see what falls due on Monday.
WEEK = timedelta(days=6)


@dataclass(frozen=True)
class QueueFilter:
    status: str | None = None  # None: every open request
    assignee: str | None = None
    due_before: date | None = None


def request_queue(session: Session, principal: Principal, filters: QueueFilter,
                  paging: Paging) -> tuple[int, Paging, list[ReleaseRequest]]:
    """The total, the paging (brought within the total) and one page of requests, soonest
    due first. Audited with the ids listed: the queue names whose records were asked for."""
    require(principal, VIEW)
    query = select(ReleaseRequest)
    if filters.status:
        query = query.where(ReleaseRequest.status == filters.status)
    else:
        query = query.where(ReleaseRequest.status.in_(sorted(OPEN)))
    if filters.assignee:
        query = query.where(ReleaseRequest.assignee == filters.assignee)
    if filters.due_before:
        query = query.where(ReleaseRequest.due < filters.due_before)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    paging = paging.within(total)
    rows = list(session.scalars(paging.rows_of(
        query.order_by(ReleaseRequest.due, ReleaseRequest.id))))
    audit.record(session, principal.actor, "request.queue",
                 details={"requests": [row.id for row in rows], "page": paging.page})
    return total, paging, rows


def section_of(row: ReleaseRequest, today: date) -> str:
    if row.due < today:
        return OVERDUE
    return THIS_WEEK if row.due <= today + WEEK else LATER

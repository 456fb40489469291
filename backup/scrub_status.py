"""What the backup page shows of the integrity scrub: how far the rolling pass has got,
the findings of the last weeks, and the alerts still open (first those with no good copy
anywhere)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from archive.models import utcnow
from backup.models import ObjectCopy, ScrubFinding
from backup.scrub import DEFAULT_DAYS
from backup.scrub_findings import CHECKED_STATES, NOT_REPLICATED, REPAIRED, UNREPAIRED

STATUS_PERIOD = timedelta(days=30)
HISTORY = 20
ALERT_LIMIT = 50


@dataclass(frozen=True)
class ScrubStatus:
    days: int  # the period of a full pass
    objects: int  # stored objects the scrub checks
    checked_in_period: int  # of them, checked within the last ``days`` days
    never_checked: int
    last_run: datetime | None
    repaired: int  # findings over the last 30 days
    unrepaired: int
    outstanding: list[ScrubFinding]  # unrepaired, and the object not found intact since
    outstanding_count: int
    recent: list[ScrubFinding]  # newest first
    unreplicated: int = 0  # stored objects with no replica copy yet
    # Outstanding findings of objects with no replica copy: no good copy exists anywhere.
    # They come first in ``outstanding`` as well.
    lost: list[ScrubFinding] = field(default_factory=list)
    lost_count: int = 0

    @property
    def alert(self) -> bool:
        return self.outstanding_count > 0


def _outstanding():
    """Unrepaired findings whose object is still recorded under that version and has not
    been found intact since (a repair replaces the version; a passing check sets checked_at)."""
    return (
        select(ScrubFinding)
        .join(ObjectCopy, and_(ObjectCopy.key == ScrubFinding.key,
                               ObjectCopy.version_id == ScrubFinding.version_id))
        .where(ScrubFinding.outcome == UNREPAIRED,
               or_(ObjectCopy.checked_at.is_(None), ObjectCopy.checked_at < ScrubFinding.found_at))
    )


def _never_replicated():
    """On ``_outstanding()``: the object has no replica copy (none was ever made)."""
    return or_(ObjectCopy.state != "replicated", ObjectCopy.replica_version_id.is_(None))


def scrub_status(
    session: Session, now: datetime | None = None, *, days: int = DEFAULT_DAYS
) -> ScrubStatus:
    """What the backup page shows; ``days`` is the configured pass (a bad setting falls back
    to the default here: the job itself reports it)."""
    now = now or utcnow()
    days = days if days >= 1 else DEFAULT_DAYS
    checked = ObjectCopy.state.in_(CHECKED_STATES)
    objects, in_period, never, last_check = session.execute(
        select(
            func.count(),
            func.count().filter(ObjectCopy.checked_at >= now - timedelta(days=days)),
            func.count().filter(ObjectCopy.checked_at.is_(None)),
            func.max(ObjectCopy.checked_at),
        ).select_from(ObjectCopy).where(checked)
    ).one()
    last_finding = session.scalar(select(func.max(ScrubFinding.found_at)))
    counts = dict(session.execute(
        select(ScrubFinding.outcome, func.count())
        .where(ScrubFinding.found_at >= now - STATUS_PERIOD)
        .group_by(ScrubFinding.outcome)
    ).all())
    outstanding = _outstanding().subquery()
    outstanding_count = session.scalar(select(func.count()).select_from(outstanding))
    lost_count = session.scalar(
        select(func.count()).select_from(_outstanding().where(_never_replicated()).subquery()))
    unreplicated = session.scalar(
        select(func.count()).select_from(ObjectCopy)
        .where(ObjectCopy.state.in_(NOT_REPLICATED))
    )
    return ScrubStatus(
        days=days,
        objects=objects,
        checked_in_period=in_period,
        never_checked=never,
        last_run=max((t for t in (last_check, last_finding) if t is not None), default=None),
        repaired=counts.get(REPAIRED, 0),
        unrepaired=counts.get(UNREPAIRED, 0),
        outstanding=list(session.scalars(
            _outstanding()
            .order_by(case((_never_replicated(), 0), else_=1), ScrubFinding.id.desc())
            .limit(ALERT_LIMIT)
        )),
        outstanding_count=outstanding_count,
        recent=list(session.scalars(
            select(ScrubFinding).order_by(ScrubFinding.id.desc()).limit(HISTORY)
        )),
        unreplicated=unreplicated,
        lost=list(session.scalars(
            _outstanding().where(_never_replicated())
            .order_by(ScrubFinding.id.desc()).limit(ALERT_LIMIT)
        )),
        lost_count=lost_count,
    )

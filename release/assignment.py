"""Reassigning a request (issue 18): the request goes to another member of the release team.
Only an enabled account whose role holds release.manage may take it, since the assignee is
the one who works the request; the change is audited with the old and the new assignee."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.auth.permissions import Principal, can, require, roles_with
from archive.errors import BadRequest
from archive.models import User, utcnow
from release.models import ReleaseRequest
from release.requests import MANAGE, audit_request, get_request


def assign_request(db, principal: Principal, request_id: int, assignee: str) -> ReleaseRequest:
    require(principal, MANAGE)
    assignee = assignee.strip()
    with db.transaction() as session:
        row = get_request(session, request_id)
        _check_assignee(session, assignee)
        before = row.assignee
        row.assignee = assignee
        row.updated_at = utcnow()
        audit_request(session, principal, row, "request.assign",
                      details={"from": before, "to": assignee})
        return row


def assignable_users(session: Session) -> list[str]:
    """The usernames a request may be given to, for the page's form."""
    users = session.scalars(select(User).where(User.active.is_(True),
                                               User.role.in_(roles_with(MANAGE)))
                            .order_by(User.username))
    return [user.username for user in users]


def _check_assignee(session: Session, username: str) -> None:
    if not username:
        raise BadRequest("assignee is required: the username of the person who will work "
                         "the request.")
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise BadRequest(f"assignee: no user is named {username!r}; check the spelling.")
    if not user.active:
        raise BadRequest(f"assignee: {username} is disabled; enable the account or choose "
                         "someone else.")
    if not can(user.role, MANAGE):
        raise BadRequest(f"assignee: {username} is {user.role} and may not work requests "
                         f"({MANAGE}); choose someone whose role is "
                         f"{', '.join(sorted(roles_with(MANAGE)))}.")

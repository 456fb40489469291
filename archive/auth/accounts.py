"""User accounts: creation, password login with lockout, and the administration of accounts
(role, reset, unlock, deactivation). Every change is audited; every change that alters what
a user may do ends their sessions and tokens (archive.auth.sessions)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from archive import audit
from archive.audit import Actor
from archive.auth.passwords import (
    check_password_policy,
    hash_password,
    new_one_time_password,
    verify_password,
)
from archive.auth.permissions import Principal, require
from archive.auth.sessions import end_everything
from archive.errors import AuthenticationRequired, BadRequest, Conflict, NotFound
from archive.models import ROLES, ApiToken, User, UserSession, utcnow

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9._-]{2,80}$")
MAX_FULL_NAME = 200
# One answer for an unknown name, a wrong password, a deactivated and a locked account (same
# status, same words, same scrypt work), so the login form tells nobody which names are real.
BAD_LOGIN = (
    "Wrong username or password. After repeated failures an account is locked for a while: "
    "wait, or ask an administrator to unlock it."
)


def principal_of(user: User, source: str = "") -> Principal:
    return Principal(username=user.username, role=user.role, user_id=user.id, source=source)


def _checked_role(role: str) -> str:
    if role not in ROLES:
        raise BadRequest(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.")
    return role


def _checked_full_name(full_name: str) -> str:
    full_name = " ".join((full_name or "").split())
    if len(full_name) > MAX_FULL_NAME:
        raise BadRequest(f"A full name is at most {MAX_FULL_NAME} characters.")
    if any(not ch.isprintable() for ch in full_name):
        raise BadRequest("A full name may not contain control characters.")
    return full_name


def create_user(
    session: Session,
    actor: Actor,
    username: str,
    role: str,
    password: str | None = None,
    full_name: str = "",
    *,
    must_change_password: bool = True,
) -> tuple[User, str | None]:
    """Create a user. Without a password, a one-time password is generated and returned
    once. Either way it must be changed at first login (also one given by the operator, e.g.
    the first admin's CHARTVAULT_ADMIN_PASSWORD: nobody but the user should know it); only
    tests that log a user straight in pass ``must_change_password=False``."""
    if not USERNAME_PATTERN.match(username or ""):
        raise BadRequest("A username is 2-80 letters, digits, dots, dashes or underscores.")
    _checked_role(role)
    full_name = _checked_full_name(full_name)
    if session.scalar(select(User).where(User.username == username)):
        raise Conflict(f"A user named {username!r} already exists.")
    one_time = None
    if password is None:
        password = one_time = new_one_time_password()
    else:
        check_password_policy(password, about_user=(username, full_name))
    user = User(
        username=username,
        full_name=full_name,
        role=role,
        password_hash=hash_password(password),
        must_change_password=must_change_password,
        failed_logins=0,
        active=True,
    )
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", details={"username": username, "role": role})
    return user, one_time


def authenticate(
    session: Session,
    username: str,
    password: str,
    source: str,
    *,
    lockout_threshold: int,
    lockout_minutes: int,
) -> User:
    """Check a password login; every attempt is audited (with the true reason, which only
    compliance sees). Raises AuthenticationRequired with BAD_LOGIN whatever went wrong. The
    caller commits the session whatever the outcome, so failure counters and events are kept."""
    actor = Actor((username or "(blank)")[:120], source)
    user = session.scalar(select(User).where(User.username == username))
    # Always one scrypt verification, before any branch: equal time for every outcome.
    password_ok = verify_password(user.password_hash if user else None, password)
    now = utcnow()
    if user is None or not user.active:
        _failed(session, actor, "unknown or inactive user")
    if user.locked_until and user.locked_until > now:
        _failed(session, actor, "account locked", outcome="refused")
    if not password_ok:
        user.failed_logins += 1
        if user.failed_logins >= lockout_threshold:
            user.locked_until = now + timedelta(minutes=lockout_minutes)
            user.failed_logins = 0
            audit.record(session, actor, "auth.lockout", details={"minutes": lockout_minutes})
        _failed(session, actor, "wrong password")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record(session, actor, "auth.login")
    return user


def _failed(session: Session, actor: Actor, why: str, outcome: str = "failure"):
    audit.record(session, actor, "auth.login", outcome=outcome, details={"why": why})
    raise AuthenticationRequired(BAD_LOGIN)


def change_password(session: Session, user: User, current: str, new: str, source: str) -> None:
    """The user's own password change. Every session and token of theirs ends (whoever else
    held one is out); the caller opens a new session for the browser that made the change."""
    actor = Actor(user.username, source)
    if not verify_password(user.password_hash, current):
        audit.record(session, actor, "auth.password_change", outcome="failure",
                     details={"why": "wrong current password"})
        raise BadRequest("The current password is wrong.")
    if new == current:
        raise BadRequest("Choose a new password that differs from the current one.")
    check_password_policy(new, about_user=(user.username, user.full_name))
    user.password_hash = hash_password(new)
    user.must_change_password = False
    audit.record(session, actor, "auth.password_change")
    end_everything(session, actor, user, "password changed")


# --- administration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountRow:
    """A user as the administration page and `chartvault user list` show them."""

    id: int
    username: str
    full_name: str
    role: str
    active: bool
    locked: bool
    locked_until: datetime | None
    must_change_password: bool
    last_login_at: datetime | None
    created_at: datetime
    open_sessions: int
    live_tokens: int

    @property
    def state(self) -> str:
        if not self.active:
            return "deactivated"
        if self.locked:
            return "locked"
        return "must change password" if self.must_change_password else "active"


def list_accounts(session: Session, principal: Principal) -> list[AccountRow]:
    require(principal, "user.manage")
    return _account_rows(session, select(User).order_by(User.username))


def account_of(session: Session, principal: Principal, username: str) -> AccountRow:
    """One user's row, as the list shows it (NotFound for an unknown name)."""
    require(principal, "user.manage")
    [row] = _account_rows(session, select(User).where(User.id == get_user(session, username).id))
    return row


def _account_rows(session: Session, users: Select) -> list[AccountRow]:
    now = utcnow()
    sessions = dict(session.execute(
        select(UserSession.user_id, func.count())
        .where(UserSession.ended_at.is_(None)).group_by(UserSession.user_id)
    ).all())
    tokens = dict(session.execute(
        select(ApiToken.user_id, func.count())
        .where(ApiToken.revoked_at.is_(None)).group_by(ApiToken.user_id)
    ).all())
    return [
        AccountRow(
            id=user.id,
            username=user.username,
            full_name=user.full_name,
            role=user.role,
            active=user.active,
            locked=bool(user.locked_until and user.locked_until > now),
            locked_until=user.locked_until,
            must_change_password=user.must_change_password,
            last_login_at=user.last_login_at,
            created_at=user.created_at,
            open_sessions=sessions.get(user.id, 0),
            live_tokens=tokens.get(user.id, 0),
        )
        for user in session.scalars(users)
    ]


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"No user named {username!r}.")
    return user


def _keep_an_administrator(session: Session, user: User, change: str) -> None:
    """Refuse a change that would leave nobody able to administer accounts."""
    if user.role != "admin" or not user.active:
        return
    others = session.scalar(
        select(func.count(User.id)).where(
            User.role == "admin", User.active.is_(True), User.id != user.id
        )
    )
    if not others:
        raise Conflict(f"{user.username} is the last active administrator and cannot be "
                       f"{change}; make another user an administrator first.")


def _not_yourself(principal: Principal, user: User, change: str) -> None:
    if principal.user_id is not None and principal.user_id == user.id:
        raise Conflict(f"You cannot {change} your own account; ask another administrator.")


def change_role(session: Session, principal: Principal, username: str, role: str) -> User:
    require(principal, "user.manage")
    user = get_user(session, username)
    role = _checked_role(role)
    if role == user.role:
        raise BadRequest(f"{username} already has the role {role}.")
    _not_yourself(principal, user, "change the role of")
    if role != "admin":
        _keep_an_administrator(session, user, "given another role")
    before, user.role = user.role, role
    audit.record(session, principal.actor, "user.role",
                 details={"username": username, "from": before, "to": role})
    end_everything(session, principal.actor, user, "role changed")
    return user


def reset_password(session: Session, principal: Principal, username: str) -> str:
    """A new one-time password (returned once), to be changed at the next login; the account
    is unlocked and every session and token of the user ends."""
    require(principal, "user.manage")
    user = get_user(session, username)
    one_time = new_one_time_password()
    user.password_hash = hash_password(one_time)
    user.must_change_password = True
    user.failed_logins, user.locked_until = 0, None
    audit.record(session, principal.actor, "user.password_reset", details={"username": username})
    end_everything(session, principal.actor, user, "password reset")
    return one_time


def unlock(session: Session, principal: Principal, username: str) -> User:
    require(principal, "user.manage")
    user = get_user(session, username)
    if not (user.locked_until and user.locked_until > utcnow()) and not user.failed_logins:
        raise BadRequest(f"{username} is not locked.")
    user.failed_logins, user.locked_until = 0, None
    audit.record(session, principal.actor, "user.unlock", details={"username": username})
    return user


def set_active(session: Session, principal: Principal, username: str, active: bool) -> User:
    """Deactivate (every session and token ends at once) or reactivate an account. Nothing
    of the user is deleted: their name stays on what they filed and in the audit trail."""
    require(principal, "user.manage")
    user = get_user(session, username)
    if user.active == active:
        raise BadRequest(f"{username} is already {'active' if active else 'deactivated'}.")
    if not active:
        _not_yourself(principal, user, "deactivate")
        _keep_an_administrator(session, user, "deactivated")
    user.active = active
    audit.record(session, principal.actor, "user.enable" if active else "user.disable",
                 details={"username": username})
    if not active:
        end_everything(session, principal.actor, user, "deactivated")
    return user

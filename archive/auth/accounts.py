"""User accounts: creation, password login with lockout, API tokens."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive import audit
from archive.audit import Actor
from archive.auth.passwords import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    hash_token,
    new_api_token,
    new_one_time_password,
    verify_password,
)
from archive.auth.permissions import Principal
from archive.errors import AccountLocked, AuthenticationRequired, BadRequest, Conflict, NotFound
from archive.models import ROLES, ApiToken, User, utcnow

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9._-]{2,80}$")
# Same message whether the user exists or not, so a login form cannot be used to
# find out which usernames are real.
BAD_LOGIN = "Wrong username or password."


def principal_of(user: User, source: str = "") -> Principal:
    return Principal(username=user.username, role=user.role, user_id=user.id, source=source)


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.")


def create_user(
    session: Session,
    actor: Actor,
    username: str,
    role: str,
    password: str | None = None,
    full_name: str = "",
) -> tuple[User, str | None]:
    """Create a user. Without a password, a one-time password is generated, returned
    once, and must be changed at first login."""
    if not USERNAME_PATTERN.match(username):
        raise BadRequest("A username is 2-80 letters, digits, dots, dashes or underscores.")
    if role not in ROLES:
        raise BadRequest(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.")
    if session.scalar(select(User).where(User.username == username)):
        raise Conflict(f"A user named {username!r} already exists.")
    one_time = None
    if password is None:
        password = one_time = new_one_time_password()
    else:
        check_password_policy(password)
    user = User(
        username=username,
        full_name=full_name,
        role=role,
        password_hash=hash_password(password),
        must_change_password=one_time is not None,
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
    """Check a password login; every attempt is audited. Raises AuthenticationRequired
    or AccountLocked. The caller commits the session whatever the outcome, so that
    failure counters and audit events are kept."""
    actor = Actor(username or "(blank)", source)
    user = session.scalar(select(User).where(User.username == username))
    now = utcnow()
    if user is None or not user.active:
        audit.record(
            session,
            actor,
            "auth.login",
            outcome="failure",
            details={"why": "unknown or inactive user"},
        )
        raise AuthenticationRequired(BAD_LOGIN)
    if user.locked_until and user.locked_until > now:
        audit.record(
            session, actor, "auth.login", outcome="refused", details={"why": "account locked"}
        )
        raise AccountLocked(_locked_message(user))
    if not verify_password(user.password_hash, password):
        user.failed_logins += 1
        audit.record(
            session,
            actor,
            "auth.login",
            outcome="failure",
            details={"why": "wrong password", "failed_logins": user.failed_logins},
        )
        if user.failed_logins >= lockout_threshold:
            user.locked_until = now + timedelta(minutes=lockout_minutes)
            user.failed_logins = 0
            audit.record(
                session,
                actor,
                "auth.lockout",
                outcome="success",
                details={"minutes": lockout_minutes},
            )
            raise AccountLocked(_locked_message(user))
        raise AuthenticationRequired(BAD_LOGIN)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record(session, actor, "auth.login")
    return user


def _locked_message(user: User) -> str:
    until = user.locked_until.strftime("%H:%M UTC")
    return (
        f"This account is locked after repeated failed logins until {until}. "
        "Try again then, or ask an administrator to unlock it."
    )


def change_password(session: Session, user: User, current: str, new: str, source: str) -> None:
    if not verify_password(user.password_hash, current):
        audit.record(
            session,
            Actor(user.username, source),
            "auth.password_change",
            outcome="failure",
            details={"why": "wrong current password"},
        )
        raise BadRequest("The current password is wrong.")
    check_password_policy(new)
    if new == current:
        raise BadRequest("Choose a new password that differs from the current one.")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    audit.record(session, Actor(user.username, source), "auth.password_change")


def create_token(session: Session, actor: Actor, username: str, name: str) -> str:
    """Issue an API token for ``username``; only its hash is stored."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"No user named {username!r}. Create it first with `chartvault user add`.")
    token = new_api_token()
    session.add(ApiToken(user_id=user.id, name=name, token_hash=hash_token(token)))
    audit.record(session, actor, "token.create", details={"username": username, "name": name})
    return token


def principal_from_token(session: Session, token: str, source: str) -> Principal | None:
    row = session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)
        )
    )
    if row is None or not row.user.active:
        return None
    row.last_used_at = utcnow()
    return principal_of(row.user, source)

"""Web sessions the server can end.

A signed cookie alone cannot be taken back: whoever kept a copy could use it until it expired.
So each login is a ``UserSession`` row, the cookie carries a random id for it, and a request is
authenticated only while that row is open. Logout closes it; a password change, a role change,
a password reset or a deactivation closes every session of the user and revokes their API
tokens (``end_everything``), so a saved cookie or token is dead at once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app
from flask import session as cookie
from flask_login import logout_user
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from archive import audit
from archive.audit import Actor
from archive.models import ApiToken, User, UserSession, utcnow

# The key of the session id in Flask's signed cookie.
COOKIE_KEY = "sid"
# last_seen_at is written at most this often, not on every request.
TOUCH_INTERVAL = timedelta(minutes=1)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(session: Session, user: User, source: str) -> str:
    """Open a session for ``user``; returns the id to put in the cookie (only its hash is kept)."""
    session_id = secrets.token_urlsafe(32)
    session.add(UserSession(id_hash=_digest(session_id), user_id=user.id, source=source[:64],
                            end_reason=""))
    return session_id


def open_session_user(
    session: Session, session_id: str, now: datetime | None = None
) -> User | None:
    """The active user of an open session, or None when it was ended or never existed."""
    now = now or utcnow()
    row = session.scalar(
        select(UserSession).where(
            UserSession.id_hash == _digest(session_id), UserSession.ended_at.is_(None)
        )
    )
    if row is None:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if now - row.last_seen_at > TOUCH_INTERVAL:
        row.last_seen_at = now
    return user


def end_session(session: Session, session_id: str, reason: str) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.id_hash == _digest(session_id), UserSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason)
    )


def end_browser_session(reason: str) -> None:
    """Close this browser's server session, so its cookie opens nothing again, and forget it."""
    session_id = cookie.get(COOKIE_KEY)
    if isinstance(session_id, str):
        with current_app.extensions["chartvault"].db.transaction() as session:
            end_session(session, session_id, reason)
    logout_user()
    cookie.clear()


def end_everything(session: Session, actor: Actor, user: User, reason: str) -> None:
    """Close every open session of ``user`` and revoke every API token, audited as one event."""
    now = utcnow()
    sessions = session.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
    ).rowcount
    tokens = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    ).rowcount
    audit.record(
        session,
        actor,
        "user.sessions_ended",
        details={"username": user.username, "why": reason, "sessions": sessions,
                 "tokens": tokens},
    )

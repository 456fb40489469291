"""API tokens: issued to a user (shown once, only the SHA-256 kept), optionally expiring,
listed with their last use, revoked one by one or all at once with the user's sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive import audit
from archive.audit import Actor
from archive.auth.accounts import get_user, principal_of
from archive.auth.passwords import hash_token, new_api_token
from archive.auth.permissions import Principal
from archive.errors import BadRequest, Conflict, NotFound
from archive.models import ApiToken, User, utcnow

MAX_TOKEN_NAME = 80


def expiry_after(last_day: date | None) -> datetime | None:
    """A token given "until" a day works through that whole day (UTC)."""
    if last_day is None:
        return None
    return datetime.combine(last_day + timedelta(days=1), time(), UTC)


def create_token(
    session: Session, actor: Actor, username: str, name: str, expires_at: datetime | None = None
) -> str:
    """Issue an API token for ``username``; only its hash is stored."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"No user named {username!r}. Create it first with `chartvault user add`.")
    if not user.active:
        raise Conflict(f"{username} is deactivated; reactivate the account first.")
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_TOKEN_NAME or not name.isprintable():
        raise BadRequest(f"Name the token's use in 1-{MAX_TOKEN_NAME} printable characters.")
    if expires_at is not None and expires_at <= utcnow():
        raise BadRequest("The expiry date is in the past; choose a later one.")
    token = new_api_token()
    row = ApiToken(user_id=user.id, name=name, token_hash=hash_token(token),
                   expires_at=expires_at, revoked_reason="")
    session.add(row)
    session.flush()
    audit.record(session, actor, "token.create", details={
        "username": username, "name": name, "token": row.id,
        "expires_at": expires_at.isoformat() if expires_at else None})
    return token


def principal_from_token(session: Session, token: str, source: str) -> Principal | None:
    row = session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)
        )
    )
    now = utcnow()
    if row is None or not row.user.active or (row.expires_at and row.expires_at <= now):
        return None
    row.last_used_at = now
    return principal_of(row.user, source)


@dataclass(frozen=True)
class TokenRow:
    id: int
    username: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_reason: str

    @property
    def state(self) -> str:
        if self.revoked_at:
            return f"revoked ({self.revoked_reason})" if self.revoked_reason else "revoked"
        if self.expires_at and self.expires_at <= utcnow():
            return "expired"
        return "live"


def list_tokens(session: Session, username: str | None = None) -> list[TokenRow]:
    """Every token (of ``username``, when given), newest first; never the token itself."""
    query = select(ApiToken, User.username).join(User).order_by(ApiToken.id.desc())
    if username:
        query = query.where(User.id == get_user(session, username).id)
    return [
        TokenRow(row.id, name, row.name, row.created_at, row.last_used_at, row.expires_at,
                 row.revoked_at, row.revoked_reason)
        for row, name in session.execute(query)
    ]


def revoke_token(session: Session, actor: Actor, token_id: int, reason: str = "revoked") -> None:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"No API token with id {token_id}; `chartvault token list` shows them.")
    if row.revoked_at is not None:
        raise Conflict(f"Token {token_id} was already revoked.")
    row.revoked_at, row.revoked_reason = utcnow(), reason[:200]
    audit.record(session, actor, "token.revoke", details={
        "token": token_id, "username": row.user.username, "name": row.name})

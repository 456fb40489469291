"""Account administration in the REST API (admins): the same service functions as the web
pages and the CLI (archive.auth.accounts, archive.auth.tokens), every change audited. A new
password or token is in the answer once and never again."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, jsonify
from pydantic import Field

from archive.api_spec import ISO_DATE, Answer, Request, Text, body_of, operation, query_of
from archive.auth import accounts
from archive.auth.guards import current_principal, requires
from archive.auth.tokens import create_token, expiry_after, list_tokens, revoke_token
from archive.extensions import archive
from archive.params import parse_date

bp = Blueprint("accounts_api", __name__, url_prefix="/api/v1")

USERNAME = Text(80, min_length=2, pattern=r"^[A-Za-z0-9._-]{2,80}$")
ROLE = Text(16, pattern=r"^[a-z]+$")


class NewUser(Request):
    username: USERNAME
    role: ROLE
    full_name: Text(200) = ""


class RoleChange(Request):
    role: ROLE


class NewToken(Request):
    username: USERNAME
    name: Text(80, min_length=1)
    expires: ISO_DATE | None = Field(None, description="last day the token works (UTC)")


class TokenQuery(Request):
    user: USERNAME | None = None


class UserOut(Answer):
    username: str
    full_name: str
    role: str
    state: str
    locked_until: str | None
    last_login_at: str | None
    open_sessions: int
    live_tokens: int


class Users(Answer):
    users: list[UserOut]


class OneTimePassword(Answer):
    username: str
    one_time_password: str


class TokenOut(Answer):
    id: int
    username: str
    name: str
    state: str
    created_at: str
    last_used_at: str | None
    expires_at: str | None


class Tokens(Answer):
    tokens: list[TokenOut]


class IssuedToken(Answer):
    token: str


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _user_json(row: accounts.AccountRow) -> dict:
    return {"username": row.username, "full_name": row.full_name, "role": row.role,
            "state": row.state, "locked_until": _iso(row.locked_until if row.locked else None),
            "last_login_at": _iso(row.last_login_at), "open_sessions": row.open_sessions,
            "live_tokens": row.live_tokens}


def _user_answer(username: str):
    with archive().db.transaction() as session:
        row = accounts.account_of(session, current_principal(), username)
    return jsonify(_user_json(row))


@bp.route("/users")
@requires("user.manage")
@operation("Every account with its role, state, last login and lock", answer=Users)
def users():
    with archive().db.transaction() as session:
        rows = accounts.list_accounts(session, current_principal())
    return jsonify({"users": [_user_json(row) for row in rows]})


@bp.route("/users", methods=["POST"])
@requires("user.manage")
@operation("Add a user; the answer holds a one-time password, to be changed at first login",
           body=NewUser, status=201, answer=OneTimePassword)
def add_user():
    body = body_of(NewUser)
    with archive().db.transaction() as session:
        _user, one_time = accounts.create_user(session, current_principal().actor, body.username,
                                               body.role, full_name=body.full_name)
    return jsonify({"username": body.username, "one_time_password": one_time}), 201


@bp.route("/users/<username>/role", methods=["POST"])
@requires("user.manage")
@operation("Give a user another role; their sessions and tokens end", body=RoleChange,
           answer=UserOut)
def change_role(username: str):
    role = body_of(RoleChange).role
    return _changed(username,
                    lambda session, who: accounts.change_role(session, who, username, role))


@bp.route("/users/<username>/reset-password", methods=["POST"])
@requires("user.manage")
@operation("A new one-time password; the user's sessions and tokens end",
           answer=OneTimePassword)
def reset_password(username: str):
    with archive().db.transaction() as session:
        one_time = accounts.reset_password(session, current_principal(), username)
    return jsonify({"username": username, "one_time_password": one_time})


@bp.route("/users/<username>/unlock", methods=["POST"])
@requires("user.manage")
@operation("Unlock an account locked by failed logins", answer=UserOut)
def unlock(username: str):
    return _changed(username, lambda session, who: accounts.unlock(session, who, username))


@bp.route("/users/<username>/disable", methods=["POST"])
@requires("user.manage")
@operation("Deactivate an account: its sessions and tokens end at once", answer=UserOut)
def disable(username: str):
    return _changed(username,
                    lambda session, who: accounts.set_active(session, who, username, False))


@bp.route("/users/<username>/enable", methods=["POST"])
@requires("user.manage")
@operation("Reactivate a deactivated account", answer=UserOut)
def enable(username: str):
    return _changed(username,
                    lambda session, who: accounts.set_active(session, who, username, True))


def _changed(username: str, change):
    """Apply one audited change to an account; the account as it is now."""
    with archive().db.transaction() as session:
        change(session, current_principal())
    return _user_answer(username)


@bp.route("/tokens")
@requires("user.manage")
@operation("API tokens (of one user), newest first, with their last use; never the token",
           query=TokenQuery, answer=Tokens)
def tokens():
    user = query_of(TokenQuery).user
    with archive().db.transaction() as session:
        rows = list_tokens(session, user)
    return jsonify({"tokens": [
        {"id": row.id, "username": row.username, "name": row.name, "state": row.state,
         "created_at": row.created_at.isoformat(), "last_used_at": _iso(row.last_used_at),
         "expires_at": _iso(row.expires_at)} for row in rows]})


@bp.route("/tokens", methods=["POST"])
@requires("user.manage")
@operation("Issue an API token for a user (in this answer only), optionally expiring",
           body=NewToken, status=201, answer=IssuedToken)
def add_token():
    body = body_of(NewToken)
    expires_at = expiry_after(parse_date(body.expires, "expires"))
    with archive().db.transaction() as session:
        token = create_token(session, current_principal().actor, body.username, body.name,
                             expires_at)
    return jsonify({"token": token}), 201


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@requires("user.manage")
@operation("Revoke an API token at once", answer=Answer)
def revoke(token_id: int):
    with archive().db.transaction() as session:
        revoke_token(session, current_principal().actor, token_id, "revoked by an administrator")
    return jsonify({"id": token_id, "state": "revoked"})

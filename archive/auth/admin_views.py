"""Account administration on the web (admins): users with their role, state, last login and
lock; add, change role, reset password, unlock, deactivate and reactivate; API tokens with
their last use, created (optionally expiring) and revoked. Thin: parse, call
archive.auth.accounts / archive.auth.tokens, render. A new password or token is shown once,
on the page that answers the form, and never put in a cookie or a redirect."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, flash, redirect, render_template, request, url_for

from archive.auth import accounts
from archive.auth.guards import current_principal, requires
from archive.auth.tokens import create_token, expiry_after, list_tokens, revoke_token
from archive.errors import ArchiveError, NotFound
from archive.extensions import archive
from archive.models import ROLES, ApiToken
from archive.params import parse_date

bp = Blueprint("accounts", __name__, url_prefix="/admin/users")


@bp.route("")
@requires("user.manage")
def users():
    return _users_page()


def _users_page(problem: str | None = None, typed: dict | None = None, status: int = 200):
    with archive().db.transaction() as session:
        rows = accounts.list_accounts(session, current_principal())
    return render_template("auth/users.html", users=rows, roles=ROLES, problem=problem,
                           typed=typed or {}), status


@bp.route("", methods=["POST"])
@requires("user.manage")
def add_user():
    typed = {name: request.form.get(name, "").strip() for name in ("username", "full_name", "role")}
    try:
        with archive().db.transaction() as session:
            _user, one_time = accounts.create_user(
                session, current_principal().actor, typed["username"], typed["role"],
                full_name=typed["full_name"])
    except ArchiveError as err:
        return _users_page(err.message, typed, err.http_status)
    return render_template(
        "auth/secret_once.html", title=f"{typed['username']} was added", secret=one_time,
        what="One-time password",
        advice="Give it to the user in person or by phone. They must choose their own "
        "password when they first log in.",
        back=url_for("accounts.user", username=typed["username"]))


@bp.route("/<username>")
@requires("user.manage")
def user(username: str):
    return _user_page(username)


def _user_page(username: str, problem: str | None = None, status: int = 200):
    with archive().db.transaction() as session:
        row = accounts.account_of(session, current_principal(), username)
        tokens = list_tokens(session, username)
    return render_template("auth/user.html", person=row, tokens=tokens, roles=ROLES,
                           problem=problem), status


def _change(username: str, change: Callable, done: str):
    """Apply one audited change to an account; the page again, with the refusal if any."""
    try:
        with archive().db.transaction() as session:
            change(session)
    except NotFound:
        raise
    except ArchiveError as err:
        return _user_page(username, err.message, err.http_status)
    flash(done, "info")
    return redirect(url_for("accounts.user", username=username), code=303)


@bp.route("/<username>/role", methods=["POST"])
@requires("user.manage")
def change_role(username: str):
    role = request.form.get("role", "")
    return _change(
        username,
        lambda session: accounts.change_role(session, current_principal(), username, role),
        f"{username} is now {role}. Their sessions and API tokens have ended.")


@bp.route("/<username>/unlock", methods=["POST"])
@requires("user.manage")
def unlock(username: str):
    return _change(username,
                   lambda session: accounts.unlock(session, current_principal(), username),
                   f"{username} is unlocked and can log in again.")


@bp.route("/<username>/deactivate", methods=["POST"])
@requires("user.manage")
def deactivate(username: str):
    return _change(
        username,
        lambda session: accounts.set_active(session, current_principal(), username, False),
        f"{username} is deactivated: their sessions and API tokens have ended.")


@bp.route("/<username>/reactivate", methods=["POST"])
@requires("user.manage")
def reactivate(username: str):
    return _change(
        username,
        lambda session: accounts.set_active(session, current_principal(), username, True),
        f"{username} is active again.")


@bp.route("/<username>/reset-password", methods=["POST"])
@requires("user.manage")
def reset_password(username: str):
    return _issue_secret(
        username,
        lambda session: accounts.reset_password(session, current_principal(), username),
        title=f"New password for {username}", what="One-time password",
        advice="Their sessions and API tokens have ended. Give the password to the user in "
        "person or by phone; they must choose their own when they log in.")


@bp.route("/<username>/tokens", methods=["POST"])
@requires("user.manage")
def add_token(username: str):
    def issue(session) -> str:
        expires_at = expiry_after(parse_date(request.form.get("expires", "").strip(), "expires"))
        return create_token(session, current_principal().actor, username,
                            request.form.get("name", ""), expires_at)

    return _issue_secret(
        username, issue, title=f"API token for {username}", what="API token",
        advice="Copy it into the program that will use it now: it is shown only once. "
        "Programs send it as 'Authorization: Bearer <token>'.")


def _issue_secret(username: str, issue: Callable, *, title: str, what: str, advice: str):
    """Make a password or token and show it once; the user's page with the refusal if any."""
    try:
        with archive().db.transaction() as session:
            secret = issue(session)
    except NotFound:
        raise
    except ArchiveError as err:
        return _user_page(username, err.message, err.http_status)
    return render_template("auth/secret_once.html", title=title, secret=secret, what=what,
                           advice=advice, back=url_for("accounts.user", username=username))


@bp.route("/<username>/tokens/<int:token_id>/revoke", methods=["POST"])
@requires("user.manage")
def revoke(username: str, token_id: int):
    def revoke_own_token(session):
        token = session.get(ApiToken, token_id)
        if token is None or token.user.username != username:
            raise NotFound(f"{username} has no API token #{token_id}.")
        revoke_token(session, current_principal().actor, token_id, "revoked by an administrator")

    return _change(username, revoke_own_token, f"Token #{token_id} is revoked.")

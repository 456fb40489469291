"""Login, logout, password change and the idle-timeout keep-alive. Each login opens a
server-side session (archive.auth.sessions) whose id rides in the signed cookie."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user

from archive import audit
from archive.auth import LoginUser
from archive.auth.accounts import authenticate, change_password
from archive.auth.guards import client_address, current_principal, public, requires
from archive.auth.sessions import COOKIE_KEY, end_browser_session, start_session
from archive.errors import AuthenticationRequired, BadRequest
from archive.extensions import archive
from archive.models import User
from archive.web import local_path

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    # Only local paths: an attacker must not turn the login page into a redirector.
    return local_path(target) or url_for("records.home")


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    if request.method == "POST":
        settings = archive().settings
        username = request.form.get("username", "").strip()
        # Commit whatever the outcome: a failed attempt must keep its counter and audit event.
        with archive().db.sessionmaker() as db_session:
            try:
                user = authenticate(
                    db_session,
                    username,
                    request.form.get("password", ""),
                    client_address(),
                    lockout_threshold=settings.lockout_threshold,
                    lockout_minutes=settings.lockout_minutes,
                )
            except AuthenticationRequired as err:
                return render_template("auth/login.html", error=err.message), err.http_status
            finally:
                db_session.commit()
        _open_browser_session(user)
        if user.must_change_password:
            flash("Choose your own password before you go on.", "info")
            return redirect(url_for("auth.password"))
        return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", error=None)


def _open_browser_session(user: User) -> None:
    """A fresh cookie (never one an attacker may have planted) bound to a new server session."""
    session.clear()
    with archive().db.transaction() as db_session:
        session[COOKIE_KEY] = start_session(db_session, user, client_address())
    login_user(LoginUser(user))


@bp.route("/logout", methods=["POST"])
@requires("session")
def logout():
    audit.record_now(archive().db, current_principal().actor, "auth.logout")
    end_browser_session("logout")
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@requires("session")
def password():
    error = None
    if request.method == "POST":
        new = request.form.get("new_password", "")
        if new != request.form.get("confirm_password", ""):
            error = "The two new passwords differ."
        else:
            with archive().db.sessionmaker() as db_session:
                user = db_session.get(User, current_user.user.id)
                try:
                    change_password(
                        db_session,
                        user,
                        request.form.get("current_password", ""),
                        new,
                        client_address(),
                    )
                except BadRequest as err:
                    error = err.message
                finally:
                    db_session.commit()  # the audit event of a failed attempt is kept too
            if error is None:
                # Every session of the user was ended with the change, this one too.
                _open_browser_session(user)
                flash("Your password was changed. Any other session of yours was ended and "
                      "your API tokens were revoked.", "info")
                return redirect(url_for("records.home"))
    status = 400 if error else 200
    return render_template("auth/password.html", error=error), status


@bp.route("/session/keepalive", methods=["POST"])
@requires("session")
def keepalive():
    # The idle-timeout hook has already renewed the session by the time we get here.
    return {"ok": True}

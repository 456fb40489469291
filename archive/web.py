"""Cross-cutting web behaviour: error rendering, security headers, idle timeout."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from flask import (
    Flask,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from archive.auth.guards import current_principal, is_api_request, public
from archive.auth.permissions import can
from archive.auth.sessions import end_browser_session
from archive.errors import ArchiveError, DatabaseUnavailable, RestrictedRecord

log = logging.getLogger(__name__)

# Pages carry patient data: no caching anywhere, no framing, no third-party anything.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def render_error(status: int, code: str, message: str):
    if is_api_request():
        return jsonify({"error": {"code": code, "message": message}}), status
    return render_template("archive/error.html", status=status, message=message), status


DATABASE_UNAVAILABLE = (
    "The archive's database is not answering, so nothing was saved. Try again in a minute; "
    "if it keeps happening, tell the archive administrator: the database server may be "
    "stopped or out of reach."
)


def render_database_unavailable(err: OperationalError):
    """503 for a database that does not answer. PEP 249's OperationalError is the database's
    own trouble (stopped, restarting, unreachable, out of connections), not the request's:
    worth retrying, unlike the 500 of a bug. A page is rendered without the context
    processors (Flask-Login's loads the logged-in user, from the database) by a template that
    names nobody."""
    log.error("the database did not answer on %s %s: %s", request.method, request.path,
              err.orig if err.orig is not None else err)
    error = DatabaseUnavailable(DATABASE_UNAVAILABLE)
    if is_api_request():
        return render_error(error.http_status, error.code, error.message)
    page = current_app.jinja_env.get_template("archive/unavailable.html")
    return page.render(message=error.message, request=request), error.http_status


def render_archive_error(err: ArchiveError):
    """The page (or JSON) for one of the project's errors. A refused restricted chart gets
    the page that offers to break the glass, and comes back to what was being opened."""
    if isinstance(err, RestrictedRecord) and not is_api_request():
        back = request.full_path.rstrip("?") if request.method == "GET" else None
        return render_restricted(err.mrn, back)
    return render_error(err.http_status, err.code, err.message)


def render_restricted(
    mrn: str,
    next_path: str | None,
    *,
    reason: str = "",
    problem: str | None = None,
    status: int = 403,
):
    """Why the record is closed; the break-the-glass form for those who may use it."""
    principal = current_principal()
    return (
        render_template(
            "archive/restricted.html",
            mrn=mrn,
            next_path=next_path,
            reason=reason,
            problem=problem,
            may_break_glass=principal is not None and can(principal.role, "chart.break_glass"),
            minutes=current_app.extensions["chartvault"].settings.break_glass_minutes,
        ),
        status,
    )


def local_path(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None: never another host, so a form's
    ``next`` cannot redirect anywhere else ('/\\host' is read as '//host' by browsers)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def init_app(app: Flask) -> None:
    serve_static = app.view_functions["static"]

    @public  # the stylesheet and script hold no patient data
    def static(filename: str):
        return serve_static(filename=filename)

    app.view_functions["static"] = static

    @app.errorhandler(ArchiveError)
    def archive_error(err: ArchiveError):
        return render_archive_error(err)

    app.register_error_handler(OperationalError, render_database_unavailable)

    @app.errorhandler(CSRFError)
    def csrf_error(err: CSRFError):
        return render_error(
            400,
            "csrf_failed",
            "This form expired or did not come from ChartVault. Reload the page and try again.",
        )

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        messages = {
            404: "There is no such page or record.",
            405: "This address does not accept that kind of request.",
            413: "The file is larger than the archive accepts "
            f"({app.extensions['chartvault'].settings.max_upload_mb} MiB). Split the scan "
            "into smaller files and upload them separately.",
        }
        message = messages.get(err.code, err.description or "The request could not be handled.")
        return render_error(
            err.code or 500, (err.name or "error").lower().replace(" ", "_"), message
        )

    @app.errorhandler(Exception)
    def unexpected(err: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(
            500,
            "internal_error",
            "Something went wrong on the server; nothing was changed. Try again, and tell the "
            "archive administrator if it keeps happening.",
        )

    @app.before_request
    def enforce_idle_timeout():
        if is_api_request() or not current_user.is_authenticated:
            return None
        timeout = app.permanent_session_lifetime.total_seconds()
        now = time.time()
        last_seen = session.get("last_seen", now)
        if now - last_seen > timeout:
            end_browser_session("idle")
            flash("You were logged out after a period of inactivity. Log in again.", "info")
            if request.endpoint == "auth.login":
                return None  # already on its way to the login form
            return redirect(url_for("auth.login", next=request.full_path))
        session["last_seen"] = now
        session.permanent = True
        if current_user.user.must_change_password and request.endpoint not in (
            "auth.password",
            "auth.logout",
            "static",
        ):
            return redirect(url_for("auth.password"))
        return None

    @app.after_request
    def security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    zone = app.extensions["chartvault"].settings.zone

    @app.template_filter("local_time")
    def local_time(moment):
        """A stored (UTC) moment in the hospital's time zone (CHARTVAULT_TIMEZONE)."""
        return moment.astimezone(zone) if moment is not None else None

    @app.context_processor
    def idle_timeout_seconds():
        return {"idle_timeout_seconds": int(app.permanent_session_lifetime.total_seconds())}

    @app.context_processor
    def navigation_helpers():
        def permitted(permission: str) -> bool:
            principal = current_principal()
            return principal is not None and can(principal.role, permission)

        def navigation(section: str | None = None) -> list:
            """The links plugged-in packages offer to this user's role."""
            return [
                link
                for link in app.extensions["chartvault"].navigation
                if permitted(link.permission) and section in (None, link.section)
            ]

        return {"permitted": permitted, "navigation": navigation}

"""The application factory: the Flask app, its settings and extensions, the core's views, and
every package that plugs in through ``init_app(app)`` (the entry point chartvault.packages).
What views and packages reach at run time (``archive()``, ``csrf``, the ``Archive`` and its
hooks) is in archive.extensions, so nothing imports the factory back."""

from __future__ import annotations

import logging
from datetime import timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask

from archive.config import Settings
from archive.errors import ArchiveError
from archive.extensions import Archive, csrf
from archive.params import RecordId
from archive.serving import limit_request_bodies

if TYPE_CHECKING:

    pass

PACKAGES_ENTRY_POINT = "chartvault.packages"
# Tests (and only tests) chain their audit events with a fixed key, like SECRET_KEY's.
TESTING_AUDIT_KEY = "testing-only-audit-key-not-for-real-use"

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)
def create_app(
    settings: Settings | None = None, *, testing: bool = False, cli: bool = False
) -> Flask:
    settings = settings or Settings.from_env()
    if not (testing or cli) and not settings.secret_key:
        raise RuntimeError(
            "CHARTVAULT_SECRET_KEY (or CHARTVAULT_SECRET_KEY_FILE) is not set. Run "
            "`chartvault init`, which writes a key into the data directory, or set one."
        )
    if not (testing or cli) and not settings.audit_key:
        raise RuntimeError(
            "CHARTVAULT_AUDIT_KEY (or CHARTVAULT_AUDIT_KEY_FILE) is not set, so the audit "
            "trail could not be written. Run `chartvault init`, which writes a key into the "
            "data directory, or set one; when restoring, use the key of the installation "
            "being restored."
        )
    app = Flask(
        "chartvault",
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(
        TESTING=testing,
        SECRET_KEY=settings.secret_key or ("testing-only-key" if testing else None),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_NAME="chartvault_session",
        REMEMBER_COOKIE_DURATION=timedelta(0),
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.idle_timeout_minutes),
        SESSION_REFRESH_EACH_REQUEST=True,
        WTF_CSRF_TIME_LIMIT=None,  # the session's idle timeout already bounds a form's life
    )
    # Before any route is added: every <int:...> in a path is a bounded record id.
    app.url_map.converters["int"] = RecordId
    try:
        ext = Archive(settings, pooled=not cli,
                      audit_key=TESTING_AUDIT_KEY if testing and not settings.audit_key else None)
    except ArchiveError as err:  # an audit key too short to trust
        raise RuntimeError(err.message) from err
    app.extensions["chartvault"] = ext
    limit_request_bodies(app, settings)  # first of the before_request hooks
    csrf.init_app(app)

    from archive import auth, records, web

    web.init_app(app)
    _register_core_blueprints(app)
    auth.init_app(app)
    records.init_app(app)
    # ingest, search, retention and backup plug themselves in; archive never imports them.
    for package in sorted(entry_points(group=PACKAGES_ENTRY_POINT), key=lambda e: e.name):
        package.load()(app)
    return app


def _register_core_blueprints(app: Flask) -> None:
    """Every page and API of the core, registered here in one place (the packages register
    their own in their ``init_app``)."""
    from archive import audit_views, break_glass_views, openapi
    from archive.auth import admin_views
    from archive.auth import api as auth_api
    from archive.auth import views as auth_views
    from archive.records import api as records_api
    from archive.records import views as records_views

    for blueprint in (
        auth_views.bp,
        admin_views.bp,
        auth_api.bp,
        records_views.bp,
        break_glass_views.bp,
        records_api.bp,
        openapi.bp,
        audit_views.bp,
        audit_views.api_bp,
    ):
        app.register_blueprint(blueprint)
    # Bearer tokens, no cookies: nothing for a forged form to ride on.
    for api in (auth_api.bp, records_api.bp, audit_views.api_bp):
        csrf.exempt(api)

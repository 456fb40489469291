"""The application factory. Other packages plug in through ``init_app(app)``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app
from flask_wtf.csrf import CSRFProtect

from archive.audit import key_bytes
from archive.config import Settings
from archive.db import Database
from archive.errors import ArchiveError
from archive.interfaces import ObjectStore
from archive.params import RecordId
from archive.serving import limit_request_bodies
from archive.storage import open_replica_store, open_store

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.orm import Session

    from archive.audit import Actor
    from archive.models import Document, DocumentVersion
    from archive.records.service import Upload

PACKAGES_ENTRY_POINT = "chartvault.packages"
# Tests (and only tests) chain their audit events with a fixed key, like SECRET_KEY's.
TESTING_AUDIT_KEY = "testing-only-audit-key-not-for-real-use"

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)
csrf = CSRFProtect()


@dataclass(frozen=True)
class DocumentSection:
    """Something a package adds to a document's page and to its API representation:
    ``load(session, document)`` gives a JSON-able value under ``key``; ``template`` (if
    any) is included on the document page with that value as ``section``."""

    key: str
    load: Callable[[Session, Document], Any]
    template: str | None = None
    in_api: bool = True  # False: only for the page (e.g. a link), not GET /api/v1/documents


@dataclass(frozen=True)
class NavLink:
    """A link a package offers in the page header (and on the home page, under its
    ``section``) to those whose role holds ``permission``."""

    endpoint: str
    label: str
    permission: str
    description: str
    section: str


class Archive:
    """What every request, command and job needs: settings, database, object store, and
    the hooks through which other packages take part in filing a record."""

    def __init__(
        self, settings: Settings, *, pooled: bool = True, audit_key: str | None = None
    ):
        self.settings = settings
        audit_key = audit_key or settings.audit_key
        # Without a key (a command before `chartvault init` wrote one) nothing can be audited,
        # so nothing that must be audited can happen: audit.record refuses.
        self.db = Database(settings.database_url, pooled=pooled,
                           audit_key=key_bytes(audit_key) if audit_key else None)
        # Called with an Upload before anything is stored; may raise an ArchiveError.
        self.intake_checks: list[Callable[[Upload], None]] = []
        # Called with (session, version) in the transaction that files a new version.
        self.version_listeners: list[Callable[[Session, DocumentVersion], None]] = []
        # Called with (session, document) when a document's patient or metadata changed.
        self.document_listeners: list[Callable[[Session, Document], None]] = []
        # Called with (session, document, action, actor) before a document is changed
        # (action: "given a new version", "edited", ...); raises to forbid it (a legal hold).
        self.change_guards: list[Callable[[Session, Document, str, Actor], None]] = []
        self.document_sections: list[DocumentSection] = []
        # Called with (session, document id): whether a package hands this document to
        # clerks as work (ingest: an open QC flag), so they may read its pages
        # (archive.auth.work).
        self.work_queues: list[Callable[[Session, int], bool]] = []
        # Destruction of a document by disposition (retention). Each package that keeps
        # something of a document answers which stored objects are its own (key, version
        # id), and erases its rows in the transaction that removes the document's own.
        self.document_objects: list[Callable[[Session, Document], list[tuple[str, str]]]] = []
        self.document_erasers: list[Callable[[Session, Document], None]] = []
        # The stored objects (by key) a destruction is about to delete, called in the
        # transaction that starts it, and again in the one that erases the document's rows
        # once they are deleted (backup: no copy may be recorded meanwhile, then its copy
        # records go).
        self.objects_leaving: list[Callable[[Session, set[str]], None]] = []
        self.objects_gone: list[Callable[[Session, set[str]], None]] = []
        # Called with a legal hold (retention.models.LegalHold) once its placement or
        # release has committed (backup: the stores' legal-hold flags follow it).
        self.hold_listeners: list[Callable[[object], None]] = []
        # Replication (backup) copies every stored object: each package that stores
        # objects beside the originals gives a query of them, with the columns key,
        # version_id, sha256, size, stored_at and kind.
        self.object_sources: list[Callable[[], Select]] = []
        # A stored object was written again under a new version id (a repair from the
        # replica, a restore): each package that refers to stored objects follows it.
        # Called with (session, key, old version id, new version id).
        self.object_relocators: list[Callable[[Session, str, str, str], None]] = []
        # Long-running loops (the ingestion worker, the scheduler) that `chartvault serve`
        # runs beside the web app; each returns when the event is set.
        self.background_tasks: list[Callable[[threading.Event], None]] = []
        # The jobs the schedule (retention.schedule) runs, each package adding its own
        # (retention.schedule.ScheduledJob), listed on the schedule page in this order.
        self.scheduled_jobs: list = []
        self.navigation: list[NavLink] = []

    @cached_property
    def store(self) -> ObjectStore:
        # Opened on first use, so the app starts (and /health can say what is wrong)
        # even while the object store is down.
        return open_store(self.settings)

    @cached_property
    def replica(self) -> ObjectStore:
        """The second copy of every object (backup.replication keeps it)."""
        return open_replica_store(self.settings)


def archive() -> Archive:
    return current_app.extensions["chartvault"]


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
    from archive.cli import init_app as init_cli

    web.init_app(app)
    auth.init_app(app)
    records.init_app(app)
    init_cli(app)
    # ingest, search, retention and backup plug themselves in; archive never imports them.
    for package in sorted(entry_points(group=PACKAGES_ENTRY_POINT), key=lambda e: e.name):
        package.load()(app)
    return app

"""What views, commands and packages reach at run time: the ``Archive`` of the running app
(settings, database, object stores, and the hooks through which packages take part), the
accessor ``archive()``, and the CSRF extension. Kept apart from the factory (archive.app),
which imports the views: they import this instead, so no import runs in a circle."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from flask import current_app
from flask_wtf.csrf import CSRFProtect

from archive.audit import key_bytes
from archive.config import Settings
from archive.db import Database
from archive.interfaces import ObjectStore, Relocation
from archive.storage import open_replica_store, open_store

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.orm import Session

    from archive.audit import Actor
    from archive.interfaces import Upload
    from archive.models import Document, DocumentVersion

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
class PatientLink:
    """A link a package offers on a patient's page (``endpoint`` takes the ``mrn``) to
    those whose role holds ``permission``, e.g. release's accounting of disclosures."""

    endpoint: str
    label: str
    permission: str


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
        # The mapped classes whose rows are stored objects of a document version, each with
        # a ``version_id`` column (ingest: derivatives): a transaction that adds one gave
        # the document a new object (backup: a legal hold's flag must follow it).
        self.version_object_models: list[type] = []
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
        # Called with (session, [archive.interfaces.Relocation, ...]), in one transaction.
        self.object_relocators: list[Callable[[Session, Sequence[Relocation]], None]] = []
        # Long-running loops (the ingestion worker, the scheduler) that `chartvault serve`
        # runs beside the web app; each returns when the event is set.
        self.background_tasks: list[Callable[[threading.Event], None]] = []
        # The jobs the schedule (retention.schedule) runs, each package adding its own
        # (retention.schedule.ScheduledJob), listed on the schedule page in this order.
        self.scheduled_jobs: list = []
        self.navigation: list[NavLink] = []
        self.patient_links: list[PatientLink] = []

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

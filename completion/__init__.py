"""Encounters from the hospital and chart completion: admissions and discharges (HL7 v2 ADT
over MLLP, or a CSV for the first load), the providers who must complete charts, and the
deficiencies that say which charts are incomplete and how late they are."""

from __future__ import annotations

from functools import partial
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask
from sqlalchemy.orm import Session

from archive.config import SettingError, Settings
from archive.extensions import Archive
from archive.models import Document, DocumentVersion


def hospital_zone(settings: Settings) -> ZoneInfo:
    """The time zone of HL7 and CSV times written without an offset."""
    try:
        return ZoneInfo(settings.hl7_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingError(f"CHARTVAULT_HL7_TIMEZONE={settings.hl7_timezone!r}: give a time "
                           "zone name such as America/Chicago or UTC.") from None


def init_app(app: Flask) -> None:
    """Plug chart completion into the app (through the chartvault.packages entry point)."""
    import completion.models  # noqa: F401 - the tables, on the shared metadata
    from archive.extensions import PatientLink, csrf
    from completion import api, cli, views
    from completion.encounters import VIEW

    ext: Archive = app.extensions["chartvault"]
    zone = hospital_zone(ext.settings)  # a wrong zone stops the app at start
    _match_documents(ext, zone)
    ext.patient_links.append(PatientLink("completion.encounters_page", "Encounters", VIEW))
    if ext.settings.hl7_port is not None:
        ext.background_tasks.append(partial(_listen, ext, zone))
    cli.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # Bearer tokens, no cookies (as the core API)


def _match_documents(ext: Archive, zone: ZoneInfo) -> None:
    """A filed or corrected document is matched to its encounter by date of service, in
    the transaction that files or changes it; disposition takes its link with it."""
    from completion.linking import link_document, unlink_document

    def on_version(session: Session, version: DocumentVersion) -> None:
        if version.number == 1:
            link_document(session, session.get(Document, version.document_id), zone)

    ext.version_listeners.append(on_version)
    ext.document_listeners.append(lambda session, document: link_document(session, document,
                                                                          zone))
    ext.document_erasers.append(unlink_document)


def _listen(ext: Archive, zone: ZoneInfo, stop) -> None:
    from completion.hl7_listener import run_listener

    run_listener(ext, ext.settings.hl7_host, ext.settings.hl7_port, zone, stop)

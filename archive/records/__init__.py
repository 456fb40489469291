"""Records: patients, documents, versions and downloads, on the web and the REST API. Their
blueprints are registered by the application factory (archive.app) with the core's others."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from archive.extensions import NavLink
    from archive.records import scans

    # A destroyed document's bytes are no longer the patient's (or pass to another of the
    # patient's documents that has them): retention's destruction calls every eraser.
    app.extensions["chartvault"].document_erasers.append(scans.forget)
    app.extensions["chartvault"].navigation.append(
        NavLink("records.new_patient", "Register a patient", "patient.create",
                "Add a patient before filing their first scan.", "scanning")
    )

"""Records: patients, documents, versions and downloads, on the web and the REST API."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from archive import audit_views, break_glass_views, openapi
    from archive.extensions import NavLink
    from archive.records import api, scans, views

    # A destroyed document's bytes are no longer the patient's (or pass to another of the
    # patient's documents that has them): retention's destruction calls every eraser.
    app.extensions["chartvault"].document_erasers.append(scans.forget)
    app.register_blueprint(views.bp)
    app.extensions["chartvault"].navigation.append(
        NavLink("records.new_patient", "Register a patient", "patient.create",
                "Add a patient before filing their first scan.", "scanning")
    )
    app.register_blueprint(break_glass_views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(audit_views.bp)
    app.register_blueprint(audit_views.api_bp)
    from archive.extensions import csrf

    csrf.exempt(api.bp)  # Bearer tokens, no cookies: nothing for a forged form to ride on.
    csrf.exempt(audit_views.api_bp)

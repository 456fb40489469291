"""Retention: versioned retention policies and the disposition dates they give, and legal
holds that stop any change to the documents they cover."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug retention into the app (called through the chartvault.packages entry point)."""
    import retention.models  # noqa: F401 - the tables, on the shared metadata
    from archive.app import Archive, DocumentSection, NavLink, csrf
    from retention import api, views
    from retention.hold_sync import watch_commits
    from retention.holds import document_holds, refuse_if_held

    ext: Archive = app.extensions["chartvault"]
    ext.change_guards.append(refuse_if_held)
    watch_commits(ext)
    ext.document_sections.append(
        DocumentSection("holds", document_holds, "retention/_document_holds.html")
    )
    ext.navigation.append(
        NavLink("retention.holds", "Legal holds", "hold.manage",
                "Place and release legal holds, and see what each one covers.", "compliance")
    )
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # Bearer tokens, no cookies (as the core API)

"""Retention: versioned retention policies and the disposition dates they give, legal holds
that stop any change to the documents they cover, the disposition of records past their date
(sweep, review, destruction, certificate), and the schedule that runs its jobs and those
other packages add (backup's)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug retention into the app (called through the chartvault.packages entry point)."""
    import retention.models  # noqa: F401 - the tables, on the shared metadata
    from archive.extensions import Archive, DocumentSection, NavLink, csrf
    from retention import api, disposition_views, policy_views, schedule, schedule_views, views
    from retention.destruction import relocate_certificates, stored_certificates
    from retention.holds import document_holds, refuse_if_held

    ext: Archive = app.extensions["chartvault"]
    ext.change_guards.append(refuse_if_held)
    ext.object_sources.append(stored_certificates)
    ext.object_relocators.append(relocate_certificates)
    ext.scheduled_jobs.extend(schedule.RETENTION_JOBS)
    ext.document_sections.append(
        DocumentSection("holds", document_holds, "retention/_document_holds.html")
    )
    ext.navigation.append(
        NavLink("retention.holds", "Legal holds", "hold.manage",
                "Place and release legal holds, and see what each one covers.", "compliance")
    )
    ext.navigation.append(
        NavLink("policies.policies", "Retention policies", "retention.manage",
                "Which policy governs each document type, its versions, and what a change "
                "would make due.", "compliance")
    )
    ext.navigation.append(
        NavLink("disposition.batches", "Disposition", "retention.manage",
                "Review, approve and execute the batches of records past their retention "
                "date; download certificates.", "compliance")
    )
    ext.navigation.append(
        NavLink("schedule.schedule", "Retention schedule", "retention.manage",
                "When the retention jobs run next, and how their last runs went.", "compliance")
    )
    ext.background_tasks.append(lambda stop: schedule.run_schedule(ext, stop))
    app.register_blueprint(views.bp)
    app.register_blueprint(schedule_views.bp)
    app.register_blueprint(policy_views.bp)
    app.register_blueprint(disposition_views.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # Bearer tokens, no cookies (as the core API)

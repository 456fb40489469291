"""Release of information: requests for records (and for an accounting of disclosures or an
amendment), each with its legal clock and status workflow. Packets, fees and the accounting
of disclosures build on these requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from archive.extensions import Archive


def init_app(app: Flask) -> None:
    """Plug release of information into the app (through the chartvault.packages entry point)."""
    import release.authorization_models  # noqa: F401 - signed authorizations' table
    import release.models  # noqa: F401 - the tables, on the shared metadata
    import release.packet_models  # noqa: F401 - packets' table
    from archive.extensions import NavLink, csrf
    from release import api, views
    from release.clock_settings import configured_clocks
    from release.requests import VIEW

    # A hospital under stricter state law sets its clocks in its CHARTVAULT_CLOCK_* settings;
    # a value the rules do not allow stops the app here, at start.
    settings = app.extensions["chartvault"].settings
    app.config.setdefault("RELEASE_CLOCKS", configured_clocks(settings))
    app.extensions["chartvault"].navigation.append(
        NavLink("release.queue_page", "Requests for records", VIEW,
                "The release-of-information queue: what is overdue and what is due this "
                "week, and each request's clock and history.", "records"))
    app.register_blueprint(views.bp)
    _register_packets(app.extensions["chartvault"])
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # Bearer tokens, no cookies (as the core API)
    _register_authorizations_and_access_report(app)


def _register_packets(ext: Archive) -> None:
    """Packets are stored objects: backup replicates and scrubs them, and follows them when a
    repair or a restore stores them again."""
    from release.packets import relocate_packets, stored_packets

    ext.object_sources.append(stored_packets)
    ext.object_relocators.append(relocate_packets)


def _register_authorizations_and_access_report(app: Flask) -> None:
    """Signed authorizations on the request page and the API, and the patients' access
    reports of emergency accesses."""
    from archive.extensions import csrf
    from release import access_report_views, authorization_api, authorization_views

    for blueprint in (authorization_views.bp, access_report_views.bp):
        app.register_blueprint(blueprint)
    for api in (authorization_api.bp, access_report_views.api_bp):
        app.register_blueprint(api)
        csrf.exempt(api)  # Bearer tokens, no cookies (as the core API)

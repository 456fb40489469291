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
    import release.models  # noqa: F401 - the tables, on the shared metadata
    import release.packet_models  # noqa: F401 - packets' table
    from archive.extensions import NavLink, PatientLink, csrf
    from release import accounting_views, api, builder_views, views
    from release.clocks import DEFAULT_CLOCKS
    from release.requests import VIEW

    # A hospital under stricter state law sets its own clocks here before the first request.
    app.config.setdefault("RELEASE_CLOCKS", dict(DEFAULT_CLOCKS))
    app.extensions["chartvault"].navigation.append(
        NavLink("release.queue_page", "Requests for records", VIEW,
                "The release-of-information queue: what is overdue and what is due this "
                "week, and each request's clock and history.", "records"))
    app.extensions["chartvault"].patient_links.append(
        PatientLink("release_accounting.accounting_page", "Accounting of disclosures", VIEW))
    app.register_blueprint(views.bp)
    app.register_blueprint(builder_views.bp)
    app.register_blueprint(accounting_views.bp)
    _register_packets(app.extensions["chartvault"])
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # Bearer tokens, no cookies (as the core API)


def _register_packets(ext: Archive) -> None:
    """Packets are stored objects: backup replicates and scrubs them, and follows them when a
    repair or a restore stores them again."""
    from release.packets import relocate_packets, stored_packets

    ext.object_sources.append(stored_packets)
    ext.object_relocators.append(relocate_packets)

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
    from release import accounting_views, amendment_views, api, builder_views, views
    from release.access_report import REVIEW
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
    app.extensions["chartvault"].patient_links.extend([
        PatientLink("release_accounting.accounting_page", "Accounting of disclosures", VIEW),
        # Compliance reviews emergency accesses; staff do not read each other's reasons.
        PatientLink("access_report.page", "Emergency access report", REVIEW)])
    app.register_blueprint(views.bp)
    app.register_blueprint(builder_views.bp)
    app.register_blueprint(accounting_views.bp)
    _register_packets(app.extensions["chartvault"])
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # Bearer tokens, no cookies (as the core API)
    amendment_views.init_app(app)  # 45 CFR 164.526: accept, deny, disagree, rebut
    _register_delivery(app)
    _register_fees(app)
    _register_authorizations_and_access_report(app)


def _register_fees(app: Flask) -> None:
    """Fee schedules, invoices and payments (release.fees, release.invoices)."""
    import release.fee_models  # noqa: F401 - invoices' and payments' tables
    from archive.extensions import csrf
    from release import invoice_api, invoice_views
    from release.fees import DEFAULT_ACCESS_FEE_CAP, DEFAULT_FEE_SCHEDULE, money

    # A hospital sets its own fee schedules (release.fees.FeeSchedule per requester kind, in
    # cents) and the right-of-access cap here.
    app.config.setdefault("RELEASE_FEES", dict(DEFAULT_FEE_SCHEDULE))
    app.config.setdefault("RELEASE_ACCESS_FEE_CAP", DEFAULT_ACCESS_FEE_CAP)
    app.jinja_env.filters["money"] = money
    app.register_blueprint(invoice_views.bp)
    app.register_blueprint(invoice_api.bp)
    csrf.exempt(invoice_api.bp)  # Bearer tokens, no cookies


def _register_packets(ext: Archive) -> None:
    """Packets are stored objects: backup replicates and scrubs them, and follows them when a
    repair or a restore stores them again."""
    from release.packets import relocate_packets, stored_packets

    ext.object_sources.append(stored_packets)
    ext.object_relocators.append(relocate_packets)


def _register_delivery(app: Flask) -> None:
    """Time-limited links, reassignment and the denial letter (release.delivery_api,
    release.delivery_views, release.link_pages)."""
    import release.link_models  # noqa: F401 - time-limited links' table
    from archive.extensions import csrf
    from release import delivery_api, delivery_views, link_pages

    # The longest a link may live, the rate at which one address may open links, and whom a
    # requester contacts (named on the denial letter and on an expired link's page).
    app.config.setdefault("RELEASE_LINK_MAX_DAYS", 30)
    app.config.setdefault("RELEASE_LINK_RATE", "30 per minute")
    app.config.setdefault("RELEASE_CONTACT",
                          "the Privacy Officer, Health Information Management Department")
    app.register_blueprint(delivery_api.bp)
    csrf.exempt(delivery_api.bp)  # Bearer tokens, no cookies
    app.register_blueprint(delivery_views.bp)
    app.register_blueprint(link_pages.bp)
    _throttle_link_pages(app)


def _throttle_link_pages(app: Flask) -> None:
    """The link pages are public and their token is the credential: throttle them per
    client address with the app's Flask-Limiter (archive.auth.throttle), so that nobody
    can try tokens at speed."""
    limiters = app.extensions.get("limiter")
    if not limiters:
        return
    limiter = next(iter(limiters))
    # One allowance for both pages: guessing tokens on either uses it up.
    throttle = limiter.shared_limit(
        lambda: app.config["RELEASE_LINK_RATE"], scope="release-link",
        error_message="Too many requests for record links from this computer. Wait a minute "
                      "and try again.")
    for endpoint in ("release_links.landing", "release_links.packet"):
        app.view_functions[endpoint] = throttle(app.view_functions[endpoint])


def _register_authorizations_and_access_report(app: Flask) -> None:
    """Signed authorizations on the request page and the API, and the patients' access
    reports of emergency accesses."""
    import release.authorization_models  # noqa: F401 - signed authorizations' table
    from archive.extensions import csrf
    from release import access_report_views, authorization_api, authorization_views

    for blueprint in (authorization_views.bp, access_report_views.bp):
        app.register_blueprint(blueprint)
    for api in (authorization_api.bp, access_report_views.api_bp):
        app.register_blueprint(api)
        csrf.exempt(api)  # Bearer tokens, no cookies (as the core API)

"""The department's numbers: each role's home page of what to act on today, the managers'
dashboard with its plots, staff statistics, and the same figures through /api/v1/stats."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug the statistics into the app (through the chartvault.packages entry point)."""
    from archive.extensions import NavLink, csrf
    from stats import api, views

    app.extensions["chartvault"].navigation.append(
        NavLink("stats.dashboard", "Dashboard", api.VIEW,
                "The department's numbers over a chosen period: filing, OCR backlog and "
                "time to ready, QC flags, requests for records, storage.", "compliance"))
    app.jinja_env.filters["duration"] = views.duration
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # Bearer tokens, no cookies (as the core API)

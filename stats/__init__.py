"""The department's numbers: each role's home page of what to act on today, the managers'
dashboard with its plots, staff statistics, and the same figures through /api/v1/stats."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug the statistics into the app (through the chartvault.packages entry point)."""

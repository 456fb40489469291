"""Encounters from the hospital and chart completion: admissions and discharges (HL7 v2 ADT
over MLLP, or a CSV for the first load), the providers who must complete charts, and the
deficiencies that say which charts are incomplete and how late they are."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug chart completion into the app (through the chartvault.packages entry point)."""

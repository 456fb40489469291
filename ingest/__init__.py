"""Ingestion: getting paper in. Upload, API, hot folder and CLI intake, validation, the OCR
pipeline, searchable PDFs, metadata extraction, the QC queue, and the job queue and worker."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Plug ingestion into the app (called through the chartvault.packages entry point)."""

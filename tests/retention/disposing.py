"""Helpers shared by the disposition tests: the shipped floors, and filing dates moved back
past the age floor."""

from __future__ import annotations

from datetime import timedelta

from archive.models import Document
from retention.floors import Floors

FLOORS = Floors()  # the shipped defaults: 1 year, 90 days


def file_earlier(ext, *document_ids: int, days: int = 400) -> None:
    """Move the documents' filing back ``days`` days: a chart filed by a test today is
    younger than the age floor, and never due."""
    with ext.db.transaction() as session:
        for document_id in document_ids:
            document = session.get(Document, document_id)
            document.created_at -= timedelta(days=days)

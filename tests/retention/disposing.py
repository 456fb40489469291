"""Helpers shared by the disposition tests: the shipped floors, filing dates moved back past
the age floor, and a batch's two approvals."""

from __future__ import annotations

from datetime import timedelta

from archive.auth.permissions import Principal
from archive.models import Document
from retention.disposition_review import approve_batch, batch_page
from retention.floors import Floors

FLOORS = Floors()  # the shipped defaults: 1 year, 90 days


def file_earlier(ext, *document_ids: int, days: int = 400) -> None:
    """Move the documents' filing back ``days`` days: a chart filed by a test today is
    younger than the age floor, and never due."""
    with ext.db.transaction() as session:
        for document_id in document_ids:
            document = session.get(Document, document_id)
            document.created_at -= timedelta(days=days)


def approve(ext, officer: Principal, batch_id: int):
    """One approval, against the pending count the officer is shown."""
    with ext.db.transaction() as session:
        seen = batch_page(session, officer, batch_id).pending
    return approve_batch(ext, officer, batch_id, pending_seen=seen)


def approve_twice(ext, first: Principal, second: Principal, batch_id: int):
    approve(ext, first, batch_id)
    return approve(ext, second, batch_id)

"""Helpers shared by the legal-hold tests (tests/retention/test_holds*.py)."""

from __future__ import annotations

import io
from datetime import date

from sqlalchemy import select

from archive.auth.permissions import Principal
from archive.interfaces import Upload
from archive.models import AuditEvent, DocumentVersion
from archive.records.filing import add_document
from retention.holds import place_hold
from retention.models import LegalHold
from tests.samples import pdf_bytes

CONTACT = "Jane Roe, Legal, x4411"


def place(ext, principal: Principal, name: str = "Smith v. Mercy", **scope) -> LegalHold:
    """A hold on ``scope`` (mrns=[...], types=[...], ...; "from"/"to" via ``**{"from": ...}``)."""
    return place_hold(
        ext,
        principal,
        name=name,
        reason="Litigation expected; counsel's letter of 3 March",
        issuer="Hale & Partners LLP",
        contact=CONTACT,
        scope=scope,
    )


def file_document(
    ext,
    principal: Principal,
    mrn: str,
    words: str,
    *,
    doc_type: str = "discharge_summary",
    date_of_service: date | None = None,
) -> DocumentVersion:
    """File a one-page scan whose text is ``words`` (distinct words, distinct files)."""
    upload = Upload(io.BytesIO(pdf_bytes([words])), f"{words}.pdf")
    return add_document(
        ext, principal, mrn=mrn, doc_type=doc_type, upload=upload, date_of_service=date_of_service
    ).version


def events(ext, action: str) -> list[AuditEvent]:
    with ext.db.transaction() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            )
        )

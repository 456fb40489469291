"""Fixtures of the release-of-information tests: logging a request through the API as staff
(the role that works requests), and reading the audit events of a request."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from archive.models import AuditEvent
from tests.samples import pdf_bytes

RECEIVED = "2026-05-01"  # a Friday


def request_body(mrn: str, /, **changes) -> dict:
    body = {"mrn": mrn, "requester": {"kind": "patient", "name": "DOE, JANE",
                                      "address": "1 Main St, Springfield"},
            "legal_basis": "right_of_access", "received": RECEIVED,
            "purpose": "personal records"}
    return {**body, **changes}


@pytest.fixture
def log_request(client, people, patient):
    """POST /api/v1/requests as staff; returns the response (201 expected unless changed)."""

    def log(**changes):
        return client.post("/api/v1/requests", json=request_body(patient, **changes),
                           headers=people.headers("staff"))

    return log


@pytest.fixture
def move(client, people):
    def move_to(request_id: int, status: str, reason: str = ""):
        return client.post(f"/api/v1/requests/{request_id}/status",
                           json={"status": status, "reason": reason},
                           headers=people.headers("staff"))

    return move_to


@pytest.fixture
def authorize(client, people):
    """Attach a signed authorization valid for 90 days to a request (the patient's consent
    that a request under legal_basis "authorization" needs before its packet or release)."""

    def attach(request_id: int):
        attached = client.post(
            f"/api/v1/requests/{request_id}/authorization",
            data={"expires": (date.today() + timedelta(days=90)).isoformat(),
                  "file": (io.BytesIO(pdf_bytes(["AUTHORIZATION"])), "signed.pdf")},
            content_type="multipart/form-data", headers=people.headers("staff"))
        assert attached.status_code == 201, attached.json

    return attach


@pytest.fixture
def fulfil(client, people):
    def record_release(request_id: int, **changes):
        body = {"description": "discharge summary, 2 pages", **changes}
        return client.post(f"/api/v1/requests/{request_id}/fulfil", json=body,
                           headers=people.headers("staff"))

    return record_release


def audit_events(ext, action: str, request_id: int) -> list[AuditEvent]:
    with ext.db.transaction() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                               .order_by(AuditEvent.seq)).all()
        return [row for row in rows if (row.details or {}).get("request") == request_id]

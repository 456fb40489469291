"""The retention policies and disposition batches of the REST API (Bearer tokens), on both
databases: the same services as the compliance pages, JSON errors with fitting statuses, the
floors and the two approvals."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from archive.audit import Actor
from archive.auth.tokens import create_token
from archive.models import AuditEvent, Document
from archive.records.patients import find_patient, register_patient
from tests.conftest import SYSTEM

TEN_YEARS = {"after_last_encounter_years": 10}


@pytest.fixture
def second_headers(ext, second_officer) -> dict[str, str]:
    with ext.db.transaction() as session:
        token = create_token(session, Actor("tests"), second_officer.username, "tests")
    return {"Authorization": f"Bearer {token}"}


def refusals(ext, action: str) -> list[AuditEvent]:
    with ext.db.transaction() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


@pytest.fixture
def old_documents(ext):
    """Two documents of a patient last seen in 2001: due under a ten-year policy."""
    with ext.db.transaction() as session:
        register_patient(session, SYSTEM, mrn="API-1", name="OLD, ANN", dob=date(1940, 1, 1))
        patient = find_patient(session, "API-1")
        ids = []
        for served in (date(2000, 1, 1), date(2001, 6, 1)):
            document = Document(uid=uuid.uuid4().hex, patient_id=patient.id,
                                doc_type="discharge_summary", date_of_service=served,
                                created_at=datetime(2001, 7, 1, tzinfo=UTC), status="ready")
            session.add(document)
            session.flush()
            ids.append(document.id)
    return ids


def test_policies_are_saved_previewed_and_listed(client, ext, people):
    officer = people.headers("compliance")
    bad = client.post("/api/v1/retention/policies", headers=officer, json={
        "doc_type": "*", "name": "x", "rules": {"after_last_encouter_years": 10},
        "source": "HIM", "reason": "typo"})
    assert bad.status_code == 400 and "after_last_encouter_years" in bad.json["error"]["message"]

    saved = client.post("/api/v1/retention/policies", headers=officer, json={
        "doc_type": "*", "name": "Ten years", "rules": TEN_YEARS, "source": "HIM-12",
        "reason": "first schedule"})
    preset = client.post("/api/v1/retention/policies", headers=officer, json={
        "doc_type": "*", "preset": "ahima", "reason": "follow AHIMA"})
    listed = client.get("/api/v1/retention/policies", headers=officer)

    below = client.post("/api/v1/retention/policies", headers=officer, json={
        "doc_type": "*", "name": "None", "rules": {"after_last_encounter_years": 0},
        "source": "HIM", "reason": "shred at once"})
    previewed = client.post("/api/v1/retention/policies/preview", headers=officer, json={
        "doc_type": "*", "rules": {"after_last_encounter_years": 0}})
    for refused in (below, previewed):
        assert refused.status_code == 422
        assert refused.json["error"]["code"] == "retention_below_floor"
        assert "shorter than 1 year" in refused.json["error"]["message"]
        assert "CHARTVAULT_RETENTION_MIN_YEARS" in refused.json["error"]["message"]
    (audited,) = refusals(ext, "retention.policy_refused")
    assert audited.outcome == "refused" and audited.reason == below.json["error"]["message"]

    assert (saved.status_code, saved.json["version"]) == (201, 1)
    assert (preset.status_code, preset.json["version"]) == (201, 2)
    assert [p["version"] for p in listed.json["policies"]] == [2]


def test_a_batch_is_reviewed_excluded_approved_twice_executed_and_certified(
    client, ext, people, second_headers, old_documents
):
    officer = people.headers("compliance")
    client.post("/api/v1/retention/policies", headers=officer, json={
        "doc_type": "*", "name": "Ten years", "rules": TEN_YEARS, "source": "HIM-12",
        "reason": "first schedule"})
    preview = client.post("/api/v1/retention/policies/preview", headers=officer,
                          json={"doc_type": "*", "rules": {"after_last_encounter_years": 50}})
    assert preview.status_code == 200 and preview.json["due_now"] == 2
    assert preview.json["due_after"] == 0
    from retention.disposition import nightly_sweep

    nightly_sweep(ext)
    (batch,) = client.get("/api/v1/disposition/batches", headers=officer).json["batches"]
    page = client.get(f"/api/v1/disposition/batches/{batch['id']}", headers=officer).json
    assert {item["document_id"] for item in page["items"]} == set(old_documents)
    assert all(item["why"] for item in page["items"])
    first = page["items"][0]["item"]
    base = f"/api/v1/disposition/batches/{batch['id']}"

    assert client.post(f"{base}/items/{first}/exclude", headers=officer,
                       json={"reason": ""}).status_code == 400
    assert client.post(f"/api/v1/disposition/batches/{batch['id'] + 1}/items/{first}/exclude",
                       headers=officer, json={"reason": "wrong batch"}).status_code == 404
    excluded = client.post(f"{base}/items/{first}/exclude", headers=officer,
                           json={"reason": "research hold requested"})
    stale = client.post(f"{base}/approve", headers=officer, json={"pending_seen": 2})
    first = client.post(f"{base}/approve", headers=officer, json={"pending_seen": 1})
    twice = client.post(f"{base}/approve", headers=officer, json={"pending_seen": 1})
    half = client.post(f"{base}/execute", headers=officer)
    second = client.post(f"{base}/approve", headers=second_headers, json={"pending_seen": 1})
    executed = client.post(f"{base}/execute", headers=officer)
    certificate = client.get(f"{base}/certificate", headers=officer)

    assert excluded.json["status"] == "excluded"
    assert stale.status_code == 409
    assert (first.json["status"], first.json["approvals_needed"]) == ("approved_once", 1)
    assert [a["by"] for a in first.json["approvals"]] == ["compliance1"]
    assert twice.status_code == 409
    assert twice.json["error"]["code"] == "second_approval_needed"
    assert "another compliance officer" in twice.json["error"]["message"]
    assert half.status_code == 409 and half.json["error"]["code"] == "batch_not_fully_approved"
    assert (second.json["status"], second.json["approvals_needed"]) == ("approved", 0)
    assert [a["by"] for a in second.json["approvals"]] == ["compliance1", "compliance2"]
    assert len(refusals(ext, "disposition.approval_refused")) == 2  # stale, then twice
    assert len(refusals(ext, "disposition.execution_refused")) == 1
    assert executed.json == {"batch": batch["id"], "destroyed": 1, "skipped": 0,
                             "executed": True}
    assert certificate.data.startswith(b"%PDF")
    done = client.get(base, headers=officer).json
    assert hashlib.sha256(certificate.data).hexdigest() == done["certificate_sha256"]


@pytest.mark.parametrize("role", ["clerk", "staff", "admin"])
def test_only_compliance_may_use_the_retention_api(client, people, role):
    headers = people.headers(role)
    assert client.get("/api/v1/retention/policies", headers=headers).status_code == 403
    assert client.get("/api/v1/disposition/batches", headers=headers).status_code == 403
    assert client.post("/api/v1/disposition/batches/1/approve", headers=headers,
                       json={"pending_seen": 1}).status_code == 403

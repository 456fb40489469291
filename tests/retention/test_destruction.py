"""Destruction of an approved batch, through the real service on both databases (and, for the
end-to-end test, both object stores: the filesystem store and S3 through moto over HTTP):
bytes, page text and index entries go; tombstone, certificate and audit chain stay. Only a
batch two different compliance officers approved is executed. A hold, a policy change or a
raised age floor after approval still stops it, and a crash half-way is finished by a retry."""

from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import replace
from datetime import date

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from archive import audit
from archive.config import Settings
from archive.errors import StorageUnavailable
from archive.interfaces import Upload
from archive.models import Document, DocumentVersion, Page
from archive.records.filing import add_version
from archive.records.patients import register_patient
from backup.restore import reapply_destructions
from ingest.models import Derivative, IndexOutbox
from retention.clocks import Rules
from retention.destruction import (
    EXECUTOR,
    NotFullyApproved,
    destroy_item,
    execute_batch,
    execute_now,
    open_certificate,
    run_approved,
)
from retention.disposition import sweep
from retention.holds import release_hold
from retention.models import DispositionBatch, DispositionItem, Tombstone
from retention.policies import save_policy
from tests.conftest import SYSTEM
from tests.retention.disposing import FLOORS, approve, approve_twice, file_earlier
from tests.retention.holding import events, place
from tests.search.charts import text_pdf
from tests.search.library import file_chart, found, process_and_index
from tests.storefixtures import (  # noqa: F401  (moto_endpoint: fixture)
    ACCESS_KEY,
    BACKENDS,
    REGION,
    SECRET_KEY,
    moto_endpoint,
)

OLD_CHART = ["DISCHARGE SUMMARY", "Treated for xanthogranulomatous pyelonephritis in 2005."]
OTHER_CHART = ["CLINIC NOTE", "Seen for xanthogranulomatous follow up."]


@pytest.fixture
def officer(people):
    return people.principal("compliance")


@pytest.fixture
def charts(app, ext, people, officer):
    """An old patient's chart (two versions) due for disposition, and a recent patient's
    chart that is not; a ten-year default policy. Returns (old document id, recent id)."""
    with ext.db.transaction() as session:
        register_patient(session, SYSTEM, mrn="OLD-1", name="GONE, ADA", dob=date(1940, 3, 1))
        register_patient(session, SYSTEM, mrn="NEW-1", name="HERE, BO", dob=date(1980, 3, 1))
        save_policy(session, officer, "*", name="Adults ten years",
                    rules=Rules(after_last_encounter_years=10), source="AHIMA", reason="set up",
                    floors=FLOORS)
    clerk = people.principal("clerk")
    old = file_chart(app, clerk, "OLD-1", OLD_CHART, date_of_service=date(2005, 4, 5))
    add_version(ext, clerk, document_id=old, reason="rescan, page was crooked",
                upload=Upload(io.BytesIO(text_pdf(OLD_CHART + ["Rescanned."])), "rescan.pdf"))
    process_and_index(app)
    recent = file_chart(app, clerk, "NEW-1", OTHER_CHART, date_of_service=date(2024, 1, 2))
    file_earlier(ext, old, recent)  # scanned in 2005 and 2024, not today
    return old, recent


def swept_batch(ext) -> int:
    with ext.db.transaction() as session:
        return sweep(session, today=date.today(), floors=FLOORS).batch_id


def approved_batch(ext, officer, second_officer) -> int:
    batch_id = swept_batch(ext)
    approve_twice(ext, officer, second_officer, batch_id)
    return batch_id


def stored_keys(ext, document_id) -> set[str]:
    with ext.db.transaction() as session:
        versions = select(DocumentVersion.id).where(DocumentVersion.document_id == document_id)
        keys = set(session.scalars(
            select(DocumentVersion.object_key).where(DocumentVersion.document_id == document_id)))
        keys |= set(session.scalars(
            select(Derivative.object_key).where(Derivative.version_id.in_(versions))))
    return keys


def rows_left(ext, document_id) -> dict[str, int]:
    with ext.db.transaction() as session:
        versions = select(DocumentVersion.id).where(DocumentVersion.document_id == document_id)
        return {
            "documents": session.scalar(select(func.count()).where(Document.id == document_id)),
            "versions": session.scalar(
                select(func.count()).where(DocumentVersion.document_id == document_id)),
            "pages": session.scalar(select(func.count()).where(Page.version_id.in_(versions))),
        }


def item_of(ext, document_id) -> DispositionItem:
    with ext.db.transaction() as session:
        return session.scalars(select(DispositionItem)
                               .where(DispositionItem.document_id == document_id)).one()


def chain_verifies(ext) -> bool:
    with ext.db.transaction() as session:
        return audit.verify_chain(session).ok


# --- the whole path, on both stores -------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def settings(request, database_url, tmp_path) -> Settings:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    if request.param == "filesystem":
        return settings
    return replace(settings, storage="s3", s3_endpoint=request.getfixturevalue("moto_endpoint"),
                   s3_access_key=ACCESS_KEY, s3_secret_key=SECRET_KEY,
                   s3_bucket=f"cv-{uuid.uuid4().hex}", s3_region=REGION)


def test_destruction_removes_bytes_text_and_index_entries_and_keeps_the_record_of_it(
    app, ext, people, officer, second_officer, charts
):
    old, recent = charts
    keys = stored_keys(ext, old)
    assert len(keys) >= 4  # the original (two versions) and its derivatives
    assert found(app, people, "pyelonephritis") == [old]

    batch_id = approved_batch(ext, officer, second_officer)
    outcome = execute_now(ext, officer, batch_id)
    process_and_index(app)  # the index consumes the outbox row the destruction left

    assert (outcome.destroyed, outcome.skipped, outcome.executed) == (1, 0, True)
    assert all(ext.store.list_versions(key) == [] for key in keys)
    assert rows_left(ext, old) == {"documents": 0, "versions": 0, "pages": 0}
    assert found(app, people, "pyelonephritis") == []
    assert found(app, people, "xanthogranulomatous") == [recent]
    with ext.db.transaction() as session:
        tomb = session.get(Tombstone, old)
        assert (tomb.state, tomb.patient_mrn, tomb.doc_type) == ("destroyed", "OLD-1",
                                                                "discharge_summary")
        assert [v["number"] for v in tomb.versions] == [1, 2]
        assert tomb.approved_by == officer.username and tomb.executed_by == officer.username
        assert tomb.second_approved_by == second_officer.username
        assert session.scalar(select(func.count()).select_from(IndexOutbox)) == 0
    chunks, filename = open_certificate(ext, officer, batch_id)
    pdf = b"".join(chunks)
    with ext.db.transaction() as session:
        batch = session.get(DispositionBatch, batch_id)
        assert batch.status == "executed"
        assert hashlib.sha256(pdf).hexdigest() == batch.certificate_sha256
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "OLD-1" in text and "normal course of business" in text
    assert "Approved by compliance1" in text and "Second approval by compliance2" in text
    assert filename.endswith(".pdf")
    assert [e.document_id for e in events(ext, "document.destroyed")] == [old]
    assert events(ext, "disposition.certificate_downloaded")
    assert chain_verifies(ext)


# --- what execution re-checks ---------------------------------------------------------------------


def test_a_hold_placed_after_approval_still_stops_destruction(ext, officer, second_officer,
                                                             charts):
    old, _recent = charts
    keys = stored_keys(ext, old)
    batch_id = approved_batch(ext, officer, second_officer)
    place(ext, officer, name="Roe v. Mercy", mrns=["OLD-1"])

    outcome = execute_now(ext, officer, batch_id)

    assert (outcome.destroyed, outcome.skipped) == (0, 1)
    item = item_of(ext, old)
    assert item.status == "skipped" and "Roe v. Mercy" in item.note
    assert rows_left(ext, old)["pages"] > 0
    assert all(ext.store.list_versions(key) for key in keys)
    assert [e.document_id for e in events(ext, "hold.refused")] == [old]
    with ext.db.transaction() as session:
        assert session.get(Tombstone, old) is None


def test_a_policy_lengthened_after_approval_keeps_the_document(ext, officer, second_officer,
                                                              charts):
    old, _recent = charts
    batch_id = approved_batch(ext, officer, second_officer)
    with ext.db.transaction() as session:
        save_policy(session, officer, "*", name="Adults thirty years",
                    rules=Rules(after_last_encounter_years=30), source="state law change",
                    reason="the law changed", floors=FLOORS)

    outcome = execute_now(ext, officer, batch_id)

    assert outcome.destroyed == 0
    assert "No longer due" in item_of(ext, old).note
    assert rows_left(ext, old)["documents"] == 1


def test_a_document_younger_than_a_raised_age_floor_is_kept_at_execution(
    ext, officer, second_officer, charts, monkeypatch
):
    old, _recent = charts
    batch_id = approved_batch(ext, officer, second_officer)
    # Filed 400 days ago; the floor raised after approval to 1,000 days.
    monkeypatch.setattr(ext.settings, "disposition_min_age_days", 1000)

    outcome = execute_now(ext, officer, batch_id)

    assert (outcome.destroyed, outcome.skipped) == (0, 1)
    note = item_of(ext, old).note
    assert "less than 1000 days ago" in note and "CHARTVAULT_DISPOSITION_MIN_AGE_DAYS" in note
    assert rows_left(ext, old)["documents"] == 1
    (skipped,) = events(ext, "disposition.item_skipped")
    assert skipped.outcome == "refused" and skipped.reason == note


# --- two approvals ------------------------------------------------------------------------------


def test_a_batch_with_one_approval_is_refused_and_the_schedule_leaves_it(ext, officer, charts):
    old, _recent = charts
    keys = stored_keys(ext, old)
    batch_id = swept_batch(ext)
    approve(ext, officer, batch_id)

    with pytest.raises(NotFullyApproved) as refused:
        execute_now(ext, officer, batch_id)
    scheduled = run_approved(ext)

    assert refused.value.http_status == 409
    assert "needs a second approval, by a compliance officer other than compliance1" in (
        refused.value.message)
    assert scheduled == "no approved batch waiting"
    assert rows_left(ext, old)["documents"] == 1
    assert all(ext.store.list_versions(key) for key in keys)
    assert item_of(ext, old).status == "pending"
    (event,) = events(ext, "disposition.execution_refused")
    assert (event.actor, event.outcome) == ("compliance1", "refused")
    assert event.details == {"batch": batch_id, "code": "batch_not_fully_approved"}


def test_a_batch_marked_approved_without_a_second_officer_is_never_executed(ext, officer,
                                                                            charts):
    old, _recent = charts
    batch_id = swept_batch(ext)
    approve(ext, officer, batch_id)
    with ext.db.transaction() as session:  # as an upgrade could leave it, or a hand-edit
        session.get(DispositionBatch, batch_id).status = "approved"

    assert run_approved(ext) == "no approved batch waiting"
    with pytest.raises(NotFullyApproved, match="needs a second approval"):
        execute_batch(ext, batch_id, EXECUTOR)
    assert rows_left(ext, old)["documents"] == 1


class StoreFailingAfterFirstDelete:
    """Fault injection: the real store, except that it goes away after deleting one object
    version (the moment a crash or an outage would hit half-way through a document)."""

    def __init__(self, store):
        self._store, self.deleted = store, 0

    def __getattr__(self, name):
        return getattr(self._store, name)

    def delete_version(self, key, version_id):
        if self.deleted:
            raise StorageUnavailable("injected: the store went away")
        self._store.delete_version(key, version_id)
        self.deleted += 1


def test_a_crash_half_way_through_a_document_is_finished_by_the_retry_injected_store_failure(
    ext, officer, second_officer, charts
):
    old, _recent = charts
    keys = stored_keys(ext, old)
    batch_id = approved_batch(ext, officer, second_officer)
    item_id = item_of(ext, old).id
    real_store = ext.store
    ext.__dict__["store"] = StoreFailingAfterFirstDelete(real_store)
    with pytest.raises(StorageUnavailable):
        destroy_item(ext, item_id, EXECUTOR)
    ext.__dict__["store"] = real_store

    # Half-way: the tombstone says so, the rows are all still there, the item still pending.
    with ext.db.transaction() as session:
        assert session.get(Tombstone, old).state == "started"
    assert item_of(ext, old).status == "pending"
    assert rows_left(ext, old)["versions"] == 2

    outcome = execute_now(ext, officer, batch_id)
    assert (outcome.destroyed, outcome.executed) == (1, True)
    assert all(ext.store.list_versions(key) == [] for key in keys)
    assert rows_left(ext, old) == {"documents": 0, "versions": 0, "pages": 0}
    assert len(events(ext, "document.destroyed")) == 1
    assert chain_verifies(ext)


def versions_left(store, keys) -> dict[str, int]:
    return {key: len(store.list_versions(key)) for key in sorted(keys)}


def test_a_hold_placed_after_a_crash_halts_the_retry_until_released_injected_store_failure(
    ext, officer, second_officer, charts
):
    old, _recent = charts
    keys = stored_keys(ext, old)
    batch_id = approved_batch(ext, officer, second_officer)
    item_id = item_of(ext, old).id
    before = sum(versions_left(ext.store, keys).values())
    real_store = ext.store
    ext.__dict__["store"] = StoreFailingAfterFirstDelete(real_store)
    with pytest.raises(StorageUnavailable):
        destroy_item(ext, item_id, EXECUTOR)
    ext.__dict__["store"] = real_store
    after_crash = versions_left(ext.store, keys)
    in_replica = versions_left(ext.replica, keys)
    assert sum(after_crash.values()) == before - 1  # one version went before the crash

    hold = place(ext, officer, name="Roe v. Mercy", mrns=["OLD-1"])
    halted = execute_now(ext, officer, batch_id)

    assert (halted.destroyed, halted.skipped, halted.halted, halted.executed) == (0, 0, 1, False)
    assert "half-destroyed held back by a legal hold" in halted.summary()
    assert versions_left(ext.store, keys) == after_crash  # nothing more deleted
    assert versions_left(ext.replica, keys) == in_replica
    assert rows_left(ext, old)["versions"] == 2
    item = item_of(ext, old)
    assert item.status == "pending"
    assert "Roe v. Mercy" in item.note and "1 of" in item.note
    assert "cannot be brought back" in item.note
    with ext.db.transaction() as session:
        assert session.get(Tombstone, old).state == "started"
        assert session.get(DispositionBatch, batch_id).status == "approved"  # no certificate
    (event,) = events(ext, "disposition.destruction_halted")
    assert (event.document_id, event.outcome, event.reason) == (old, "refused", item.note)
    assert len(event.details["deleted_before_hold"]) == 1
    assert event.details["object_versions"] == before
    assert [e.document_id for e in events(ext, "hold.refused")] == [old]
    assert events(ext, "document.destroyed") == []

    # A restore from the replica now keeps the held document, although the destruction log
    # names it.
    held = []
    assert reapply_destructions(ext, ext.replica, EXECUTOR, held) == []
    assert held == [old] and rows_left(ext, old)["versions"] == 2
    (kept,) = events(ext, "restore.destruction_held")
    assert (kept.document_id, kept.outcome) == (old, "refused") and "Roe v. Mercy" in kept.reason

    release_hold(ext, officer, hold.id, reason="Settled")
    finished = execute_now(ext, officer, batch_id)

    assert (finished.destroyed, finished.halted, finished.executed) == (1, 0, True)
    assert all(count == 0 for count in versions_left(ext.store, keys).values())
    assert all(count == 0 for count in versions_left(ext.replica, keys).values())
    assert rows_left(ext, old) == {"documents": 0, "versions": 0, "pages": 0}
    assert item_of(ext, old).status == "destroyed"
    assert len(events(ext, "document.destroyed")) == 1
    assert chain_verifies(ext)

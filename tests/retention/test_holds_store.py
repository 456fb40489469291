"""Holds reach the object store, on both backends (the filesystem store, and S3 through moto over
HTTP): every version and derivative of a held document carries the legal-hold flag and the
store itself refuses to delete it; flags follow releases; the hold sync repairs what crashes
and outages leave behind."""

from __future__ import annotations

import io
import uuid
from dataclasses import replace

import pytest
from minio import Minio
from minio.error import S3Error
from sqlalchemy import select

from archive.config import Settings
from archive.errors import ObjectLocked, StorageUnavailable
from archive.interfaces import Upload
from archive.models import DocumentVersion
from archive.records.filing import add_version
from backup.hold_sync import sync_holds
from ingest.models import Derivative
from ingest.worker import Worker
from retention.holds import release_hold
from tests.retention.holding import events, file_document, place
from tests.samples import pdf_bytes
from tests.storefixtures import (  # noqa: F401  (moto_endpoint: fixture)
    ACCESS_KEY,
    BACKENDS,
    REGION,
    SECRET_KEY,
    moto_endpoint,
)


@pytest.fixture(params=BACKENDS)
def settings(request, database_url, tmp_path) -> Settings:
    """The app's settings on each object store in turn (overrides tests/conftest.py)."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    if request.param == "filesystem":
        return settings
    return replace(
        settings,
        storage="s3",
        s3_endpoint=request.getfixturevalue("moto_endpoint"),
        s3_access_key=ACCESS_KEY,
        s3_secret_key=SECRET_KEY,
        s3_bucket=f"cv-{uuid.uuid4().hex}",
        s3_region=REGION,
    )


@pytest.fixture
def clerk(people):
    return people.principal("clerk")


@pytest.fixture
def compliance(people):
    return people.principal("compliance")


class UnreachableHoldFlags:
    """Fault injection: the real store, except that changing a legal hold fails as if the
    store had gone away (the moment a crash or an outage would hit)."""

    def __init__(self, store):
        self._store = store

    def __getattr__(self, name):
        return getattr(self._store, name)

    def set_legal_hold(self, key, version_id, on):
        raise StorageUnavailable("fault injection: the object store did not answer")


@pytest.fixture
def store_outage(ext):
    """Call to make the store's legal-hold calls fail; undone when called with False."""
    real = ext.store

    def outage(on: bool = True) -> None:
        ext.store = UnreachableHoldFlags(real) if on else real

    return outage


def objects_of(ext, document_id: int) -> list[tuple[str, str]]:
    """(key, version id) of every version's original and every derivative of the document."""
    with ext.db.transaction() as session:
        originals = session.execute(
            select(DocumentVersion.object_key, DocumentVersion.store_version_id)
            .where(DocumentVersion.document_id == document_id)
        ).all()
        derivatives = session.execute(
            select(Derivative.object_key, Derivative.store_version_id)
            .join(DocumentVersion, DocumentVersion.id == Derivative.version_id)
            .where(DocumentVersion.document_id == document_id)
        ).all()
    return [tuple(row) for row in [*originals, *derivatives]]


def flags(ext, document_id: int) -> list[bool]:
    objects = objects_of(ext, document_id)
    return [ext.store.stat(key, version_id).legal_hold for key, version_id in objects]


def ocr(ext) -> None:
    """Run the real OCR job of the oldest queued version (stores the derivatives)."""
    assert Worker(ext, worker_id="tests").run_once()


def rescan(ext, clerk, document_id: int) -> None:
    upload = Upload(io.BytesIO(pdf_bytes(["RESCANNED PAGE"])), "rescan.pdf")
    add_version(ext, clerk, document_id=document_id, upload=upload, reason="page cut off")


def deleted_by_server_itself(ext, key: str, version_id: str) -> bool:
    """Ask S3 directly, past S3Store's own check, to delete the version."""
    settings = ext.settings
    client = Minio(settings.s3_endpoint, ACCESS_KEY, SECRET_KEY, secure=False, region=REGION)
    try:
        client.remove_object(settings.s3_bucket, key, version_id=version_id)
    except S3Error as err:
        assert err.code == "AccessDenied"
        return False
    return True


def test_every_version_and_derivative_of_a_held_document_is_flagged_and_undeletable(
    ext, clerk, compliance, patient
):
    version = file_document(ext, clerk, patient, "DISCHARGE SUMMARY")
    ocr(ext)
    rescan(ext, clerk, version.document_id)
    other = file_document(ext, clerk, patient, "PROGRESS NOTE", doc_type="progress_note")
    held_objects = objects_of(ext, version.document_id)
    assert len(held_objects) == 5  # two originals, a searchable PDF, a page image, a thumbnail
    assert flags(ext, version.document_id) == [False] * 5

    place(ext, compliance, types=["discharge_summary"])

    assert flags(ext, version.document_id) == [True] * 5
    assert flags(ext, other.document_id) == [False]
    for key, version_id in held_objects:
        with pytest.raises(ObjectLocked):
            ext.store.delete_version(key, version_id)
        if ext.settings.storage == "s3":
            assert not deleted_by_server_itself(ext, key, version_id)
        assert ext.store.stat(key, version_id).legal_hold


def test_what_is_filed_under_a_hold_later_is_flagged_once_committed(ext, clerk, compliance,
                                                                    patient):
    place(ext, compliance, mrns=[patient])

    version = file_document(ext, clerk, patient, "ADMISSION NOTE")
    assert flags(ext, version.document_id) == [True]
    ocr(ext)  # the derivatives are stored and recorded by the ingestion worker

    assert flags(ext, version.document_id) == [True] * 4
    assert sync_holds(ext).repaired == 0


def test_releasing_one_of_two_holds_keeps_the_flags_and_the_second_clears_them(
    ext, clerk, compliance, patient
):
    version = file_document(ext, clerk, patient, "DISCHARGE SUMMARY")
    by_patient = place(ext, compliance, mrns=[patient])
    by_type = place(ext, compliance, name="State audit", types=["discharge_summary"])

    release_hold(ext, compliance, by_patient.id, "Case settled")
    assert flags(ext, version.document_id) == [True]

    release_hold(ext, compliance, by_type.id, "Audit closed")
    assert flags(ext, version.document_id) == [False]
    key, version_id = objects_of(ext, version.document_id)[0]
    ext.store.delete_version(key, version_id)  # nothing holds it any more


def test_sync_repairs_a_flag_cleared_behind_its_back_and_reports_it(ext, clerk, compliance,
                                                                   patient):
    version = file_document(ext, clerk, patient, "DISCHARGE SUMMARY")
    hold = place(ext, compliance, mrns=[patient])
    key, version_id = objects_of(ext, version.document_id)[0]
    ext.store.set_legal_hold(key, version_id, False)

    report = sync_holds(ext)

    assert [(o.key, o.version_id) for o in report.primary.flagged] == [(key, version_id)]
    assert (report.primary.cleared, report.missing, report.failure) == ([], 0, "")
    assert flags(ext, version.document_id) == [True]
    [event] = events(ext, "hold.sync")
    assert (event.actor, event.outcome) == ("hold-sync", "repaired")
    assert event.details["flagged"] == 1
    assert event.details["flagged_objects"] == [f"{key} {version_id}"]
    # Nothing left to repair: nothing reported, nothing audited.
    assert sync_holds(ext).repaired == 0
    assert len(events(ext, "hold.sync")) == 1
    assert hold.released_at is None


def test_a_release_the_store_missed_is_finished_by_the_sync(ext, clerk, compliance, patient,
                                                            store_outage):
    version = file_document(ext, clerk, patient, "DISCHARGE SUMMARY")
    hold = place(ext, compliance, mrns=[patient])

    store_outage()
    release_hold(ext, compliance, hold.id, "Case settled")  # the database decides: released
    store_outage(False)
    assert flags(ext, version.document_id) == [True]

    report = sync_holds(ext)

    assert len(report.primary.cleared) == 1 and report.primary.flagged == []
    assert flags(ext, version.document_id) == [False]


def test_a_placement_during_an_outage_is_enforced_and_flagged_by_the_sync(
    ext, clerk, compliance, patient, store_outage
):
    version = file_document(ext, clerk, patient, "DISCHARGE SUMMARY")

    store_outage()
    place(ext, compliance, mrns=[patient])
    report = sync_holds(ext)
    store_outage(False)

    assert report.failure == "primary store: fault injection: the object store did not answer"
    assert events(ext, "hold.sync")[-1].outcome == "incomplete"
    assert flags(ext, version.document_id) == [False]
    assert len(sync_holds(ext).primary.flagged) == 1
    assert flags(ext, version.document_id) == [True]


def test_a_crash_between_a_filing_and_its_flag_is_repaired_by_the_sync(
    ext, clerk, compliance, patient, store_outage
):
    place(ext, compliance, mrns=[patient])

    store_outage()
    version = file_document(ext, clerk, patient, "ADMISSION NOTE")  # the filing stands
    store_outage(False)

    assert flags(ext, version.document_id) == [False]
    assert len(sync_holds(ext).primary.flagged) == 1
    assert flags(ext, version.document_id) == [True]


def test_a_transaction_that_rolls_back_flags_nothing(ext, clerk, compliance, patient):
    version = file_document(ext, clerk, patient, "DISCHARGE SUMMARY")
    place(ext, compliance, mrns=[patient])
    stored = ext.store.put("documents/rolled-back/searchable.pdf", io.BytesIO(b"%PDF-1.7"),
                           media_type="application/pdf")

    with pytest.raises(RuntimeError), ext.db.transaction() as session:
        session.add(Derivative(version_id=version.id, kind="searchable_pdf", page_number=0,
                               object_key=stored.key, store_version_id=stored.version_id,
                               sha256=stored.sha256, size=stored.size,
                               media_type="application/pdf"))
        session.flush()
        raise RuntimeError("the commit never happens")

    # An unreferenced object the integrity scrub may remove: it must not be held.
    assert ext.store.stat(stored.key, stored.version_id).legal_hold is False


class PlacementDuringRelease:
    """Fault injection: the real store, except that just before the first flag is cleared
    another officer places a hold on the same document. That placement finds the flag still
    on and leaves it; the release must notice the new hold once it has cleared."""

    def __init__(self, store, place_other_hold):
        self._store = store
        self._place_other_hold = place_other_hold

    def __getattr__(self, name):
        return getattr(self._store, name)

    def set_legal_hold(self, key, version_id, on):
        if not on and self._place_other_hold is not None:
            place_other_hold, self._place_other_hold = self._place_other_hold, None
            place_other_hold()
        self._store.set_legal_hold(key, version_id, on)


def test_a_hold_placed_while_a_release_clears_keeps_the_flags(ext, clerk, compliance,
                                                              patient):
    version = file_document(ext, clerk, patient, "DISCHARGE SUMMARY")
    hold = place(ext, compliance, mrns=[patient])
    real = ext.store
    ext.store = PlacementDuringRelease(
        real, lambda: place(ext, compliance, name="New matter", types=["discharge_summary"])
    )

    report = release_hold(ext, compliance, hold.id, "Case settled")

    ext.store = real
    assert flags(ext, version.document_id) == [True]
    assert sync_holds(ext).repaired == 0
    assert report.released_at is not None


def test_the_sync_reports_objects_the_store_has_lost(ext, clerk, compliance, patient):
    version = file_document(ext, clerk, patient, "DISCHARGE SUMMARY")
    key, version_id = objects_of(ext, version.document_id)[0]
    ext.store.delete_version(key, version_id)  # lost before any hold: the scrub's business
    place(ext, compliance, mrns=[patient])

    report = sync_holds(ext)

    assert [(o.key, o.version_id) for o in report.primary.missing] == [(key, version_id)]
    assert report.repaired == 0
    [event] = events(ext, "hold.sync")
    assert (event.outcome, event.details["missing"]) == ("incomplete", 1)

"""The replica (S3 over HTTP, moto) stops in the middle of the hourly hold sync, on both
databases: the sync finishes the primary's part, records the replica's as incomplete, the
scheduled run fails naming the replica store (so it is retried), and the next run once the
replica is back sets the flags still missing; nothing is written but flags.

tests/retention/test_replica_holds.py runs the same outage against a filesystem replica
too (refused by a fake there: a directory cannot be stopped) and checks more of the flags;
this case ends as every case of the fault matrix does."""

from __future__ import annotations

import pytest

from archive.config import Settings
from backup.hold_sync import sync_holds
from backup.replication import replicate
from retention.schedule import FAILED, job_named, run_job
from tests.backup.replicas import copies, with_s3_replica
from tests.faults.checks import assert_archive_consistent, stored_objects
from tests.faults.conftest import MRN
from tests.retention.holding import events, file_document, place

DOCUMENTS = 3


@pytest.fixture
def settings(database_url, tmp_path, endpoint) -> Settings:
    """The default settings with the replica on the test's own S3 endpoint (overrides
    tests/conftest.py)."""
    return with_s3_replica(Settings(data_dir=tmp_path / "data", database_url=database_url),
                           endpoint.server)


class StopsAfterFirstFlag:
    """Fault injection (the stop itself is real): the replica's endpoint stops right after
    the sync has set its first legal hold there."""

    def __init__(self, real, endpoint):
        self._real, self._endpoint = real, endpoint
        self.flags_set = 0

    def set_legal_hold(self, key, version_id, on):
        self._real.set_legal_hold(key, version_id, on)
        self.flags_set += 1
        self._endpoint.stop()

    def __getattr__(self, name):
        return getattr(self._real, name)


def replica_flags(ext) -> list[bool]:
    return [ext.replica.stat(row.key, row.replica_version_id).legal_hold for row in copies(ext)]


def test_replica_stopped_during_a_hold_sync_is_finished_by_the_next_run(
    app, ext, people, patient, endpoint
):
    clerk, compliance = people.principal("clerk"), people.principal("compliance")
    for number in range(DOCUMENTS):
        file_document(ext, clerk, MRN, f"ADMISSION NOTE {number}")
    assert replicate(ext).failed == 0
    # A placement while the replica is down: the primary is flagged, the replica is left
    # for the sync.
    endpoint.stop()
    place(ext, compliance, mrns=[MRN])
    endpoint.start()
    assert replica_flags(ext) == [False] * DOCUMENTS
    primary_before, replica_before = stored_objects(ext.store), stored_objects(ext.replica)
    real = ext.replica
    outage = StopsAfterFirstFlag(real, endpoint)
    ext.__dict__["replica"] = outage

    during = sync_holds(ext)

    assert outage.flags_set == 1 and len(during.replica.flagged) == 1
    assert during.primary.failure == "" and during.primary.repaired == 0
    assert during.failure.startswith("replica store: ")
    assert endpoint.address in during.failure and "is running" in during.failure
    assert events(ext, "hold.sync")[-1].outcome == "incomplete"
    # Still down: the run fails, to be retried.
    retried = run_job(ext, job_named("hold_sync", ext.scheduled_jobs))
    assert retried.outcome == FAILED and "replica store: " in retried.summary

    endpoint.start()
    ext.__dict__["replica"] = real
    after = sync_holds(ext)

    assert (len(after.replica.flagged), after.primary.repaired, after.failure) == (
        DOCUMENTS - 1, 0, "")
    assert replica_flags(ext) == [True] * DOCUMENTS
    assert sync_holds(ext).repaired == 0
    # Only flags were written: the same objects, in both stores.
    assert stored_objects(ext.store) == primary_before
    assert stored_objects(ext.replica) == replica_before
    assert_archive_consistent(app)

"""Legal holds reach the replica copies, on both databases and both kinds of replica (a
filesystem store, and S3 through moto over HTTP): a held document's replicated objects carry
the replica store's legal hold and the replica refuses to delete them; a copy replication
makes after the hold is flagged at once; a release lifts the flags in both stores; the hourly
sync restores a replica flag removed by hand and counts it; and the replica stopping in the
middle of a sync leaves the primary's part done, the replica's retried by the next run, and
then verify --all and audit verify passing with nothing half-stored."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from minio import Minio
from minio.error import S3Error
from moto.server import ThreadedMotoServer

from archive.cli import audit_verify
from archive.config import Settings
from archive.errors import ObjectLocked, StorageUnavailable
from archive.storage.filesystem import _VERSION_ID
from backup.hold_sync import sync_holds
from backup.jobs import BACKUP_JOBS
from backup.replication import replicate
from backup.scrub_cli import verify_command
from retention.holds import release_hold
from retention.schedule import FAILED, job_named, run_job
from tests.backup.replicas import copies, with_s3_replica
from tests.retention.holding import events, place
from tests.storefixtures import _AWS_ENV, ACCESS_KEY, REGION, SECRET_KEY

REPLICAS = ["filesystem", "s3"]


@pytest.fixture(params=REPLICAS)
def settings(request, database_url, tmp_path) -> Settings:
    """The default settings with each kind of replica in turn (overrides conftest.py)."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    if request.param == "filesystem":
        return settings
    return with_s3_replica(settings, request.getfixturevalue("replica_server"))


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    for name, value in _AWS_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def compliance(people):
    return people.principal("compliance")


@pytest.fixture
def replicated(charts, ext) -> list[int]:
    """The two charts (a discharge summary, a clinic note), every object of them copied."""
    assert replicate(ext).failed == 0
    return charts


def copies_of(ext, document_id: int) -> list:
    """The copy records of every object of the document (its original and derivatives)."""
    from tests.retention.test_holds_store import objects_of

    objects = set(objects_of(ext, document_id))
    return [row for row in copies(ext) if (row.key, row.version_id) in objects]


def replica_flags(ext, document_id: int) -> list[bool]:
    return [ext.replica.stat(row.key, row.replica_version_id).legal_hold
            for row in copies_of(ext, document_id)]


def primary_flags(ext, document_id: int) -> list[bool]:
    return [ext.store.stat(row.key, row.version_id).legal_hold
            for row in copies_of(ext, document_id)]


def deleted_by_replica_server_itself(ext, key: str, version_id: str) -> bool:
    """Ask the replica's S3 directly, past S3Store's own check, to delete the version."""
    settings = ext.settings
    client = Minio(settings.replica_s3_endpoint, ACCESS_KEY, SECRET_KEY, secure=False,
                   region=REGION)
    try:
        client.remove_object(settings.replica_s3_bucket, key, version_id=version_id)
    except S3Error as err:
        assert err.code == "AccessDenied"
        return False
    return True


def test_a_hold_flags_the_replica_copies_and_a_release_lifts_both(ext, compliance, replicated):
    held, other = replicated
    assert len(copies_of(ext, held)) == 4  # original, searchable PDF, page image, thumbnail

    hold = place(ext, compliance, types=["discharge_summary"])

    assert primary_flags(ext, held) == replica_flags(ext, held) == [True] * 4
    assert replica_flags(ext, other) == [False] * 4
    for row in copies_of(ext, held):
        with pytest.raises(ObjectLocked):
            ext.replica.delete_version(row.key, row.replica_version_id)
        if ext.settings.replica_storage == "s3":
            assert not deleted_by_replica_server_itself(ext, row.key, row.replica_version_id)
    assert sync_holds(ext).repaired == 0

    release_hold(ext, compliance, hold.id, "Case settled")

    assert primary_flags(ext, held) == replica_flags(ext, held) == [False] * 4
    row = copies_of(ext, held)[0]
    ext.replica.delete_version(row.key, row.replica_version_id)  # nothing holds it any more


def test_a_copy_replication_makes_after_the_hold_is_flagged_at_once(ext, compliance, charts):
    held, other = charts
    place(ext, compliance, mrns=["REP-1"], types=["discharge_summary"])
    assert copies(ext) == []  # nothing replicated yet: only the primary is flagged

    assert replicate(ext).failed == 0

    assert replica_flags(ext, held) == [True] * 4
    assert replica_flags(ext, other) == [False] * 4
    assert sync_holds(ext).repaired == 0  # nothing was left for the sync


def test_the_sync_restores_replica_flags_changed_by_hand_and_counts_them(
    ext, compliance, replicated
):
    held, other = replicated
    place(ext, compliance, types=["discharge_summary"])
    # The sync looks at what some hold covers, in force or released (a flag a release
    # failed to lift can be nowhere else).
    ended = place(ext, compliance, name="Closed matter", types=["clinic_note"])
    release_hold(ext, compliance, ended.id, "Matter closed")
    lifted = copies_of(ext, held)[1]
    ext.replica.set_legal_hold(lifted.key, lifted.replica_version_id, False)
    stray = copies_of(ext, other)[0]
    ext.replica.set_legal_hold(stray.key, stray.replica_version_id, True)

    report = sync_holds(ext)

    assert [(o.key, o.version_id) for o in report.replica.flagged] == [
        (lifted.key, lifted.replica_version_id)]
    assert [(o.key, o.version_id) for o in report.replica.cleared] == [
        (stray.key, stray.replica_version_id)]
    assert report.primary.repaired == 0 and report.failure == ""
    assert replica_flags(ext, held) == [True] * 4
    assert replica_flags(ext, other) == [False] * 4
    [event] = events(ext, "hold.sync")
    assert (event.outcome, event.details["flagged"]) == ("repaired", 0)
    assert (event.details["replica"]["flagged"], event.details["replica"]["cleared"]) == (1, 1)
    assert sync_holds(ext).repaired == 0


# --- the replica stops during a hold sync ----------------------------------------------------


class ReplicaStopsAfterFirstFlag:
    """Fault injection: the replica store, which stops answering right after the sync has
    set its first legal hold there. Given an endpoint to stop (an S3 replica's moto server:
    werkzeug closes the socket, connections are refused), it stops that; otherwise it
    refuses every call itself from then on, as an unmounted disk would."""

    def __init__(self, real, stop_endpoint=None):
        self._real, self._stop_endpoint = real, stop_endpoint
        self.flags_set = 0
        self.stopped = False

    def set_legal_hold(self, key, version_id, on):
        self._check()
        self._real.set_legal_hold(key, version_id, on)
        self.flags_set += 1
        self.stopped = True
        if self._stop_endpoint is not None:
            self._stop_endpoint()

    def _check(self) -> None:
        # A stopped endpoint refuses by itself; a filesystem replica is refused here.
        if self.stopped and self._stop_endpoint is None:
            raise StorageUnavailable("fault injection: the replica store does not answer")

    def __getattr__(self, name):
        attribute = getattr(self._real, name)

        def call(*args, **kwargs):
            self._check()
            return attribute(*args, **kwargs)

        return call


def primary_versions(root: Path) -> dict[str, str]:
    """Every version's bytes in the filesystem primary (not the sidecars, where the flags
    live), and their SHA-256."""
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*"))
            if path.is_file() and _VERSION_ID.fullmatch(path.name)}


def test_the_replica_stopping_during_a_hold_sync_is_finished_by_the_next_run(
    request, app, ext, compliance, replicated
):
    held, _other = replicated
    real = ext.replica
    s3 = ext.settings.replica_storage == "s3"
    server: ThreadedMotoServer | None = request.getfixturevalue("replica_server") if s3 else None

    # A placement the replica missed (it was unreachable), and a primary flag lost by hand.
    ext.__dict__["replica"] = ReplicaStopsAfterFirstFlag(real)
    ext.replica.stopped = True
    place(ext, compliance, types=["discharge_summary"])
    ext.__dict__["replica"] = real
    assert replica_flags(ext, held) == [False] * 4
    lost = copies_of(ext, held)[2]
    ext.store.set_legal_hold(lost.key, lost.version_id, False)
    primary_before = primary_versions(ext.settings.objects_dir)

    outage = ReplicaStopsAfterFirstFlag(real, server.stop if s3 else None)
    ext.__dict__["replica"] = outage
    during = sync_holds(ext)

    assert outage.flags_set == 1
    assert [(o.key, o.version_id) for o in during.primary.flagged] == [
        (lost.key, lost.version_id)]
    assert during.primary.failure == "" and len(during.replica.flagged) == 1
    assert during.replica.failure and during.failure.startswith("replica store: ")
    assert primary_flags(ext, held) == [True] * 4  # the primary's part was finished
    assert events(ext, "hold.sync")[-1].outcome == "incomplete"
    # Still down: the job fails, and is retried.
    retried = run_job(ext, job_named("hold_sync", BACKUP_JOBS))
    assert retried.outcome == FAILED and "replica store: " in retried.summary

    if s3:
        host, port = server.get_host_and_port()
        back = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        back.start()
        request.addfinalizer(back.stop)
    ext.__dict__["replica"] = real
    after = sync_holds(ext)

    assert (len(after.replica.flagged), after.primary.repaired, after.failure) == (3, 0, "")
    assert replica_flags(ext, held) == [True] * 4
    assert sync_holds(ext).repaired == 0
    # Nothing half-stored: the sync wrote no object (only flags); one replica version per
    # copy record.
    assert primary_versions(ext.settings.objects_dir) == primary_before
    for row in copies(ext):
        assert [v.version_id for v in ext.replica.list_versions(row.key)] == [
            r.replica_version_id for r in copies(ext) if r.key == row.key]
    verified = app.test_cli_runner().invoke(verify_command, ["--all"])
    assert verified.exit_code == 0, verified.output
    assert "all intact" in verified.output
    audited = app.test_cli_runner().invoke(audit_verify)
    assert audited.exit_code == 0, audited.output
    assert "Audit chain intact" in audited.output

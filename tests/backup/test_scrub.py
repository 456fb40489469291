"""The integrity scrub, on both databases, with real stored charts and a replicated archive:
a corrupt or deleted primary object is restored from the replica and every record follows
its new version; a corrupt replica copy is copied again from the primary; an object bad on
both sides is reported, kept and fails the job; a run checks its share, a full pass visits
each object once; a store that stops answering stops the run; the backup page's section
shows the alert."""

from __future__ import annotations

import hashlib
import io
import os
from datetime import timedelta
from pathlib import Path

import pytest
from flask import render_template
from sqlalchemy import select

from archive.errors import ArchiveError, StorageUnavailable
from archive.models import AuditEvent, DocumentVersion, utcnow
from archive.records.reading import open_original
from archive.storage.filesystem import VERSIONS_DIR
from backup.models import ObjectCopy, ScrubFinding
from backup.replication import replicate
from backup.scrub import ObjectsUnrepaired, run_scrub, scrub, share
from backup.scrub_cli import verify_command
from backup.scrub_status import scrub_status
from ingest.models import Derivative
from retention.schedule import FAILED, ScheduledJob, run_job
from tests.backup.replicas import copies
from tests.storefixtures import _AWS_ENV


@pytest.fixture
def charts(charts, ext):
    """The two charts of conftest.py, every object of them replicated."""
    assert replicate(ext).failed == 0
    return charts


def original(ext, document_id: int) -> DocumentVersion:
    with ext.db.transaction() as session:
        return session.scalars(
            select(DocumentVersion).where(DocumentVersion.document_id == document_id)
        ).one()


def copy_of(ext, key: str) -> ObjectCopy:
    return next(row for row in copies(ext) if row.key == key)


def version_file(root: Path, key: str, version_id: str) -> Path:
    """Where the FilesystemStore keeps one version's bytes."""
    return root.joinpath(*key.split("/"), VERSIONS_DIR, version_id)


def flip_a_byte(path: Path) -> None:
    os.chmod(path, 0o644)  # versions are written read-only
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def findings(ext) -> list[ScrubFinding]:
    with ext.db.transaction() as session:
        return list(session.scalars(select(ScrubFinding).order_by(ScrubFinding.id)))


def integrity_events(ext) -> list[AuditEvent]:
    with ext.db.transaction() as session:
        return list(session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("integrity.%"))
            .order_by(AuditEvent.seq)
        ))


def download_digest(ext, people, document_id: int) -> str:
    _version, chunks = open_original(ext, people.principal("staff"), document_id, 1)
    return hashlib.sha256(b"".join(chunks)).hexdigest()


def test_a_corrupt_and_a_deleted_primary_object_are_restored_from_the_replica(
    ext, people, charts
):
    corrupt, deleted = (original(ext, document) for document in charts)
    objects = ext.settings.objects_dir
    flip_a_byte(version_file(objects, corrupt.object_key, corrupt.store_version_id))
    version_file(objects, deleted.object_key, deleted.store_version_id).unlink()
    with ext.db.transaction() as session:  # a derivative too: ingest's references follow
        derivative = session.scalars(select(Derivative).order_by(Derivative.id)).first()
    flip_a_byte(version_file(objects, derivative.object_key, derivative.store_version_id))

    report = scrub(ext, now=utcnow(), everything=True)

    assert (report.checked, report.repaired, report.unrepaired) == (len(copies(ext)), 3, 0)
    found = {(f.key, f.version_id): f for f in findings(ext)}
    assert {(f.side, f.problem, f.outcome) for f in found.values()} == {
        ("primary", "corrupt", "repaired"), ("primary", "missing", "repaired")}
    assert found[corrupt.object_key, corrupt.store_version_id].problem == "corrupt"
    assert found[deleted.object_key, deleted.store_version_id].problem == "missing"
    events = integrity_events(ext)
    assert sorted(e.action for e in events) == ["integrity.object_corrupt"] * 2 + [
        "integrity.object_missing"]
    assert all(e.outcome == "repaired" and e.details["side"] == "primary" for e in events)
    by_key = {e.details["key"]: e for e in events}
    assert by_key[deleted.object_key].details["version_id"] == deleted.store_version_id
    assert by_key[deleted.object_key].document_id == charts[1]

    for document, before in zip(charts, (corrupt, deleted), strict=True):
        after = original(ext, document)
        assert after.store_version_id != before.store_version_id
        assert copy_of(ext, after.object_key).version_id == after.store_version_id
        assert download_digest(ext, people, document) == before.sha256
    with ext.db.transaction() as session:
        moved = session.get(Derivative, derivative.id)
    assert moved.store_version_id != derivative.store_version_id
    assert hashlib.sha256(b"".join(ext.store.open(
        moved.object_key, moved.store_version_id))).hexdigest() == derivative.sha256
    # The corrupt version is gone from the primary; nothing is left to find.
    assert [v.version_id for v in ext.store.list_versions(corrupt.object_key)] == [
        original(ext, charts[0]).store_version_id]
    again = scrub(ext, now=utcnow() + timedelta(hours=1), everything=True)
    assert (again.repaired, again.unrepaired) == (0, 0)
    assert replicate(ext).registered == 0  # no stale reference was left to register


def test_a_corrupt_replica_copy_is_copied_again_from_the_primary(ext, charts):
    row = copy_of(ext, original(ext, charts[0]).object_key)
    flip_a_byte(version_file(ext.settings.replica_root, row.key, row.replica_version_id))

    report = scrub(ext, now=utcnow(), everything=True)

    assert (report.repaired, report.unrepaired) == (1, 0)
    [finding] = findings(ext)
    assert (finding.side, finding.problem, finding.outcome) == ("replica", "corrupt", "repaired")
    after = copy_of(ext, row.key)
    assert after.version_id == row.version_id  # the primary is untouched
    assert after.replica_version_id != row.replica_version_id
    assert [v.version_id for v in ext.replica.list_versions(row.key)] == [
        after.replica_version_id]
    assert hashlib.sha256(b"".join(ext.replica.open(
        row.key, after.replica_version_id))).hexdigest() == row.sha256
    [event] = integrity_events(ext)
    assert (event.action, event.outcome) == ("integrity.object_corrupt", "repaired")
    assert event.details["side"] == "replica"


def test_an_object_bad_on_both_sides_is_reported_kept_and_fails_the_job(app, ext, charts):
    version = original(ext, charts[0])
    row = copy_of(ext, version.object_key)
    with ext.db.transaction() as session:  # the others were checked: this one is due first
        for other in session.scalars(select(ObjectCopy).where(ObjectCopy.id != row.id)):
            other.checked_at = utcnow() - timedelta(days=1)
    primary_file = version_file(ext.settings.objects_dir, row.key, row.version_id)
    good_bytes = primary_file.read_bytes()
    flip_a_byte(primary_file)
    version_file(ext.settings.replica_root, row.key, row.replica_version_id).unlink()
    job = ScheduledJob("scrub", "Integrity scrub", "", None, run_scrub)

    with pytest.raises(ObjectsUnrepaired):
        run_scrub(ext)
    result = app.test_cli_runner().invoke(verify_command, ["--all"])

    assert result.exit_code == 1
    assert "UNREPAIRED: primary copy of " + row.key in result.output
    assert "UNREPAIRED: replica copy of " + row.key in result.output
    assert run_job(ext, job).outcome == FAILED  # every run fails until a person restores it
    # Recorded once, however often it is found again.
    assert {(f.side, f.problem, f.outcome) for f in findings(ext)} == {
        ("primary", "corrupt", "unrepaired"), ("replica", "missing", "unrepaired")}
    assert len(findings(ext)) == 2
    events = integrity_events(ext)
    assert sorted(e.action for e in events) == ["integrity.object_corrupt",
                                                 "integrity.object_missing"]
    assert all(e.outcome == "failed" and e.details["key"] == row.key for e in events)
    # Nothing was deleted or moved: the records and the bad bytes stay for a person.
    assert primary_file.exists()
    assert original(ext, charts[0]).store_version_id == row.version_id
    kept = copy_of(ext, row.key)
    assert (kept.version_id, kept.replica_version_id, kept.state, kept.checked_at) == (
        row.version_id, row.replica_version_id, "replicated", None)
    with ext.db.transaction() as session:
        status = scrub_status(session)
    assert status.alert and status.outstanding_count == 2
    assert {f.side for f in status.outstanding} == {"primary", "replica"}

    # A person puts a good replica copy back: the next run repairs the primary from it.
    restored = ext.replica.put(row.key, io.BytesIO(good_bytes), media_type="application/pdf")
    with ext.db.transaction() as session:
        session.get(ObjectCopy, row.id).replica_version_id = restored.version_id
    assert scrub(ext, now=utcnow(), limit=1).repaired == 1
    with ext.db.transaction() as session:
        assert not scrub_status(session).alert


def test_a_run_checks_its_share_and_a_full_pass_visits_each_object_once(
    ext, charts, monkeypatch
):
    total = len(copies(ext))
    monkeypatch.setattr(ext.settings, "scrub_days", 1)
    start = utcnow()
    visited: list[int] = []
    for hour in range(total):
        before = {row.id: row.checked_at for row in copies(ext)}
        report = scrub(ext, now=start + timedelta(hours=hour))
        assert report.checked == share(total, 1) == 1
        visited += [row.id for row in copies(ext) if row.checked_at != before[row.id]]
    assert sorted(visited) == sorted(row.id for row in copies(ext))  # each once, none twice
    oldest = min(copies(ext), key=lambda row: row.checked_at)
    scrub(ext, now=start + timedelta(hours=total))
    assert copy_of(ext, oldest.key).checked_at == start + timedelta(hours=total)

    assert scrub(ext, now=start + timedelta(days=1), everything=True).checked == total
    with ext.db.transaction() as session:
        status = scrub_status(session, now=start + timedelta(days=1))
    assert (status.objects, status.checked_in_period, status.never_checked) == (total, total, 0)
    assert (share(720, 30), share(721, 30), share(1_000_000, 30)) == (1, 2, 1389)
    monkeypatch.setattr(ext.settings, "scrub_days", 0)
    with pytest.raises(ArchiveError, match="CHARTVAULT_SCRUB_DAYS"):
        scrub(ext, now=start)


class StopsAnswering:
    """Fault injection: a store that is down (every read raises StorageUnavailable)."""

    def __init__(self, real):
        self.real = real

    def open(self, *args, **kwargs):
        raise StorageUnavailable("injected: the replica endpoint does not answer")

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_a_store_that_is_down_stops_the_run_without_findings_injected_outage(ext, charts):
    ext.__dict__["replica"] = StopsAnswering(ext.replica)  # the cached_property's slot

    with pytest.raises(StorageUnavailable):
        scrub(ext, now=utcnow(), everything=True)

    assert findings(ext) == [] and integrity_events(ext) == []
    assert all(row.checked_at is None for row in copies(ext))


def test_the_backup_page_section_shows_the_alert_escaped(app, ext, charts):
    row = copies(ext)[0]
    with ext.db.transaction() as session:
        session.add(ScrubFinding(found_at=utcnow(), key=row.key, version_id=row.version_id,
                                 side="primary", problem="corrupt", outcome="unrepaired",
                                 detail="<script>alert(1)</script> bad bytes"))
        session.add(ScrubFinding(found_at=utcnow() - timedelta(days=2), key="other/key",
                                 version_id="v1", side="replica", problem="missing",
                                 outcome="repaired", detail="copied again"))
        status = scrub_status(session)
    with app.test_request_context():
        html = render_template("backup/_scrub_status.html", scrub=status)

    assert 'role="alert"' in html and "1 stored copy is missing or corrupt" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; bad bytes" in html
    assert "<script>alert(1)" not in html
    assert (status.repaired, status.unrepaired) == (1, 1)
    assert "copied again" in html and row.key in html

    scrub(ext, now=utcnow() + timedelta(minutes=1), everything=True)  # found intact since
    with ext.db.transaction() as session:
        assert not scrub_status(session).alert


# --- an S3 replica ------------------------------------------------------------------------------


def test_with_an_s3_replica_both_directions_are_repaired(
    replica_server, ext, people, charts, monkeypatch  # noqa: F811  (the fixture)
):
    for name, value in _AWS_ENV.items():
        monkeypatch.setenv(name, value)
    lost_replica = copy_of(ext, original(ext, charts[0]).object_key)
    ext.replica.delete_version(lost_replica.key, lost_replica.replica_version_id)
    corrupt = original(ext, charts[1])
    flip_a_byte(version_file(ext.settings.objects_dir, corrupt.object_key,
                             corrupt.store_version_id))

    report = scrub(ext, now=utcnow(), everything=True)

    assert (report.repaired, report.unrepaired) == (2, 0)
    assert {(f.side, f.problem) for f in findings(ext)} == {
        ("replica", "missing"), ("primary", "corrupt")}
    healed = copy_of(ext, lost_replica.key)
    assert hashlib.sha256(b"".join(ext.replica.open(
        healed.key, healed.replica_version_id))).hexdigest() == lost_replica.sha256
    assert download_digest(ext, people, charts[1]) == corrupt.sha256

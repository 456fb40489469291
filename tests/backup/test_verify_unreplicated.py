"""`chartvault verify --all` sees the objects not yet replicated too, on both databases: a
freshly filed original, corrupted on disk before any replication run, is read against its
recorded checksum, counted apart ("not yet replicated: N, of which corrupt: M"), recorded as
unrepaired (no good copy exists anywhere), audited, fails the command and is named first on
the backup page; an intact one is counted and not flagged. Replication never copies the bad
bytes, and the alert stays until a person has dealt with it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from archive.models import DocumentVersion, utcnow
from backup.models import ObjectCopy
from backup.replication import replicate
from backup.scrub import scrub
from backup.scrub_cli import verify_command
from backup.scrub_status import scrub_status
from tests.backup.replicas import copies
from tests.backup.test_scrub import findings, flip_a_byte, integrity_events, version_file
from tests.conftest import login
from tests.retention.holding import file_document


@pytest.fixture
def replicated(charts, ext):
    """The two charts of conftest.py, every object of them replicated and verified."""
    assert replicate(ext).failed == 0
    return charts


@pytest.fixture
def fresh(ext, people, replicated) -> DocumentVersion:
    """An original filed after the last replication run: only the primary holds it."""
    return file_document(ext, people.principal("clerk"), "REP-1", "FRESH ADMISSION NOTE",
                         doc_type="progress_note")


def backups_page(app) -> str:
    client = app.test_client()
    assert login(client, "admin1").status_code == 302
    return client.get("/admin/backups").get_data(as_text=True)


def test_a_corrupt_original_not_yet_replicated_fails_verify_all_and_leads_the_backup_page(
    app, ext, fresh
):
    assert fresh.object_key not in {row.key for row in copies(ext)}  # never registered
    bad_file = version_file(ext.settings.objects_dir, fresh.object_key, fresh.store_version_id)
    flip_a_byte(bad_file)

    result = app.test_cli_runner().invoke(verify_command, ["--all"])

    assert result.exit_code == 1, result.output
    assert "not yet replicated: 1, of which corrupt: 1" in result.output
    assert "all intact" not in result.output
    assert "LOST: 1 stored object was never replicated and is bad" in result.output
    assert f"UNREPAIRED: primary copy of {fresh.object_key}" in result.output
    [finding] = findings(ext)
    assert (finding.key, finding.version_id, finding.side, finding.problem, finding.outcome) == (
        fresh.object_key, fresh.store_version_id, "primary", "corrupt", "unrepaired")
    [event] = integrity_events(ext)
    assert (event.action, event.outcome, event.document_id) == (
        "integrity.object_corrupt", "failed", fresh.document_id)
    assert bad_file.exists()  # nothing deleted: the bad bytes stay for a person

    html = backups_page(app)
    assert 'id="lost-alert"' in html
    assert html.index('id="lost-alert"') < html.index('id="replication-title"')
    assert "1 stored object is corrupt or missing and was never replicated" in html
    assert fresh.object_key in html
    with ext.db.transaction() as session:
        status = scrub_status(session)
    assert (status.lost_count, status.unreplicated, status.outstanding_count) == (1, 1, 1)
    assert status.outstanding[0].key == fresh.object_key

    # Replication refuses the bad bytes (its read is checked too), so it stays unreplicated,
    # and the next full check still fails and still names it first, recorded only once.
    assert replicate(ext).failed == 1
    [row] = [row for row in copies(ext) if row.key == fresh.object_key]
    assert row.state == "failed" and row.replica_version_id is None
    again = scrub(ext, now=utcnow(), everything=True)
    assert (again.unreplicated, again.unreplicated_corrupt, again.unrepaired) == (1, 1, 1)
    assert len(findings(ext)) == 1


def test_an_intact_original_not_yet_replicated_is_counted_not_flagged(app, ext, fresh):
    result = app.test_cli_runner().invoke(verify_command, ["--all"])

    assert result.exit_code == 0, result.output
    assert "not yet replicated: 1, of which corrupt: 0" in result.output
    assert "all intact" in result.output
    assert findings(ext) == [] and integrity_events(ext) == []
    with ext.db.transaction() as session:
        row = session.scalars(select(ObjectCopy).where(
            ObjectCopy.key == fresh.object_key)).one()
        status = scrub_status(session)
    assert (row.state, row.checked_at is not None) == ("pending", True)
    assert (status.lost_count, status.unreplicated, status.alert) == (0, 1, False)
    html = backups_page(app)
    assert 'id="lost-alert"' not in html
    assert "1, of which corrupt or missing with no other copy: 0" in html

    # Replication copies it as usual afterwards; then nothing is left unreplicated.
    assert replicate(ext).copied == 1
    report = scrub(ext, now=utcnow(), everything=True)
    assert (report.unreplicated, report.unrepaired) == (0, 0)
    assert "not yet replicated" not in report.summary()


def test_a_missing_original_not_yet_replicated_is_counted_as_missing(app, ext, fresh):
    version_file(ext.settings.objects_dir, fresh.object_key, fresh.store_version_id).unlink()

    report = scrub(ext, now=utcnow(), everything=True)

    assert (report.unreplicated, report.unreplicated_corrupt, report.unreplicated_missing) == (
        1, 0, 1)
    assert "not yet replicated: 1, of which corrupt: 0, missing: 1" in report.summary()
    assert report.unrepaired == 1
    with ext.db.transaction() as session:
        assert scrub_status(session).lost_count == 1

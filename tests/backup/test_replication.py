"""Replication to the replica store, on both databases: every original and derivative gets a
verified copy; a run cut short is resumed without a second copy; a replica endpoint that
stops (moto over HTTP) loses nothing and replication catches up when it is back; destruction
reaches the replica and logs itself there; a copy that lands after destruction began is
deleted again."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest
from markupsafe import escape
from moto.server import ThreadedMotoServer
from sqlalchemy import select, update

from archive.models import utcnow
from backup import replication
from backup.jobs import BACKUP_JOBS
from backup.models import ObjectCopy
from backup.replication import replicate, replication_status
from backup.snapshots import take_snapshot
from retention.clocks import Rules
from retention.destruction import DESTRUCTION_LOG, execute_now
from retention.disposition import sweep
from retention.models import JobRun
from retention.policies import save_policy
from retention.schedule import job_named, run_job
from tests.backup.replicas import copies, replica_digest
from tests.conftest import login
from tests.retention.disposing import FLOORS, approve_twice, file_earlier
from tests.storefixtures import _AWS_ENV


def test_every_stored_object_gets_a_verified_copy_and_the_lag_drops_to_zero(ext, charts):
    with ext.db.transaction() as session:
        before = replication_status(ext, session)  # no run has registered anything yet
    assert copies(ext) == [] and before.waiting == before.objects > 0
    assert before.lag(utcnow()) > timedelta(0)  # shown before the first run, not after
    report = replicate(ext)

    rows = copies(ext)
    assert len(rows) == before.objects
    kinds = {row.kind for row in rows}
    assert kinds == {"original", "derivative"}
    assert report.copied == len(rows) and report.failed == 0
    assert all(row.state == "replicated" for row in rows)
    assert all(replica_digest(ext, row) == row.sha256 for row in rows)
    with ext.db.transaction() as session:
        status = replication_status(ext, session)
    assert (status.waiting, status.lag(utcnow())) == (0, timedelta(0))
    assert replicate(ext).copied == 0  # nothing new, nothing copied twice


class RecordingFailsOnce:
    """Fault injection: the copy is written, then the worker dies before recording it."""

    def __init__(self, real):
        self.real, self.failed = real, False

    def __call__(self, ext, row_id, replica_version):
        if not self.failed:
            self.failed = True
            raise SystemExit("injected: the worker was killed")
        return self.real(ext, row_id, replica_version)


def test_a_worker_killed_mid_replication_resumes_without_duplicates_injected_kill(
    ext, charts, monkeypatch
):
    monkeypatch.setattr(replication, "_record_copy", RecordingFailsOnce(replication._record_copy))
    with pytest.raises(SystemExit):
        replicate(ext)
    first = copies(ext)[0]
    assert first.state == "pending" and len(ext.replica.list_versions(first.key)) == 1

    report = replicate(ext)

    assert report.adopted == 1 and report.failed == 0
    for row in copies(ext):
        assert row.state == "replicated"
    originals = [row for row in copies(ext) if row.kind == "original"]
    assert all(len(ext.replica.list_versions(row.key)) == 1 for row in originals)


def test_a_stopped_replica_endpoint_loses_nothing_and_replication_catches_up(
    ext, charts, replica_server, monkeypatch
):
    for name, value in _AWS_ENV.items():
        monkeypatch.setenv(name, value)
    host, port = replica_server.get_host_and_port()
    replica_server.stop()

    stopped = replicate(ext, budget=timedelta(seconds=30))

    rows = copies(ext)
    assert stopped.copied == 0 and stopped.failed == len(rows)
    assert all(row.state == "failed" and row.last_error for row in rows)
    with ext.db.transaction() as session:
        assert replication_status(ext, session).waiting == len(rows)

    back = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    back.start()
    try:
        caught_up = replicate(ext)
        assert caught_up.copied == len(rows)
        assert all(row.state == "replicated" for row in copies(ext))
        assert all(replica_digest(ext, row) == row.sha256 for row in copies(ext))
    finally:
        back.stop()


def test_destruction_reaches_the_replica_and_is_logged_there(app, ext, people, charts,
                                                             second_officer):
    old, recent = charts
    replicate(ext)
    officer = people.principal("compliance")
    with ext.db.transaction() as session:
        save_policy(session, officer, "*", name="Ten years", rules=Rules(
            after_last_encounter_years=10), source="AHIMA", reason="set up", floors=FLOORS)
        # The patient's last encounter is 2024-05-06: give the old chart's type the
        # shortest policy allowed, which makes it due now.
        save_policy(session, officer, "discharge_summary", name="One year",
                    rules=Rules(after_last_encounter_years=1), source="test", reason="set up",
                    floors=FLOORS)
    file_earlier(ext, old)  # filed past the age floor
    old_keys = {row.key for row in copies(ext) if row.key.startswith(_prefix(ext, old))}
    assert old_keys
    with ext.db.transaction() as session:
        batch_id = sweep(session, today=date.today(), floors=FLOORS).batch_id
    approve_twice(ext, officer, second_officer, batch_id)

    execute_now(ext, officer, batch_id)

    assert all(ext.replica.list_versions(key) == [] for key in old_keys)
    assert not {row.key for row in copies(ext)} & old_keys
    log = ext.replica.list_versions(DESTRUCTION_LOG)
    assert len(log) == 1
    entry = json.loads(b"".join(ext.replica.open(log[0].key, log[0].version_id)))
    assert entry["document_id"] == old and set(entry["objects"]) == old_keys
    # The other chart's copies are untouched.
    assert all(replica_digest(ext, row) == row.sha256 for row in copies(ext))


def _prefix(ext, document_id) -> str:
    from archive.models import Document

    with ext.db.transaction() as session:
        return f"documents/{session.get(Document, document_id).uid}/"


def test_a_copy_finished_after_destruction_began_is_deleted_again(ext, charts):
    with ext.db.transaction() as session:
        replication.register_new_objects(ext, session)
    row = copies(ext)[0]
    with ext.db.transaction() as session:  # destruction marks the document's objects
        session.execute(update(ObjectCopy).where(ObjectCopy.id == row.id)
                        .values(state="destroying"))

    outcome = replication.copy_object(ext, row.id, row.key, row.version_id, row.sha256)

    assert outcome == "copied"
    assert ext.replica.list_versions(row.key) == []


# --- the status page --------------------------------------------------------------------------


def _client(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def test_the_backup_page_shows_lag_backlog_and_failures_to_admins_and_compliance(
    app, ext, people, charts
):
    with ext.db.transaction() as session:
        replication.register_new_objects(ext, session)
        first = session.scalars(select(ObjectCopy).order_by(ObjectCopy.id)).first()
        first.state, first.attempts = "failed", 2
        first.last_error = "StorageUnavailable: <script>alert(1)</script> replica down"
        first.stored_at = utcnow() - timedelta(minutes=7)

    for username in ("admin1", "compliance1"):
        html = _client(app, username).get("/admin/backups").get_data(as_text=True)
        assert "7 min" in html and f">{len(copies(ext))}<" in html.replace("\n", "")
        assert "&lt;script&gt;alert(1)&lt;/script&gt; replica down" in html
        assert "<script>alert(1)" not in html
    for username in ("clerk1", "staff1"):
        assert _client(app, username).get("/admin/backups").status_code == 403

    assert 'id="no-snapshot"' in html  # no snapshot yet: said loudly

    replicate(ext)
    snapshot = take_snapshot(ext)
    html = _client(app, "admin1").get("/admin/backups").get_data(as_text=True)
    assert "every object has a verified copy" in html
    assert snapshot.sha256 in html and 'id="no-snapshot"' not in html
    assert re.search(r"<title>Backups and integrity[^<]*</title>", html)


def test_the_backup_page_says_loudly_when_the_database_journal_falls_behind(app, ext, people):
    client = _client(app, "compliance1")
    html = client.get("/admin/backups").get_data(as_text=True)
    assert 'id="journal-late"' in html and "has not stored the database's changes yet" in html

    run = run_job(ext, job_named("database_journal", BACKUP_JOBS))
    assert run.outcome == "ok", run.summary
    html = client.get("/admin/backups").get_data(as_text=True)
    assert 'id="journal-late"' not in html
    assert escape(run.summary) in html

    with ext.db.transaction() as session:  # the worker stopped ten minutes ago
        session.execute(update(JobRun).values(started_at=utcnow() - timedelta(minutes=10)))
    html = client.get("/admin/backups").get_data(as_text=True)
    assert 'id="journal-late"' in html and "last stored the database's changes" in html


def test_an_object_written_again_is_followed_by_every_reference(ext, charts):
    import io

    from archive.models import DocumentVersion
    from ingest.models import Derivative

    with ext.db.transaction() as session:
        replication.register_new_objects(ext, session)
    rows = {row.kind: row for row in copies(ext)}
    moved = {}
    for kind in ("original", "derivative"):
        row = rows[kind]
        body = b"".join(ext.store.open(row.key, row.version_id))
        moved[kind] = ext.store.put(row.key, io.BytesIO(body), media_type="application/pdf")
        with ext.db.transaction() as session:
            replication.relocate_object(ext, session, row.key, row.version_id,
                                        moved[kind].version_id)
    with ext.db.transaction() as session:
        original = session.scalars(select(DocumentVersion).where(
            DocumentVersion.object_key == rows["original"].key)).first()
        derivative = session.scalars(select(Derivative).where(
            Derivative.object_key == rows["derivative"].key)).one()
        assert original.store_version_id == moved["original"].version_id
        assert derivative.store_version_id == moved["derivative"].version_id
    assert {row.version_id for row in copies(ext)} >= {m.version_id for m in moved.values()}

"""Database snapshots and `chartvault restore`, on both databases: an archive of charts with
several versions is replicated and snapshotted, its data directory deleted, and restored from
the replica alone by the commands of README.md's "Disaster recovery" section, run as written;
every version reads back with the same SHA-256, search answers the same, the audit chain
verifies. A document destroyed after the snapshot stays destroyed; a target that holds an
archive is refused; an object the replica never got is reported as lost."""

from __future__ import annotations

import io
import re
import shlex
import shutil
import uuid
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from archive.cli import cli
from archive.config import Settings
from archive.interfaces import Upload
from archive.models import AuditEvent, Document, DocumentVersion, Page
from archive.records.filing import add_version
from archive.records.patients import register_patient
from archive.records.reading import open_original
from backup import replication
from backup.restore import MARKER
from backup.restore_objects import stored_refs
from backup.snapshots import SQLITE_KEY, latest_snapshots, take_snapshot
from retention.clocks import Rules
from retention.destruction import execute_now
from retention.disposition import sweep
from retention.policies import save_policy
from tests.backup.replicas import with_s3_replica
from tests.backup.restoring import (
    chain_ok,
    chartvault,
    environment,
    lose_the_primary,
    open_restored,
    version_digests,
)
from tests.conftest import SYSTEM, People
from tests.retention.disposing import FLOORS, approve_twice, file_earlier
from tests.search.charts import text_pdf
from tests.search.library import (
    CARDIOLOGY,
    DISCHARGE,
    OPERATIVE,
    file_chart,
    found,
    process_and_index,
)
from tests.storefixtures import _AWS_ENV, ACCESS_KEY, SECRET_KEY

README = Path(__file__).resolve().parents[2] / "README.md"
QUERIES = ["pneumonia", "cholecystectomy", "mitral regurgitation", "amended", "rescanned"]


# --- the installation, its replica and the README's commands ------------------------------------


@pytest.fixture
def settings(request, database_template, database_url, tmp_path) -> Settings:
    """The embedded default's layout: the SQLite database inside the data directory (so
    deleting the directory loses it), the replica beside it; or, for a test that asks for
    ``replica_server``, an S3 replica there (moto over HTTP)."""
    data_dir = tmp_path / "data"
    url = database_url
    if database_template.backend == "sqlite":
        data_dir.mkdir()
        target = data_dir / "chartvault.db"
        shutil.move(database_url.removeprefix("sqlite:///"), target)
        url = f"sqlite:///{target}"
    settings = Settings(data_dir=data_dir, database_url=url, replica_dir=tmp_path / "replica")
    if "replica_server" not in request.fixturenames:
        return settings
    return with_s3_replica(settings, request.getfixturevalue("replica_server"))


@pytest.fixture
def target_url(database_template, settings, request) -> str:
    """Where the restored database goes: the same SQLite file (in the recreated data
    directory), or a new empty PostgreSQL database (the old server is gone)."""
    if database_template.backend == "sqlite":
        yield settings.database_url
        return
    postgres = request.getfixturevalue("postgres")
    name = f"restored_{uuid.uuid4().hex[:12]}"
    url = postgres.create_database(name)
    yield url
    postgres.drop_database(name)


def readme_blocks() -> list[list[list[str]]]:
    """The commands of README.md's "Disaster recovery" section, code block by code block,
    each split as the shell would (comments dropped; variables left to expand)."""
    section = README.read_text().split("## Disaster recovery\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [[shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]
            for block in blocks]


def run_as_written(block: list[list[str]], env: dict) -> list[str]:
    """Run each README command through the real `chartvault` command group with the
    environment ``env`` ($VARIABLES expanded from it); the output of each. `serve` is not
    run: the test opens the restored installation itself, as the server would."""
    outputs = []
    for argv in block:
        assert argv[0] == ".venv/bin/chartvault", argv
        if argv[1] == "serve":
            continue
        args = [re.sub(r"\$(\w+)", lambda m: env[m.group(1)], arg) for arg in argv[1:]]
        result = chartvault(env, *args)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    return outputs



@pytest.fixture
def library(app, ext, people):
    """Three patients' charts, two of them with a second version (a rescan, an amendment)."""
    clerk = people.principal("clerk")
    with ext.db.transaction() as session:
        for mrn, name in (("DR-1", "ONE, ANN"), ("DR-2", "TWO, BEN"), ("DR-3", "THREE, CY")):
            register_patient(session, SYSTEM, mrn=mrn, name=name, dob=date(1960, 1, 2))
    discharge = file_chart(app, clerk, "DR-1", DISCHARGE, date_of_service=date(2020, 1, 2))
    operative = file_chart(app, clerk, "DR-2", OPERATIVE, doc_type="operative_report")
    cardiology = file_chart(app, clerk, "DR-3", CARDIOLOGY, doc_type="consultation")
    add_version(ext, clerk, document_id=discharge, reason="rescan, page was crooked",
                upload=Upload(io.BytesIO(text_pdf(DISCHARGE + ["Rescanned."])), "rescan.pdf"))
    add_version(ext, clerk, document_id=operative, reason="addendum",
                upload=Upload(io.BytesIO(text_pdf(OPERATIVE, ["Amended by the surgeon."])),
                              "amended.pdf"))
    process_and_index(app)
    return discharge, operative, cardiology


# --- the end-to-end test ------------------------------------------------------------------------


def test_the_readme_procedure_restores_every_version_search_and_the_audit_chain(
    app, ext, people, library, settings, target_url
):
    staff = people.principal("staff")
    digests = version_digests(ext, staff)
    assert len(digests) == 5
    answers = {q: found(app, people, q) for q in QUERIES}
    assert all(answers.values()), answers
    objects = {(ref.key, ref.sha256) for ref in stored_refs(ext)}
    before, after = readme_blocks()

    run_as_written(before, environment(settings, settings.database_url))

    (snapshot,) = latest_snapshots(ext)
    assert snapshot.key == SQLITE_KEY if ext.db.is_sqlite else snapshot.key.endswith(".pgdump")
    lose_the_primary(ext, settings)

    restore_output, verify_output = run_as_written(after, environment(settings, target_url))

    assert "Restore complete" in restore_output and "LOST" not in restore_output
    assert "Audit chain intact" in verify_output
    # The backup's anchor records the snapshot's own event, which the snapshot predates;
    # the restore anchored the restored chain.
    assert "1 anchors record events up to" in verify_output
    assert "All 1 anchors in the replica store match the chain" in verify_output
    restored = open_restored(settings, target_url)
    try:
        again = restored.extensions["chartvault"]
        readers = People(again, {})
        assert version_digests(again, readers.principal("staff")) == digests
        assert {(ref.key, ref.sha256) for ref in stored_refs(again)} == objects
        assert {q: found(restored, readers, q) for q in QUERIES} == answers
        assert chain_ok(again)
        assert not (settings.data_dir / MARKER).exists()
        # The copy records still name the replica's copies: nothing to copy again.
        assert replication.replicate(again).copied == 0
    finally:
        restored.extensions["chartvault"].db.dispose()


# --- destruction after the snapshot ------------------------------------------------------------


OLD_CHART = ["DISCHARGE SUMMARY", "Treated for xanthogranulomatous pyelonephritis in 2005."]
OTHER_CHART = ["CLINIC NOTE", "Seen for xanthogranulomatous follow up."]


def test_a_document_destroyed_after_the_snapshot_stays_destroyed_after_a_restore(
    app, ext, people, settings, target_url, second_officer
):
    officer, clerk = people.principal("compliance"), people.principal("clerk")
    with ext.db.transaction() as session:
        register_patient(session, SYSTEM, mrn="OLD-1", name="GONE, ADA", dob=date(1940, 3, 1))
        register_patient(session, SYSTEM, mrn="NEW-1", name="HERE, BO", dob=date(1980, 3, 1))
        save_policy(session, officer, "*", name="Adults ten years",
                    rules=Rules(after_last_encounter_years=10), source="AHIMA", reason="set up",
                    floors=FLOORS)
    old = file_chart(app, clerk, "OLD-1", OLD_CHART, date_of_service=date(2005, 4, 5))
    add_version(ext, clerk, document_id=old, reason="rescan",
                upload=Upload(io.BytesIO(text_pdf(OLD_CHART + ["Rescanned."])), "rescan.pdf"))
    process_and_index(app)
    recent = file_chart(app, clerk, "NEW-1", OTHER_CHART, date_of_service=date(2024, 1, 2))
    file_earlier(ext, old, recent)  # filed past the age floor
    with ext.db.transaction() as session:
        uid = session.get(Document, old).uid
    old_keys = {ref.key for ref in stored_refs(ext) if ref.key.startswith(f"documents/{uid}/")}
    assert len(old_keys) >= 3
    replication.replicate(ext)
    take_snapshot(ext)  # the snapshot still holds the old chart

    with ext.db.transaction() as session:
        batch_id = sweep(session, today=date.today(), floors=FLOORS).batch_id
    approve_twice(ext, officer, second_officer, batch_id)
    assert execute_now(ext, officer, batch_id).destroyed == 1
    replication.replicate(ext)
    lose_the_primary(ext, settings)

    result = chartvault(environment(settings, target_url),
                        "restore", "--from", str(settings.replica_dir), "--yes")

    assert result.exit_code == 0, result.output
    assert "Destructions re-applied from the destruction log: 1" in result.output
    restored = open_restored(settings, target_url)
    try:
        again = restored.extensions["chartvault"]
        with again.db.transaction() as session:
            assert session.scalar(select(func.count()).select_from(Document)
                                  .where(Document.uid == uid)) == 0
            assert session.scalar(select(func.count()).select_from(DocumentVersion)
                                  .where(DocumentVersion.document_id == old)) == 0
            assert session.scalar(select(func.count()).select_from(Page)) > 0  # the other's
            reapplied = session.scalars(select(AuditEvent).where(
                AuditEvent.action == "restore.destruction_reapplied")).all()
            assert [event.document_id for event in reapplied] == [old]
        assert all(again.store.list_versions(key) == [] for key in old_keys)
        assert all(again.replica.list_versions(key) == [] for key in old_keys)
        readers = People(again, {})
        assert found(restored, readers, "pyelonephritis") == []
        assert found(restored, readers, "xanthogranulomatous") == [recent]
        assert chain_ok(again)
    finally:
        again.db.dispose()


# --- refusals and losses ------------------------------------------------------------------------


def test_a_restore_refuses_a_target_that_holds_an_archive(ext, library, settings):
    replication.replicate(ext)
    take_snapshot(ext)
    with ext.db.transaction() as session:
        documents = session.scalar(select(func.count()).select_from(Document))

    result = chartvault(environment(settings, settings.database_url),
                        "restore", "--from", str(settings.replica_dir), "--yes")

    assert result.exit_code == 1
    assert "already holds an archive (3 documents of 3 patients)" in result.output
    assert "point CHARTVAULT_DATA_DIR and CHARTVAULT_DATABASE_URL at an empty" in result.output
    with ext.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Document)) == documents
    assert not (settings.data_dir / MARKER).exists()


def test_without_yes_the_restore_asks_first(ext, settings):
    settings.replica_dir.mkdir()
    result = CliRunner().invoke(cli, ["restore", "--from", str(settings.replica_dir)],
                                input="n\n", env=environment(settings, settings.database_url))
    assert result.exit_code == 1
    assert "Restore the archive from" in result.output and "Aborted" in result.output


def test_an_object_the_replica_never_got_is_reported_lost_and_the_rest_restored(
    app, ext, people, settings, target_url
):
    clerk = people.principal("clerk")
    with ext.db.transaction() as session:
        register_patient(session, SYSTEM, mrn="L-1", name="KEPT, KIT", dob=date(1970, 1, 1))
    kept = file_chart(app, clerk, "L-1", CARDIOLOGY)
    replication.replicate(ext)
    unreplicated = file_chart(app, clerk, "L-1", OPERATIVE)
    take_snapshot(ext)  # the database knows the second chart; the replica has no copy of it
    with ext.db.transaction() as session:
        uid = session.get(Document, unreplicated).uid
    lose_the_primary(ext, settings)

    result = chartvault(environment(settings, target_url),
                        "restore", "--from", str(settings.replica_dir), "--yes")

    assert result.exit_code == 1
    lost_lines = [line for line in result.output.splitlines() if line.startswith("LOST: ")]
    assert lost_lines and all(f"documents/{uid}/" in line for line in lost_lines[:-1])
    assert f"documents/{uid}/original" in result.output
    restored = open_restored(settings, target_url)
    try:
        readers = People(restored.extensions["chartvault"], {})
        _version, chunks = open_original(restored.extensions["chartvault"],
                                         readers.principal("staff"), kept, 1)
        assert b"".join(chunks).startswith(b"%PDF")
    finally:
        restored.extensions["chartvault"].db.dispose()


# --- snapshots ---------------------------------------------------------------------------------


def test_only_the_newest_snapshots_are_kept_and_each_is_audited(ext, monkeypatch):
    monkeypatch.setattr(ext.settings, "snapshots_keep", 2)
    taken = [take_snapshot(ext) for _ in range(3)]

    kept = latest_snapshots(ext)
    assert [s.version_id for s in kept] == [t.version_id for t in reversed(taken[1:])]
    assert all(s.sha256 == t.sha256 for s, t in zip(kept, reversed(taken[1:]), strict=True))
    with ext.db.transaction() as session:
        events = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "backup.snapshot_taken").order_by(AuditEvent.seq)).all()
    assert [event.details["dropped"] for event in events] == [0, 0, 1]


# --- an S3 replica ------------------------------------------------------------------------------


@pytest.mark.usefixtures("replica_server")
def test_a_restore_from_an_s3_replica_brings_back_every_version_and_search(
    app, ext, people, library, settings, target_url, monkeypatch
):
    for name, value in _AWS_ENV.items():
        monkeypatch.setenv(name, value)
    digests = version_digests(ext, people.principal("staff"))
    answers = {q: found(app, people, q) for q in QUERIES}
    replication.replicate(ext)
    take_snapshot(ext)
    ext.db.dispose()
    shutil.rmtree(settings.data_dir)
    replica = f"s3://{settings.replica_s3_endpoint}/{settings.replica_s3_bucket}"
    env = {
        **environment(settings, target_url),
        "CHARTVAULT_REPLICA_DIR": None,
        "CHARTVAULT_REPLICA_STORAGE": "s3",
        "CHARTVAULT_REPLICA_S3_ENDPOINT": settings.replica_s3_endpoint,
        "CHARTVAULT_REPLICA_S3_ACCESS_KEY": ACCESS_KEY,
        "CHARTVAULT_REPLICA_S3_SECRET_KEY": SECRET_KEY,
        "CHARTVAULT_REPLICA_S3_BUCKET": settings.replica_s3_bucket,
    }

    result = chartvault(env, "restore", "--from", replica, "--yes")

    assert result.exit_code == 0, result.output
    assert "Restore complete" in result.output and "LOST" not in result.output
    restored = open_restored(settings, target_url)
    try:
        again = restored.extensions["chartvault"]
        readers = People(again, {})
        assert version_digests(again, readers.principal("staff")) == digests
        assert {q: found(restored, readers, q) for q in QUERIES} == answers
        assert chain_ok(again)
    finally:
        again.db.dispose()

"""Point-in-time recovery, on SQLite and PostgreSQL: after the nightly snapshot, minutes of a
records department's work — charts filed, a new version, metadata corrected, a chart moved
to the right patient, a QC flag reviewed, a patient registered and corrected, a hold placed
and released, a user added and disabled, a token revoked, a document destroyed — with the
replication and database journal jobs run after each minute, as the scheduler runs them.
Then the data directory is deleted and the database dropped, and `chartvault restore` brings
back every row of it, every object version with the same SHA-256, the same search answers,
an audit chain that verifies and goes on; the destroyed document stays destroyed, and the
one action taken after the last journal run is the only thing missing.

PostgreSQL runs on a cluster of this module's own: its WAL and base backups are the whole
cluster's, and the replication slot must not outlive the test."""

from __future__ import annotations

import io
import re
import shutil
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from archive import audit, migrate
from archive.audit import Actor
from archive.auth.accounts import create_user, set_active
from archive.auth.tokens import create_token, list_tokens, principal_from_token, revoke_token
from archive.config import Settings
from archive.interfaces import Upload
from archive.models import AuditEvent, Base, Document, Patient
from archive.records.edits import correct_metadata, reassign_patient
from archive.records.filing import add_version
from archive.records.patients import edit_patient, register_patient
from backup.jobs import BACKUP_JOBS
from ingest.services import open_flags, review_flag
from retention.clocks import Rules
from retention.destruction import execute_now
from retention.disposition import sweep
from retention.holds import release_hold
from retention.models import Tombstone
from retention.policies import save_policy
from retention.schedule import OK, job_named, run_job
from tests.backup.restoring import (
    chain_ok,
    chartvault,
    environment,
    lose_the_primary,
    open_restored,
    version_digests,
)
from tests.conftest import SYSTEM, People
from tests.pg import ThrowawayPostgres
from tests.retention.disposing import FLOORS, approve_twice, file_earlier
from tests.retention.holding import place
from tests.search.charts import text_pdf
from tests.search.library import (
    CARDIOLOGY,
    DISCHARGE,
    OPERATIVE,
    file_chart,
    found,
    process_and_index,
)

QUERIES = ["pneumonia", "cholecystectomy", "mitral regurgitation", "xanthogranulomatous"]
OLD_CHART = ["DISCHARGE SUMMARY", "Treated for xanthogranulomatous pyelonephritis in 2005."]
# What a restore changes by design: where the new primary keeps each object, the replication
# and job bookkeeping, and the sessions of a server that is gone.
NOT_COMPARED = {
    "document_versions": {"store_version_id"},
    "derivatives": {"store_version_id"},
    "disposition_batches": {"certificate_version_id"},
}
SKIPPED_TABLES = {"object_copies", "job_runs", "index_outbox", "user_sessions", "scrub_findings",
                  "audit_events", "audit_head", "jobs"}


# --- an installation on either database, with its database inside reach -------------------------


@pytest.fixture(scope="module")
def own_cluster():
    with ThrowawayPostgres() as cluster:
        yield cluster


@pytest.fixture
def database_url(database_template, tmp_path, request) -> str:
    """A migrated database of this test's own: a SQLite file in the data directory, or a
    database on this module's PostgreSQL cluster."""
    if database_template.backend == "sqlite":
        (tmp_path / "data").mkdir()
        target = tmp_path / "data" / "chartvault.db"
        shutil.copyfile(database_template.url.removeprefix("sqlite:///"), target)
        return f"sqlite:///{target}"
    name = f"pitr_{uuid.uuid4().hex[:8]}"
    url = request.getfixturevalue("own_cluster").create_database(name)
    engine = create_engine(url)
    with engine.begin() as connection:
        # The throwaway cluster acknowledges commits before flushing them, for speed; the
        # recovery point is promised with PostgreSQL's default, a commit flushed first.
        connection.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = on'))
    migrate.upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url,
                    replica_dir=tmp_path / "replica")


@pytest.fixture
def target_url(database_template, database_url, request) -> str:
    if database_template.backend == "sqlite":
        return database_url
    return request.getfixturevalue("own_cluster").create_database(
        f"restored_{uuid.uuid4().hex[:8]}")


def lose_everything(ext, settings: Settings, database_url: str, request) -> None:
    """The data directory deleted and, for PostgreSQL, the database dropped."""
    lose_the_primary(ext, settings)
    if not database_url.startswith("sqlite"):
        request.getfixturevalue("own_cluster").drop_database(database_url.rsplit("/", 1)[1])


# --- the scheduler's minute ----------------------------------------------------------------------


def a_minute_passes(ext) -> datetime:
    """Replication and the database journal, as the scheduler runs them every minute; the
    moment the journal began to read the database."""
    began = datetime.now(UTC)
    for job in ("replication", "database_journal"):
        run = run_job(ext, job_named(job, BACKUP_JOBS))
        assert run.outcome == OK, run.summary
    return began


def records_of(ext) -> dict[str, list[tuple]]:
    """Every row of every table a user's work writes, in a comparable form."""
    tables = {}
    with ext.db.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name in SKIPPED_TABLES:
                continue
            columns = [column for column in table.columns
                       if column.name not in NOT_COMPARED.get(table.name, set())]
            rows = connection.execute(select(*columns)).all()
            tables[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    return tables


def audit_trail(ext) -> list[tuple]:
    with ext.db.transaction() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        return [(event.seq, event.action, event.hash, event.mac) for event in events]


# --- the test ----------------------------------------------------------------------------------


def test_a_restore_brings_back_every_action_up_to_the_last_journal_run(
    app, ext, people, settings, database_url, target_url, second_officer, request
):
    officer, clerk = people.principal("compliance"), people.principal("clerk")
    admin = people.principal("admin")
    with ext.db.transaction() as session:
        register_patient(session, SYSTEM, mrn="OLD-1", name="GONE, ADA", dob=date(1940, 3, 1))
        register_patient(session, SYSTEM, mrn="PT-1", name="ONE, ANN", dob=date(1960, 1, 2))
        save_policy(session, officer, "*", name="Adults ten years",
                    rules=Rules(after_last_encounter_years=10), source="AHIMA", reason="set up",
                    floors=FLOORS)
    old = file_chart(app, clerk, "OLD-1", OLD_CHART, date_of_service=date(2005, 4, 5))
    file_earlier(ext, old)
    run = run_job(ext, job_named("database_snapshot", BACKUP_JOBS))  # the nightly snapshot
    assert run.outcome == OK, run.summary

    # Minute 1: a new patient, corrected; charts filed; a rescan as a new version.
    with ext.db.transaction() as session:
        register_patient(session, SYSTEM, mrn="PT-2", name="TWO, BEN", dob=date(1970, 5, 6))
    edit_patient(ext, admin, "PT-2", name="TWO, BENJAMIN", dob=date(1970, 5, 6),
                 date_of_death=None, restricted=False, reason="name as on the passport")
    discharge = file_chart(app, clerk, "PT-1", DISCHARGE, date_of_service=date(2024, 1, 2))
    operative = file_chart(app, clerk, "PT-1", OPERATIVE, doc_type="operative_report")
    add_version(ext, clerk, document_id=discharge, reason="rescan, page was crooked",
                upload=Upload(io.BytesIO(text_pdf(DISCHARGE + ["Rescanned."])),
                              "rescan.pdf"))
    a_minute_passes(ext)

    # Minute 2: a correction, a misfiled chart moved, a QC flag reviewed, a hold placed.
    correct_metadata(ext, clerk, operative, doc_type="operative_report",
                     date_of_service=date(2024, 2, 3), department="Surgery",
                     reason="date from the operative note")
    reassign_patient(ext, clerk, operative, mrn="PT-2", reason="filed under the wrong patient")
    cardiology = file_chart(app, clerk, "PT-2", CARDIOLOGY, doc_type="consultation")
    with ext.db.transaction() as session:
        _total, flags = open_flags(session, clerk)
        review_flag(session, clerk, flags[0].id, "MRN checked against the wristband copy")
    hold = place(ext, officer, mrns=["PT-2"])
    a_minute_passes(ext)

    # Minute 3: a user added and disabled, a token revoked, the hold released, and the old
    # chart destroyed by an approved disposition.
    with ext.db.transaction() as session:
        create_user(session, Actor(admin.username), "temp1", "clerk", full_name="Temp Clerk")
        set_active(session, admin, "temp1", False)
        revoked = create_token(session, Actor("tests"), "staff1", "scanner")
        (scanner,) = [row for row in list_tokens(session, "staff1") if row.name == "scanner"]
        revoke_token(session, Actor(admin.username), scanner.id, "scanner lost")
    release_hold(ext, officer, hold.id, "case settled")
    with ext.db.transaction() as session:
        batch_id = sweep(session, today=date.today(), floors=FLOORS).batch_id
        old_uid = session.get(Document, old).uid
    approve_twice(ext, officer, second_officer, batch_id)
    assert execute_now(ext, officer, batch_id).destroyed == 1
    process_and_index(app)
    last_journal_run = a_minute_passes(ext)

    staff = people.principal("staff")
    expected, trail = records_of(ext), audit_trail(ext)
    digests = version_digests(ext, staff)
    answers = {query: found(app, people, query) for query in QUERIES}
    assert answers["cholecystectomy"] == [operative] and answers["xanthogranulomatous"] == []
    assert len(digests) == 4
    # After the last journal run, and lost with the database: the price of the RPO.
    with ext.db.transaction() as session:
        register_patient(session, SYSTEM, mrn="LATE-1", name="LATE, LOU", dob=date(1990, 1, 1))
    lose_everything(ext, settings, database_url, request)

    result = chartvault(environment(settings, target_url),
                        "restore", "--from", str(settings.replica_dir), "--yes")

    assert result.exit_code == 0, result.output
    replayed = (r"and 3 journal entries after it" if ext.db.is_sqlite
                else r"base backup of .* and \d+ WAL segments after it")
    assert re.search(replayed, result.output), result.output
    restored_to = re.search(r"Restored to: (\S+ \S+) UTC", result.output).group(1)
    assert datetime.fromisoformat(restored_to).replace(tzinfo=UTC) >= \
        last_journal_run.replace(microsecond=0)
    restored = open_restored(settings, target_url)
    again = restored.extensions["chartvault"]
    try:
        assert records_of(again) == expected
        assert audit_trail(again)[:len(trail)] == trail
        readers = People(again, {})
        assert version_digests(again, readers.principal("staff")) == digests
        assert {query: found(restored, readers, query) for query in QUERIES} == answers
        with again.db.transaction() as session:
            assert session.scalar(select(Patient).where(Patient.mrn == "LATE-1")) is None
            assert session.scalar(select(Document).where(Document.uid == old_uid)) is None
            assert session.get(Tombstone, old).state == "destroyed"
            assert principal_from_token(session, revoked, "tests") is None
            assert session.get(Document, cardiology) is not None
        # The chain verifies, and goes on from where it was.
        with again.db.transaction() as session:
            audit.record(session, Actor("tests"), "test.after_restore")
        assert chain_ok(again)
    finally:
        again.db.dispose()


def test_a_gap_in_the_journal_stops_the_restore_there_and_it_says_so(
    app, ext, people, settings, database_url, target_url, request
):
    clerk = people.principal("clerk")
    with ext.db.transaction() as session:
        register_patient(session, SYSTEM, mrn="PT-1", name="ONE, ANN", dob=date(1960, 1, 2))
    run_job(ext, job_named("database_snapshot", BACKUP_JOBS))
    charts, shipped = [], []
    for pages in (DISCHARGE, OPERATIVE, CARDIOLOGY):
        charts.append(file_chart(app, clerk, "PT-1", pages))
        before = set(ext.replica.list_keys("wal/") + ext.replica.list_keys("journal/"))
        if not ext.db.is_sqlite:
            with ext.db.engine.connect() as connection:  # the minute's WAL in a segment of its own
                connection.execute(text("SELECT pg_switch_wal()"))
        a_minute_passes(ext)
        shipped.append(set(ext.replica.list_keys("wal/") + ext.replica.list_keys("journal/"))
                       - before)
    for key in shipped[1]:  # the second minute's entry or WAL segments are lost
        for version in ext.replica.list_versions(key):
            ext.replica.delete_version(key, version.version_id)
    lose_everything(ext, settings, database_url, request)

    result = chartvault(environment(settings, target_url),
                        "restore", "--from", str(settings.replica_dir), "--yes")

    assert result.exit_code == 1, result.output
    assert re.search(r"INCOMPLETE: (journal entry 2 is missing|the WAL in the replica has a gap)",
                     result.output), result.output
    restored = open_restored(settings, target_url)
    again = restored.extensions["chartvault"]
    try:
        with again.db.transaction() as session:
            present = [session.get(Document, chart) is not None for chart in charts]
        assert present == [True, False, False]
    finally:
        again.db.dispose()


def test_the_readme_promises_the_recovery_point_the_schedule_keeps():
    """An action waits at most one period for each of the two jobs that carry it into the
    replica (its rows: the journal; its objects: replication); each run takes seconds."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    promised = int(re.search(r"\*\*Recovery point: (\d+) minutes\.\*\*", readme).group(1))
    for job_id in ("replication", "database_journal"):
        period = job_named(job_id, BACKUP_JOBS).trigger.interval
        assert period.total_seconds() * 2 <= promised * 60, job_id

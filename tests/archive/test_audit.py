"""The audit trail: MAC chain, tamper detection, the compliance page and its CSV export."""

from __future__ import annotations

import csv
import io
import json
import threading
import uuid

import pytest
from alembic import command
from flask import Flask
from sqlalchemy import create_engine, delete, insert, select, update
from sqlalchemy.orm import Session

from archive import audit, migrate
from archive.app import create_app
from archive.audit import GENESIS_HASH, Actor, compute_hash, compute_mac, verify_chain
from archive.config import Settings
from archive.db import Database
from archive.errors import AuditKeyError
from archive.models import AuditEvent, AuditHead, utcnow
from tests.conftest import login


def write_events(ext, n, actor="tests"):
    for i in range(n):
        audit.record_now(ext.db, Actor(actor, "pytest"), "test.event", details={"i": i})


def test_chain_of_events_verifies(ext):
    write_events(ext, 5)
    with ext.db.transaction() as session:
        report = verify_chain(session)
    assert report.ok and report.events_checked == 5


def test_edited_event_is_named_as_the_first_broken_one(ext):
    write_events(ext, 5)
    with ext.db.transaction() as session:
        session.execute(update(AuditEvent).where(AuditEvent.seq == 3)
                        .values(actor="someone-else"))
    with ext.db.transaction() as session:
        report = verify_chain(session)
    assert not report.ok and report.first_broken_seq == 3
    assert "changed" in report.problem


def test_deleted_event_in_the_middle_breaks_the_chain(ext):
    write_events(ext, 5)
    with ext.db.transaction() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.seq == 2))
    with ext.db.transaction() as session:
        report = verify_chain(session)
    assert not report.ok and report.first_broken_seq == 2


def test_deleted_newest_event_is_noticed(ext):
    write_events(ext, 4)
    with ext.db.transaction() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.seq == 4))
    with ext.db.transaction() as session:
        report = verify_chain(session)
    assert not report.ok and report.first_broken_seq == 4


# --- the keyed chain ------------------------------------------------------------------------------


def rewrite_from(ext, seq: int, remac) -> None:
    """The insider's attack: change event ``seq``, then make the chain from it on whole
    again with ``remac`` (each event's new hash), and move the head to the new last hash."""
    with ext.db.transaction() as session:
        prev = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq - 1))
        prev = prev or GENESIS_HASH
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.seq >= seq).order_by(AuditEvent.seq)).all()
        events[0].actor = "someone-else"
        for event in events:
            event.prev_hash = prev
            remac(event)
            prev = event.hash
        session.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=prev))


def plain_sha256(event):
    event.hash = compute_hash(event)


def plain_sha256_marked_unkeyed(event):
    event.mac = audit.SHA256
    event.hash = compute_hash(event)


def wrong_key(event):
    event.hash = compute_mac(event, b"a-key-that-is-not-the-archive-key!")


@pytest.mark.parametrize("remac", [plain_sha256, plain_sha256_marked_unkeyed, wrong_key])
def test_an_edited_event_with_the_chain_recomputed_and_the_head_moved_is_named(ext, remac):
    write_events(ext, 6)
    with ext.db.transaction() as session:
        assert verify_chain(session).ok

    rewrite_from(ext, 3, remac)

    with ext.db.transaction() as session:
        report = verify_chain(session)
    assert not report.ok
    assert (report.first_broken_seq, report.events_checked) == (3, 2)
    assert "without the audit key" in report.problem or "MAC does not match" in report.problem


def test_every_event_is_keyed_with_the_configured_key(ext):
    write_events(ext, 2)
    with ext.db.transaction() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        assert {event.mac for event in events} == {audit.HMAC_SHA256}
        assert all(event.hash == compute_mac(event, ext.db.audit_key) for event in events)
        # The same chain checked with another key fails at its first event.
        report = verify_chain(session, key=b"another-key-of-thirty-two-chars!!")
    assert (report.ok, report.first_broken_seq) == (False, 1)


def test_no_event_is_written_without_a_key(ext):
    write_events(ext, 1)
    with Session(ext.db.engine) as session, session.begin(), \
            pytest.raises(AuditKeyError, match="CHARTVAULT_AUDIT_KEY"):
        audit.record(session, Actor("tests"), "test.unkeyed")
    with ext.db.transaction() as session:
        assert session.scalar(select(AuditHead.last_seq)) == 1
        assert verify_chain(session).ok


def test_the_app_refuses_to_start_without_an_audit_key_outside_testing(tmp_path):
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/x.db",
                        secret_key="s" * 32)
    with pytest.raises(RuntimeError, match="CHARTVAULT_AUDIT_KEY"):
        create_app(settings)
    settings.audit_key = "too short"
    with pytest.raises(RuntimeError, match="at least 32"):
        create_app(settings)
    settings.audit_key = "k" * 32
    assert isinstance(create_app(settings), Flask)


@pytest.fixture
def database_at_0007(database_template, tmp_path, request):
    """An empty database migrated only to 0007: an installation from before keyed audit."""
    if database_template.backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    postgres = request.getfixturevalue("postgres")
    name = f"old_{uuid.uuid4().hex[:12]}"
    yield postgres.create_database(name)
    postgres.drop_database(name)


def test_old_unkeyed_events_keep_their_hashes_and_the_keyed_chain_continues(database_at_0007):
    engine = create_engine(database_at_0007)
    config = migrate._alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0007")
    # What the code before keyed audit wrote: plain SHA-256 links, no mac column yet.
    columns = [c for c in AuditEvent.__table__.columns if c.name not in ("id", "mac")]
    prev = GENESIS_HASH
    with engine.begin() as connection:
        for seq in (1, 2, 3):
            event = AuditEvent(seq=seq, ts=utcnow(), actor="old", action="legacy.event",
                               outcome="success", source="", reason="", details={"i": seq},
                               prev_hash=prev)
            event.hash = prev = compute_hash(event)
            connection.execute(insert(AuditEvent.__table__).values(
                {c.name: getattr(event, c.key) for c in columns}))
        connection.execute(update(AuditHead.__table__).values(last_seq=3, last_hash=prev))
    migrate.upgrade(engine)
    engine.dispose()
    db = Database(database_at_0007, audit_key=b"k" * 32)
    try:
        for _ in range(2):
            audit.record_now(db, Actor("new"), "keyed.event")
        with db.transaction() as session:
            assert session.scalars(select(AuditEvent.mac).order_by(AuditEvent.seq)).all() == [
                "sha256", "sha256", "sha256", "hmac-sha256", "hmac-sha256"]
            report = verify_chain(session)
        assert (report.ok, report.events_checked) == (True, 5)

        # An old event is still checked by its plain hash...
        with db.transaction() as session:
            session.execute(update(AuditEvent).where(AuditEvent.seq == 2).values(actor="x"))
        with db.transaction() as session:
            report = verify_chain(session)
        assert (report.ok, report.first_broken_seq) == (False, 2)
        assert "changed" in report.problem
    finally:
        db.dispose()


def test_a_keyed_event_rewritten_as_an_old_unkeyed_one_is_named(ext):
    write_events(ext, 5)

    rewrite_from(ext, 4, plain_sha256_marked_unkeyed)

    with ext.db.transaction() as session:
        report = verify_chain(session)
    assert (report.ok, report.first_broken_seq) == (False, 4)
    assert "plain SHA-256 although the events before it are keyed" in report.problem


def test_concurrent_writers_never_fork_the_chain(ext):
    threads = [threading.Thread(target=write_events, args=(ext, 10, f"t{n}")) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with ext.db.transaction() as session:
        report = verify_chain(session)
    assert report.ok and report.events_checked == 40


def test_audit_page_filters_and_paginates_for_compliance(client, people, ext):
    write_events(ext, 60, actor="scanner-7")
    login(client, "compliance1")
    page = client.get("/audit?actor=scanner-7").get_data(as_text=True)
    assert "60" in page and "scanner-7" in page
    second = client.get("/audit?actor=scanner-7&page=2")
    assert second.status_code == 200
    links = second.get_data(as_text=True)
    assert 'href="/audit?page=1&amp;actor=scanner-7"' in links  # filters kept across pages
    assert 'aria-current="page"><span class="visually-hidden">Page </span>2' in links
    assert client.get("/audit?actor=nobody").status_code == 200


def test_audit_csv_export_has_every_filtered_event_and_is_itself_audited(client, people, ext):
    write_events(ext, 3, actor="scanner-7")
    write_events(ext, 2, actor="other")
    login(client, "compliance1")
    response = client.get("/audit.csv?actor=scanner-7")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["actor"] for r in rows] == ["scanner-7"] * 3
    with ext.db.transaction() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
    assert "audit.export" in actions


def test_the_csv_export_streams_in_batches_with_details_as_json_and_counts_itself(
    client, people, ext, monkeypatch
):
    write_events(ext, 25, actor="scanner-7")
    monkeypatch.setattr(audit, "EXPORT_BATCH", 10)
    login(client, "compliance1")

    response = client.get("/audit.csv?actor=scanner-7")

    assert response.is_streamed
    chunks = [chunk.decode() for chunk in response.response]
    assert len(chunks) == 3  # 10 + 10 + 5 rows, the header with the first
    rows = list(csv.DictReader(io.StringIO("".join(chunks))))
    assert [json.loads(row["details"]) for row in rows] == [{"i": i} for i in range(25)]
    with ext.db.transaction() as session:
        (export,) = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "audit.export")).all()
    assert export.details == {"filters": {"actor": "scanner-7"}, "events": 25}
    everything = list(csv.DictReader(io.StringIO(client.get("/audit.csv").get_data(as_text=True))))
    # The second export holds the first one's event, but not its own.
    assert [row["action"] for row in everything].count("audit.export") == 1


def test_a_bad_date_in_an_audit_filter_is_a_400_that_names_it(client, people, ext):
    login(client, "compliance1")
    for url in ("/audit?from=2026-02-30", "/audit.csv?to=yesterday"):
        response = client.get(url)
        assert response.status_code == 400
        assert "must be a date written YYYY-MM-DD" in response.get_data(as_text=True)


def test_csv_cells_cannot_smuggle_spreadsheet_formulas(client, people, ext):
    audit.record_now(ext.db, Actor("=HYPERLINK(\"x\")", ""), "test.event")
    login(client, "compliance1")
    export = client.get("/audit.csv?action=test.event").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(export)))
    assert rows[0]["actor"].startswith("'=")


def test_audit_api_is_for_compliance_and_filters(client, people, ext):
    write_events(ext, 3, actor="scanner-7")
    response = client.get("/api/v1/audit?actor=scanner-7", headers=people.headers("compliance"))
    assert response.status_code == 200
    assert response.json["total"] == 3
    assert {e["actor"] for e in response.json["events"]} == {"scanner-7"}
    assert client.get("/api/v1/audit", headers=people.headers("staff")).status_code == 403

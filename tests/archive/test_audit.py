"""The audit trail: hash chain, tamper detection, the compliance page and its CSV export."""

from __future__ import annotations

import csv
import io
import threading

from sqlalchemy import delete, select, update

from archive import audit
from archive.audit import Actor, verify_chain
from archive.models import AuditEvent
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

"""From the database to the index: the outbox consumer loses nothing across crashes, a
rebuild gives the same answers and never leaves search without an index, a schema change
triggers a rebuild, and reconcile finds and repairs drift. Real worker, real index, both
databases."""

from __future__ import annotations

import io
import threading
from dataclasses import replace
from datetime import date

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from archive.cli import cli
from archive.interfaces import Upload
from archive.models import AuditEvent, Page
from archive.records.edits import reassign_patient
from archive.records.filing import add_document, add_version
from archive.records.patients import register_patient
from ingest.models import IndexOutbox
from ingest.worker import Worker
from search import indexer, open_index_of
from search.home import MARKER
from search.jobs import index_pending, rebuild
from search.models import ReconcileRun
from search.reconcile import request_run, run_requested
from tests.conftest import SYSTEM
from tests.search.charts import text_pdf
from tests.search.library import DISCHARGE, OPERATIVE, file_chart, found, process_and_index


def outbox_rows(ext) -> int:
    with ext.db.transaction() as session:
        return session.scalar(select(func.count(IndexOutbox.id)))


def test_filed_charts_are_found_once_the_worker_has_indexed_them(app, ext, people, library):
    assert found(app, people, "ceftriaxone") == [library["discharge"]]
    assert found(app, people, '"mitral regurgitation"') == [library["cardiology"]]
    assert outbox_rows(ext) == 0


class IndexThatCrashesBeforeCommit:
    """Fault injection: an index whose write dies before anything is committed."""

    def __init__(self, real):
        self.real = real

    def replace_documents(self, documents):
        raise OSError("disk went away")

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_a_crash_before_the_index_commits_keeps_the_outbox_rows(app, ext, people, patient):
    index = open_index_of(app)
    index_pending(ext, index)  # the (empty) index exists before the chart is filed
    clerk = people.principal("clerk")
    add_document(ext, clerk, mrn=patient, doc_type="discharge_summary",
                 upload=Upload(io.BytesIO(text_pdf(DISCHARGE)), "a.pdf"))
    while Worker(ext, worker_id="t").run_once():
        pass
    waiting = outbox_rows(ext)
    assert waiting > 0
    with pytest.raises(OSError):
        indexer.drain_outbox(ext.db, IndexThatCrashesBeforeCommit(index.get()))
    assert outbox_rows(ext) == waiting
    assert found(app, people, "ceftriaxone") == []
    index_pending(ext, index)  # the next pass does the work
    assert outbox_rows(ext) == 0
    assert len(found(app, people, "ceftriaxone")) == 1


def test_a_crash_after_the_index_commits_replays_to_the_same_result(
    app, ext, people, patient, monkeypatch
):
    clerk = people.principal("clerk")
    document_id = file_chart(app, clerk, patient, OPERATIVE, doc_type="operative_report")
    before = open_index_of(app).get().fingerprints()
    # The change is committed to the index, then the process dies before the rows go.
    with ext.db.transaction() as session:
        session.add(IndexOutbox(document_id=document_id, version_id=1, page_number=1))

    def crash(db, row_ids):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(indexer, "delete_outbox_rows", crash)
    with pytest.raises(KeyboardInterrupt):
        index_pending(ext, open_index_of(app))
    assert outbox_rows(ext) == 1
    monkeypatch.undo()
    index_pending(ext, open_index_of(app))
    assert outbox_rows(ext) == 0
    assert open_index_of(app).get().fingerprints() == before
    assert found(app, people, "cholecystectomy") == [document_id]


def test_load_documents_reads_each_version_with_pages_and_marks_only_the_newest_latest(
    app, ext, people, patient
):
    clerk = people.principal("clerk")
    document_id = file_chart(app, clerk, patient, OPERATIVE, DISCHARGE,
                             doc_type="operative_report", date_of_service=date(2024, 3, 5),
                             department="Surgery")
    add_version(ext, clerk, document_id=document_id, reason="rescan",
                upload=Upload(io.BytesIO(text_pdf(DISCHARGE)), "rescan.pdf"))

    def loaded():
        with ext.db.transaction() as session:
            return indexer.load_documents(session, [document_id, 424242])

    # Version 2 is still waiting for OCR: it has no pages to index, yet it is the newest.
    waiting = loaded()
    assert waiting[424242] == []  # a document that does not exist: removed from the index
    [first] = waiting[document_id]
    assert (first.version, first.latest) == (1, False)
    assert (first.mrn, first.patient_name, first.doc_type, first.department) == (
        patient, "DOE, JANE", "operative_report", "Surgery")
    assert first.date_of_service == date(2024, 3, 5) and first.restricted is False
    assert [page.number for page in first.pages] == [1, 2]
    assert "cholecystectomy" in first.pages[0].text.lower()

    process_and_index(app)
    versions = loaded()[document_id]
    assert [(v.version, v.latest, len(v.pages)) for v in versions] == [(1, False, 2), (2, True, 1)]
    assert versions[0].fingerprint == first.fingerprint  # the same content, the same digest
    assert versions[1].fingerprint != first.fingerprint


def test_reassigning_a_document_reindexes_it_under_the_new_mrn(app, ext, people, library):
    with ext.db.transaction() as session:
        register_patient(session, SYSTEM, mrn="MRN-2002", name="ROE, RICHARD", dob=date(1961, 4, 5))
    reassign_patient(ext, people.principal("clerk"), library["operative"], mrn="MRN-2002",
                     reason="Misfiled: the op note names Richard Roe.")
    process_and_index(app)
    assert found(app, people, "cholecystectomy", mrn="MRN-2002") == [library["operative"]]
    assert found(app, people, "cholecystectomy", mrn="MRN-1001") == []


def test_chartvault_reindex_rebuilds_and_is_audited(app, ext, library, monkeypatch):
    monkeypatch.setenv("CHARTVAULT_DATA_DIR", str(ext.settings.data_dir))
    monkeypatch.setenv("CHARTVAULT_DATABASE_URL", ext.settings.database_url)
    before = open_index_of(app).home.current_path()
    result = CliRunner().invoke(cli, ["reindex"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "3 documents" in result.output
    assert open_index_of(app).home.current_path() != before
    with ext.db.transaction() as session:
        assert session.scalar(select(func.count()).where(AuditEvent.action == "index.rebuild")) == 1


def test_search_keeps_answering_while_the_index_is_rebuilt(app, ext, people, library):
    stop = threading.Event()
    answers, errors = [], []

    def keep_searching():
        with app.app_context():
            while not stop.is_set():
                try:
                    answers.append(found(app, people, "pneumonia OR cardiology"))
                except Exception as err:  # noqa: BLE001 - collected for the assertion
                    errors.append(err)

    thread = threading.Thread(target=keep_searching)
    thread.start()
    try:
        for _ in range(3):
            rebuild(ext, open_index_of(app))
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert len(answers) > 3
    assert all(sorted(a) == sorted([library["discharge"], library["cardiology"]]) for a in answers)


def test_an_index_of_another_schema_version_is_rebuilt_by_the_indexer(app, ext, people, library):
    home = open_index_of(app).home
    marker = home.current_path() / MARKER
    marker.write_text(marker.read_text().replace(f'"schema_version": {home.schema_version}',
                                                 '"schema_version": 0'))
    old = home.current_path()
    assert "schema version 0" in home.rebuild_reason()
    index_pending(ext, open_index_of(app))
    assert home.rebuild_reason() is None
    assert home.current_path() != old
    assert found(app, people, "ceftriaxone") == [library["discharge"]]


def test_reconcile_finds_and_repairs_missing_stale_and_orphaned_documents(
    app, ext, people, library
):
    index = open_index_of(app)
    # Drift made behind the indexer's back: a document dropped from the index, a page
    # changed in the database without an outbox row, a document only the index knows.
    index.get().replace_documents({library["discharge"]: []})
    with ext.db.transaction() as session:
        session.execute(update(Page).where(Page.number == 1, Page.text.contains("Laparoscopic"))
                        .values(text="Open cholecystectomy converted from laparoscopic."))
    with ext.db.transaction() as session:
        ghost = indexer.load_documents(session, [library["cardiology"]])[library["cardiology"]]
    index.get().replace_documents({9999: [replace(v, document_id=9999) for v in ghost]})

    request_run(ext, people.principal("admin"))
    run_id = run_requested(ext, index)
    with ext.db.transaction() as session:
        run = session.get(ReconcileRun, run_id)
        assert run.status == "done"
        assert run.documents_checked == 3
        assert run.findings["missing"]["documents"] == [library["discharge"]]
        assert run.findings["stale"]["documents"] == [library["operative"]]
        assert run.findings["orphaned"]["documents"] == [9999]
        assert run.repaired == 3
    assert found(app, people, "ceftriaxone") == [library["discharge"]]
    assert found(app, people, '"open cholecystectomy"') == [library["operative"]]
    assert found(app, people, "echocardiogram") == [library["cardiology"]]
    assert run_requested(ext, index) is None  # nothing else was asked for

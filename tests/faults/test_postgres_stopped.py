"""PostgreSQL (the production database) stops: a real server of this module's own, stopped
with ``pg_ctl stop -m fast`` (every session cut at once) and started again on its port.

- A request that arrives while it is down is answered 503, saying the database does not
  answer and what to do; nothing is stored. Once it is back, the same app serves again.
- The database stops in the middle of an upload (a new document, or a new version of one),
  after the bytes were stored and before their rows were filed: 503, no row, and the stored
  bytes are deleted again.
- The database stops while the worker is in the middle of a document: the attempt is lost
  (its results are never written), the worker waits the outage out, and once the database
  is back the job is taken again and finishes, each page and derivative once.
"""

from __future__ import annotations

import io
import threading
import time
from datetime import date

import pytest
from sqlalchemy import func, select

from archive.app import create_app
from archive.config import Settings
from archive.interfaces import Upload
from archive.models import AuditEvent, Document, DocumentVersion, Page
from archive.records.filing import add_document
from archive.records.patients import register_patient
from archive.storage.filesystem import FilesystemStore
from ingest.models import Derivative, Job
from ingest.worker import Worker
from tests.conftest import SYSTEM, login
from tests.faults.checks import assert_archive_consistent, stored_objects
from tests.faults.conftest import MRN, blank_then_text_chart, people_of, post_scan
from tests.samples import pdf_bytes

WORKER_LEASE_SECONDS = 1.5  # the shortest the worker accepts, to keep the test short


@pytest.fixture
def pg_app(stoppable_database, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", database_url=stoppable_database,
                        ocr_workers=1)
    app = create_app(settings, testing=True)
    with app.extensions["chartvault"].db.transaction() as session:
        register_patient(session, SYSTEM, mrn=MRN, name="DOE, JANE", dob=date(1970, 1, 2))
    yield app
    app.extensions["chartvault"].db.dispose()


@pytest.fixture
def pg_people(pg_app):
    return people_of(pg_app, ("clerk", "staff"))


def assert_database_outage_answer(response) -> None:
    """503, saying the database does not answer and what to do about it."""
    assert response.status_code == 503, response.get_data(as_text=True)
    error = response.json["error"]
    assert error["code"] == "database_unavailable"
    assert "database" in error["message"] and "nothing was saved" in error["message"]
    assert "try again" in error["message"].lower()


def documents_in(ext) -> tuple[int, int]:
    with ext.db.transaction() as session:
        return (session.scalar(select(func.count()).select_from(Document)),
                session.scalar(select(func.count()).select_from(DocumentVersion)))


def test_requests_while_postgres_is_down_get_503_and_the_app_serves_again_after(
    pg_app, pg_people, own_postgres
):
    ext = pg_app.extensions["chartvault"]
    client = pg_app.test_client()
    created = post_scan(client, pg_people, pdf_bytes(["FIRST"]))
    assert created.status_code == 202
    document = f"/api/v1/documents/{created.json['id']}"
    before = stored_objects(ext.store)
    browser = pg_app.test_client()
    assert login(browser, "staff1").status_code == 302

    own_postgres.stop_server()

    assert_database_outage_answer(client.get(document, headers=pg_people.headers("staff")))
    assert_database_outage_answer(post_scan(client, pg_people, pdf_bytes(["SECOND"])))
    page = browser.get("/")  # a page: the same answer, for a user logged in before
    assert page.status_code == 503 and "database is not answering" in page.get_data(as_text=True)
    health = client.get("/api/v1/health")
    assert health.status_code == 503 and health.json["database"].startswith("unavailable")
    assert stored_objects(ext.store) == before  # the refused upload stored nothing

    own_postgres.start_server()

    assert client.get(document, headers=pg_people.headers("staff")).status_code == 200
    assert client.get("/api/v1/health").status_code == 200
    assert browser.get("/").status_code == 200
    assert documents_in(ext) == (1, 1)
    assert_archive_consistent(pg_app)


class StopsDatabaseAfterPut(FilesystemStore):
    """Fault injection (the stop itself is real): PostgreSQL stops right after the upload's
    original has been stored, before the rows that name it are filed."""

    def __init__(self, inner: FilesystemStore, cluster):
        self.__dict__.update(inner.__dict__)
        self._cluster = cluster

    def put(self, key, stream, **kwargs):
        stored = super().put(key, stream, **kwargs)
        self._cluster.stop_server()
        return stored


def test_postgres_stopped_between_storing_an_upload_and_filing_it_gives_503_and_keeps_nothing(
    pg_app, pg_people, own_postgres
):
    ext = pg_app.extensions["chartvault"]
    client = pg_app.test_client()
    assert post_scan(client, pg_people, pdf_bytes(["FIRST"])).status_code == 202
    real = ext.store
    ext.__dict__["store"] = StopsDatabaseAfterPut(real, own_postgres)

    assert_database_outage_answer(post_scan(client, pg_people, pdf_bytes(["SECOND"])))

    ext.__dict__["store"] = real
    own_postgres.start_server()
    assert documents_in(ext) == (1, 1)
    # No row names the second upload's original, so it must not stay in the store either.
    assert_archive_consistent(pg_app)


def test_postgres_stopped_between_storing_a_new_version_and_filing_it_gives_503_and_keeps_nothing(
    pg_app, pg_people, own_postgres
):
    ext = pg_app.extensions["chartvault"]
    client = pg_app.test_client()
    created = post_scan(client, pg_people, pdf_bytes(["FIRST"]))
    assert created.status_code == 202
    real = ext.store
    ext.__dict__["store"] = StopsDatabaseAfterPut(real, own_postgres)

    response = client.post(
        f"/api/v1/documents/{created.json['id']}/versions", headers=pg_people.headers("clerk"),
        content_type="multipart/form-data",
        data={"reason": "rescan", "file": (io.BytesIO(pdf_bytes(["FIRST, RESCANNED"])), "a.pdf")})
    assert_database_outage_answer(response)

    ext.__dict__["store"] = real
    own_postgres.start_server()
    assert documents_in(ext) == (1, 1)
    assert_archive_consistent(pg_app)  # the rescan's bytes are gone again too


def job_state(ext) -> tuple[str, int, int]:
    with ext.db.transaction() as session:
        job = session.scalar(select(Job))
        return job.status, job.progress_done, job.attempts


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.05)


def test_postgres_stopped_during_a_worker_job_is_waited_out_and_the_job_retried(
    pg_app, pg_people, own_postgres, tmp_path, caplog
):
    ext = pg_app.extensions["chartvault"]
    version = add_document(ext, pg_people.principal("clerk"), mrn=MRN, doc_type="progress_note",
                           upload=Upload(io.BytesIO(blank_then_text_chart(tmp_path)), "chart.pdf")
                           ).version
    worker = Worker(ext, worker_id="w1", lease_seconds=WORKER_LEASE_SECONDS, poll_seconds=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: job_state(ext)[1] >= 1, 60, "the first page")
        own_postgres.stop_server()  # while tesseract reads the second page
        # The clerk watching the progress meanwhile: told what is wrong, not a 500.
        assert_database_outage_answer(pg_app.test_client().get(
            f"/api/v1/documents/{version.document_id}", headers=pg_people.headers("clerk")))
        # The attempt fails, and so does recording its failure; the worker logs it and
        # keeps polling (not a message the product acts on: only the test waits for it).
        wait_for(lambda: any(r.name == "ingest.worker" and "could not take a job" in r.message
                             for r in caplog.records), 30, "the worker to give the attempt up")
        own_postgres.start_server()
        wait_for(lambda: job_state(ext)[0] == "done", 30, "the job to be taken again")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()

    assert job_state(ext) == ("done", 2, 2)  # the second attempt did it
    with ext.db.transaction() as session:
        assert session.get(Document, version.document_id).status == "ready"
        numbers = session.scalars(select(Page.number).where(Page.version_id == version.id)
                                  .order_by(Page.number)).all()
        derivatives = session.scalar(select(func.count(Derivative.id)))
        outcomes = session.scalars(select(AuditEvent.outcome)
                                   .where(AuditEvent.action == "document.ocr")).all()
    assert numbers == [1, 2]
    assert derivatives == 1 + 2 + 2  # searchable PDF, page images, thumbnails
    assert outcomes == ["success"]  # the lost attempt wrote nothing, not even its failure
    assert_archive_consistent(pg_app)

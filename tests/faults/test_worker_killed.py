"""A worker killed with SIGKILL in the middle of a document: once its lease expires another
worker takes the job over and finishes it, with no duplicate pages or derivatives."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

from sqlalchemy import func, select

from archive.models import Document, Page
from ingest.models import Derivative, Job
from ingest.worker import Worker
from tests.ingest import scans
from tests.ingest.queue_handlers import work_until_killed

LEASE_SECONDS = 4


def job_state(ext):
    with ext.db.transaction() as session:
        job = session.scalar(select(Job))
        return job.status, job.progress_done, job.attempts


def test_sigkilled_worker_mid_document_is_finished_by_another(ext, filed, tmp_path):
    chart = scans.scanned_chart().save_pdf(tmp_path / "chart.pdf")
    version = filed(data=chart.read_bytes())
    doomed = multiprocessing.get_context("spawn").Process(
        target=work_until_killed,
        args=(ext.settings.database_url, str(ext.settings.data_dir), "doomed", LEASE_SECONDS))
    doomed.start()
    deadline = time.monotonic() + 120
    while job_state(ext)[1] < 1:  # at least one page read, the rest still to come
        assert time.monotonic() < deadline and doomed.is_alive()
        time.sleep(0.05)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.join()
    status, done, attempts = job_state(ext)
    assert status == "running" and done < 4 and attempts == 1

    rescuer = Worker(ext, worker_id="rescuer", lease_seconds=LEASE_SECONDS)
    while not rescuer.run_once():  # nothing to take until the dead worker's lease expires
        assert time.monotonic() < deadline
        time.sleep(0.2)

    assert job_state(ext) == ("done", 4, 2)
    with ext.db.transaction() as session:
        assert session.get(Document, version.document_id).status == "ready"
        numbers = session.scalars(select(Page.number).where(Page.version_id == version.id)
                                  .order_by(Page.number)).all()
        derivatives = session.scalar(select(func.count(Derivative.id))
                                     .where(Derivative.version_id == version.id))
    assert numbers == [1, 2, 3, 4]
    assert derivatives == 1 + 4 + 4  # searchable PDF, page images, thumbnails

"""Fault injection with a fake ``tesseract`` on PATH: an OCR engine that crashes. The job
is retried, then marked failed with a reason a clerk can act on; nothing half-written."""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import func, select

from archive.models import AuditEvent, Document, Page
from ingest.models import Derivative, Job
from ingest.services import retry_document
from ingest.worker import Worker
from tests.faults.checks import assert_archive_consistent

FAKE_ENGINES = {
    "exits_with_an_error": "echo 'Error in pixReadMem: ??? corrupted ###' >&2\nexit 1\n",
    "dies_of_a_segfault": "kill -SEGV $$\n",
}


@pytest.fixture(params=sorted(FAKE_ENGINES))
def crashing_tesseract(request, tmp_path, monkeypatch, ext):
    fake = tmp_path / "bin" / "tesseract"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n" + FAKE_ENGINES[request.param])
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    # In-process OCR, so the fake is what this process's PATH finds.
    monkeypatch.setattr(ext.settings, "ocr_workers", 1)
    return request.param


def test_crashing_ocr_engine_fails_the_job_cleanly(app, ext, filed, crashing_tesseract):
    version = filed(["DISCHARGE SUMMARY", "Patient: DOE, JANE"])
    worker = Worker(ext, worker_id="w1")
    while worker.run_once():
        pass
    with ext.db.transaction() as session:
        job = session.scalar(select(Job))
        assert (job.status, job.attempts) == ("failed", 3)
        assert "OCR engine" in job.last_error and "rescan" in job.last_error
        assert "pixReadMem" not in job.last_error  # the engine's own noise stays in the log
        assert session.get(Document, version.document_id).status == "failed"
        for model in (Page, Derivative):
            assert session.scalar(select(func.count()).select_from(model)) == 0
        outcomes = session.scalars(select(AuditEvent.outcome)
                                   .where(AuditEvent.action == "document.ocr")).all()
    assert outcomes == ["retrying", "retrying", "failed"]
    assert_archive_consistent(app)


def test_retry_after_the_engine_is_fixed_succeeds(app, ext, filed, crashing_tesseract,
                                                  monkeypatch, people):
    version = filed(["DISCHARGE SUMMARY", "Patient: DOE, JANE"])
    worker = Worker(ext, worker_id="w1")
    while worker.run_once():
        pass
    monkeypatch.undo()  # the real tesseract is back
    with ext.db.transaction() as session:
        retry_document(session, people.principal("clerk"), version.document_id)
    assert worker.run_once()
    with ext.db.transaction() as session:
        assert session.get(Document, version.document_id).status == "ready"
    assert_archive_consistent(app)

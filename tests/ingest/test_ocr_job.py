"""The OCR job end to end on real tesseract: a filed chart becomes pages, derivatives, QC
flags and index-outbox rows, and running the job again changes nothing."""

from __future__ import annotations

import subprocess

import pytest
from sqlalchemy import select

from archive.models import AuditEvent, Document, Page
from ingest import queue
from ingest.models import Derivative, IndexOutbox, Job, QcFlag
from ingest.worker import Worker
from tests.conftest import login
from tests.ingest import scans


@pytest.fixture(scope="module")
def chart_pdf(tmp_path_factory):
    return scans.scanned_chart().save_pdf(tmp_path_factory.mktemp("chart") / "chart.pdf")


def rows(ext, model, *where):
    with ext.db.transaction() as session:
        return session.scalars(select(model).where(*where)).all()


def snapshot(ext, version_id):
    pages = [(p.number, p.text, p.blank, p.rotation, p.confidence, p.skew, p.straightened)
             for p in rows(ext, Page, Page.version_id == version_id)]
    derivatives = sorted((d.kind, d.page_number, d.object_key, d.store_version_id, d.sha256)
                         for d in rows(ext, Derivative, Derivative.version_id == version_id))
    outbox = sorted((o.version_id, o.page_number, o.op) for o in rows(ext, IndexOutbox))
    flags = sorted((f.kind, f.page_number, f.detail) for f in rows(ext, QcFlag))
    return pages, derivatives, outbox, flags


def test_a_filed_chart_is_read_into_pages_derivatives_flags_and_outbox(ext, filed, chart_pdf):
    version = filed(data=chart_pdf.read_bytes())
    assert Worker(ext, worker_id="w1").run_once()

    [document] = rows(ext, Document)
    assert document.status == "ready"
    [job] = rows(ext, Job)
    assert (job.status, job.progress_done, job.progress_total) == ("done", 4, 4)

    pages, derivatives, outbox, flags = snapshot(ext, version.id)
    assert [(n, blank) for n, _t, blank, *_ in pages] == [
        (1, False), (2, False), (3, True), (4, False)]
    assert pages[scans.ScannedChart.UPSIDE_DOWN - 1][3] == 180
    # stored per page: the skew measured (none on the blank back), and whether it was
    # straightened (beyond skew.STRAIGHTEN_ABOVE: the pages fed 1.2 and 1.5 degrees askew)
    assert [(skew is None, straightened) for *_, skew, straightened in pages] == [
        (False, False), (False, True), (True, False), (False, True)]
    assert scans.recall(scans.scanned_chart().texts[0], pages[0][1]) >= 0.97
    assert [kind for kind, *_ in derivatives].count("page_image") == 4
    assert [kind for kind, *_ in derivatives].count("thumbnail") == 4
    assert outbox == [(version.id, n, "upsert") for n in (1, 2, 3, 4)]
    assert ("blank_page", 3) in [(kind, page) for kind, page, _d in flags]
    assert "mrn_mismatch" in [kind for kind, *_ in flags]  # the chart says MRN 00482913

    [searchable] = [d for d in derivatives if d[0] == "searchable_pdf"]
    pdf = b"".join(ext.store.open(searchable[2], searchable[3], expected_sha256=searchable[4]))
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()
    assert scans.recall(scans.scanned_chart().texts[3], text) >= 0.97

    with ext.db.transaction() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "document.ocr"))
        assert event.details["pages"] == 4 and event.details["blank_pages"] == 1
        assert session.get(type(version), version.id).extracted["mrns"] == ["00482913"]


def test_running_the_job_twice_leaves_exactly_the_same_rows(ext, filed, chart_pdf):
    version = filed(data=chart_pdf.read_bytes())
    worker = Worker(ext, worker_id="w1")
    assert worker.run_once()
    first = snapshot(ext, version.id)
    with ext.db.transaction() as session:
        queue.enqueue(session, "ocr", session.get(type(version), version.id))
    assert worker.run_once()
    assert snapshot(ext, version.id) == first


def test_searchable_pdf_downloads_verified_and_audited(ext, filed, chart_pdf, client, people):
    version = filed(data=chart_pdf.read_bytes())
    not_yet = client.get(f"/api/v1/documents/{version.document_id}/versions/1/searchable.pdf",
                         headers=people.headers("staff"))
    assert not_yet.status_code == 404
    assert "no searchable PDF of version 1" in not_yet.json["error"]["message"]
    assert "try again once OCR has finished" in not_yet.json["error"]["message"]
    assert Worker(ext, worker_id="w1").run_once()
    response = client.get(f"/api/v1/documents/{version.document_id}/versions/1/searchable.pdf",
                          headers=people.headers("staff"))
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")
    # Each page's measured skew, and whether it was straightened, is in the API answer
    # (the chart's pages were fed 0.8, -1.2 and 1.5 degrees askew; page 3 is blank).
    pages = client.get(f"/api/v1/documents/{version.document_id}",
                       headers=people.headers("staff")).json["pages"]
    assert [page["skew"] is None for page in pages] == [False, False, True, False]
    assert [abs(page["skew"] or 0) == pytest.approx(truth, abs=0.3)
            for page, truth in zip(pages, (0.8, 1.2, 0, 1.5), strict=True)] == [True] * 4
    assert [page["straightened"] for page in pages] == [False, True, False, True]
    login(client, "staff1")
    web = client.get(f"/documents/{version.document_id}").get_data(as_text=True)
    assert web.count("Straightened ") == 2  # pages 2 and 4, with the degrees
    text = subprocess.run(["pdftotext", "-", "-"], input=response.data, capture_output=True,
                          check=True).stdout.decode()
    assert "HOLLOWAY" in text
    with ext.db.transaction() as session:
        kinds = [e.details.get("kind") for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action == "document.download"))]
    assert kinds == ["searchable_pdf"]
    clerk = client.get(f"/api/v1/documents/{version.document_id}/versions/1/searchable.pdf",
                       headers=people.headers("clerk"))
    assert clerk.status_code == 403

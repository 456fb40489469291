"""A small archive of filed, processed and indexed charts for the search tests: filed
through the real service, read by the real worker (text-layer PDFs, so no OCR wait) and
indexed by the real outbox consumer."""

from __future__ import annotations

import io
from datetime import date

from archive.interfaces import Upload
from archive.records.filing import add_document
from ingest.worker import Worker
from search import open_index_of
from search.jobs import index_pending
from search.service import SearchRequest, search
from tests.search.charts import text_pdf

DISCHARGE = [
    "DISCHARGE SUMMARY",
    "Admitted with community acquired pneumonia of the right lower lobe.",
    "Treated with intravenous ceftriaxone and azithromycin.",
]
OPERATIVE = [
    "OPERATIVE REPORT",
    "Laparoscopic cholecystectomy under general anesthesia.",
    "Estimated blood loss minimal. No complications.",
]
CARDIOLOGY = [
    "CARDIOLOGY CONSULTATION",
    "Echocardiogram shows mild mitral regurgitation.",
    "Recommend cardiology follow up in six weeks.",
]


def file_chart(
    app,
    clerk,
    mrn: str,
    *pages: list[str],
    doc_type: str = "discharge_summary",
    date_of_service: date | None = None,
    department: str | None = None,
) -> int:
    """File a chart of ``pages``, process it and index it; the document's id."""
    filing = add_document(
        app.extensions["chartvault"],
        clerk,
        mrn=mrn,
        doc_type=doc_type,
        upload=Upload(io.BytesIO(text_pdf(*pages)), "chart.pdf"),
        date_of_service=date_of_service,
        department=department,
    )
    process_and_index(app)
    return filing.version.document_id


def process_and_index(app) -> None:
    """Run every queued job, then index everything the outbox names."""
    ext = app.extensions["chartvault"]
    worker = Worker(ext, worker_id="tests")
    while worker.run_once():
        pass
    index_pending(ext, open_index_of(app))


def found(app, people, q: str, **filters) -> list[int]:
    """The ids of the documents a staff member's search finds, best first."""
    ext = app.extensions["chartvault"]
    page = search(ext, open_index_of(app), people.principal("staff"), SearchRequest(q=q, **filters))
    return [hit.document_id for hit in page.results.hits]

"""Batch intake end to end, on both databases: a generated stack of three patients' charts
with printed cover sheets goes through the API, the worker splits it at the sheets (real
zxing-cpp on real rasterised scans) and files each part through the filing service; the
damaged sheet's part and the unknown patient's part are left unidentified; uploading the
stack again files nothing twice."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pikepdf
import pytest
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import delete, func, select

from archive.cli import cli
from archive.models import AuditEvent, Document, DocumentVersion, Patient
from archive.records.patients import register_patient
from ingest.batches import splitting
from ingest.batches.models import Batch, BatchPart
from ingest.worker import Worker
from tests.conftest import SYSTEM
from tests.ingest.batches.stacks import (
    cover,
    mixed_stack,
    multipart,
    report,
    scanned,
    separator,
)


@pytest.fixture(scope="module")
def stack():
    return mixed_stack()


@pytest.fixture
def patients(ext, patient):
    with ext.db.transaction() as session:
        for mrn, name in (("MRN-2002", "ROE, RICHARD"), ("MRN-3003", "POE, PAULA")):
            register_patient(session, SYSTEM, mrn=mrn, name=name, dob=date(1960, 5, 6))
    return ("MRN-1001", "MRN-2002", "MRN-3003")


def upload(client, people, data: bytes, name="stack.pdf"):
    return client.post("/api/v1/batches", headers=people.headers("clerk"),
                       **multipart(data, name))


def split_only(ext) -> None:
    """Run the worker until the batch is split (its parts' OCR jobs stay queued)."""
    worker = Worker(ext, worker_id="w1")
    assert worker._split_next_batch()


def documents(ext):
    with ext.db.transaction() as session:
        rows = session.execute(
            select(Document.id, Patient.mrn, Document.doc_type).join(Patient)
            .order_by(Document.id)).all()
        return [tuple(row) for row in rows]


def original_of(ext, document_id: int, tmp_path: Path) -> Path:
    with ext.db.transaction() as session:
        version = session.scalars(
            select(DocumentVersion).where(DocumentVersion.document_id == document_id)).one()
        key, version_id = version.object_key, version.store_version_id
    path = tmp_path / f"document-{document_id}"
    path.write_bytes(b"".join(ext.store.open(key, version_id)))
    return path


def test_a_stack_is_split_at_its_cover_sheets_and_each_part_filed(
        ext, client, people, patients, stack, tmp_path):
    answer = upload(client, people, stack.pdf)
    assert answer.status_code == 202, answer.get_json()
    batch_id = answer.get_json()["id"]
    assert client.get(f"/api/v1/batches/{batch_id}",
                      headers=people.headers("clerk")).get_json()["status"] == "processing"

    split_only(ext)
    batch = client.get(f"/api/v1/batches/{batch_id}", headers=people.headers("clerk")).get_json()
    filed = [(d["mrn"], d["type"], tuple(d["pages"])) for d in batch["documents"]]
    assert filed == list(stack.filed)
    assert [tuple(u["pages"]) for u in batch["unidentified"]] == list(stack.unidentified)
    assert "could not be read" in batch["unidentified"][0]["reason"]
    assert "MRN-9999" in batch["unidentified"][1]["reason"]
    # Nothing of the unidentified parts went to a patient: only the five readable parts.
    assert [(mrn, kind) for _, mrn, kind in documents(ext)] == [(m, t) for m, t, _ in stack.filed]
    # The sheets and their blank backs are not pages of the documents.
    for document, (_, _, pages) in zip(batch["documents"], stack.filed, strict=True):
        path = original_of(ext, document["id"], tmp_path)
        with pikepdf.open(path) as pdf:
            assert len(pdf.pages) == len(pages)
        readings = splitting.read_stack(path, "application/pdf")
        assert not any(r.is_sheet or r.blank for r in readings)
    # Each document names the batch and the pages of the stack it came from.
    document = client.get(f"/api/v1/documents/{batch['documents'][0]['id']}",
                          headers=people.headers("clerk")).get_json()
    assert document["batch_origin"] == {"batch": batch_id, "part": 1, "pages": [3, 4],
                                        "encounter": "E-17"}


def test_uploading_the_same_stack_again_files_nothing_twice(
        ext, client, people, patients, stack):
    first = upload(client, people, stack.pdf).get_json()["id"]
    split_only(ext)
    before = documents(ext)
    again = upload(client, people, stack.pdf, name="rescan-name.pdf")
    assert again.status_code == 200
    assert again.get_json()["id"] == first and again.get_json()["duplicate"] is True
    assert not Worker(ext, worker_id="w1")._split_next_batch()
    assert documents(ext) == before
    with ext.db.transaction() as session:
        assert session.scalar(select(func.count(Batch.id))) == 1


def test_a_split_interrupted_after_filing_is_retried_without_filing_twice(
        ext, client, people, patients, stack):
    """Fault injection: the documents were filed but the worker died before it recorded
    the parts and the split (rows removed by hand, batch back in the queue as an expired
    lease leaves it); the next worker records them and files nothing twice."""
    batch_id = upload(client, people, stack.pdf).get_json()["id"]
    split_only(ext)
    before = documents(ext)
    with ext.db.transaction() as session:
        session.execute(delete(BatchPart))
        batch = session.get(Batch, batch_id)
        batch.status, batch.lease_owner = "queued", None
    split_only(ext)
    assert documents(ext) == before
    answer = client.get(f"/api/v1/batches/{batch_id}", headers=people.headers("clerk"))
    assert [d["id"] for d in answer.get_json()["documents"]] == [d for d, _, _ in before]


def test_parts_are_read_by_ocr_and_the_batch_is_done(ext, client, people, patients, stack):
    batch_id = upload(client, people, stack.pdf).get_json()["id"]
    worker = Worker(ext, worker_id="w1")
    while worker.run_once():
        pass
    batch = client.get(f"/api/v1/batches/{batch_id}", headers=people.headers("clerk")).get_json()
    assert batch["status"] == "done"
    assert {d["status"] for d in batch["documents"]} == {"ready"}
    with ext.db.transaction() as session:
        pages = session.scalar(
            select(func.sum(DocumentVersion.page_count)))
        actions = set(session.scalars(select(AuditEvent.action)))
    assert pages == sum(len(p) for _, _, p in stack.filed)
    assert {"batch.upload", "batch.split", "batch.view"} <= actions


def test_a_file_that_is_not_a_stack_is_refused_with_a_reason(ext, client, people, patients):
    answer = upload(client, people, b"\x89PNG\r\n\x1a\n" + b"0" * 64, name="page.png")
    assert answer.status_code == 415
    assert "PDF or multi-page TIFF" in answer.get_json()["error"]["message"]
    missing = client.post("/api/v1/batches", headers=people.headers("clerk"))
    assert missing.status_code == 400 and "'file'" in missing.get_json()["error"]["message"]
    with ext.db.transaction() as session:
        assert session.scalar(select(func.count(Batch.id))) == 0


def test_a_bitonal_tiff_stack_is_split_into_tiff_documents(ext, client, people, patients,
                                                            tmp_path):
    frames = [scanned(cover("MRN-2002", "consultation", dpi=300), 21, skew=3, bitonal=True),
              scanned(report("CONSULTATION", 300), 22, bitonal=True),
              scanned(separator(300), 23, upside_down=True, bitonal=True),
              scanned(report("SECOND CONSULTATION", 300), 24, bitonal=True),
              scanned(report("ITS SECOND PAGE", 300), 25, bitonal=True)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "TIFF", save_all=True, append_images=frames[1:], dpi=(300, 300),
                   compression="group4")
    batch_id = upload(client, people, buffer.getvalue(), name="stack.tif").get_json()["id"]
    split_only(ext)
    batch = client.get(f"/api/v1/batches/{batch_id}", headers=people.headers("clerk")).get_json()
    assert [(d["mrn"], d["type"], d["pages"]) for d in batch["documents"]] == [
        ("MRN-2002", "consultation", [2]), ("MRN-2002", "consultation", [4, 5])]
    path = original_of(ext, batch["documents"][1]["id"], tmp_path)
    with Image.open(path) as image:
        assert image.format == "TIFF" and image.n_frames == 2
        assert image.info["compression"] == "group4"


def test_chartvault_import_batch_queues_each_stack_once(database_url, patients, stack,
                                                       tmp_path, monkeypatch):
    monkeypatch.setenv("CHARTVAULT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CHARTVAULT_DATABASE_URL", database_url)
    (tmp_path / "stack.pdf").write_bytes(stack.pdf)
    (tmp_path / "note.txt").write_bytes(b"not a scan")
    result = CliRunner().invoke(cli, ["import", "--batch", str(tmp_path / "stack.pdf"),
                                      str(tmp_path / "stack.pdf"), str(tmp_path / "note.txt")])
    assert result.exit_code == 1, result.output  # the text file was refused
    assert "queued as batch 1" in result.output and "already uploaded as batch 1" in result.output
    assert "note.txt" in result.output and "rejected" in result.output
    mixed = CliRunner().invoke(cli, ["import", "--batch", "--mrn", "MRN-1001",
                                     str(tmp_path / "stack.pdf")])
    assert mixed.exit_code == 2 and "leave out --mrn" in mixed.output

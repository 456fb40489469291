"""Exactly one document per scan and patient, however many clients upload it at the same
moment (issue 16): the database decides the race, on SQLite and on PostgreSQL.

Each test ends in a burst of uploads released together by a barrier, so each fails when the
uniqueness of (patient, SHA-256) is not enforced: the check before storing cannot see a
filing that has not committed yet."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import TypeVar
from urllib.parse import urlsplit

from sqlalchemy import func, select

from archive.errors import ObjectLocked
from archive.interfaces import Upload
from archive.models import AuditEvent, Document, DocumentVersion, Patient, PatientScan
from archive.records.edits import reassign_patient
from archive.records.filing import Filing, add_document, add_version
from archive.records.patients import register_patient
from ingest.models import Job
from retention.destruction import erase_document_rows
from tests.conftest import SYSTEM
from tests.live import serving
from tests.samples import pdf_bytes

CLIENTS = 20
OTHER = "MRN-2002"
T = TypeVar("T")


def together(work: list[Callable[[], T]]) -> list[T]:
    """Run every callable in its own thread, all released at once; their results in order.
    A failure in any thread (e.g. SQLite's "database is locked") fails the test."""
    barrier = threading.Barrier(len(work))

    def run(job: Callable[[], T]) -> T:
        barrier.wait(timeout=60)
        return job()

    with ThreadPoolExecutor(len(work)) as pool:
        return list(pool.map(run, work))


def burst(ext, principal, uploads: list[tuple[str, bytes]]) -> list[Filing]:
    """File every (mrn, bytes) at the same moment, each from its own stream."""

    def filer(number: int, mrn: str, data: bytes) -> Callable[[], Filing]:
        return lambda: add_document(ext, principal, mrn=mrn, doc_type="discharge_summary",
                                    upload=Upload(io.BytesIO(data), f"scan-{number}.pdf"))

    return together([filer(n, mrn, data) for n, (mrn, data) in enumerate(uploads)])


def file_once(ext, principal, mrn: str, data: bytes) -> Filing:
    return add_document(ext, principal, mrn=mrn, doc_type="discharge_summary",
                        upload=Upload(io.BytesIO(data), "scan.pdf"))


def documents_with(ext, mrn: str, data: bytes) -> list[int]:
    """The ids of the patient's documents that have a version with these bytes."""
    with ext.db.transaction() as session:
        return list(session.scalars(
            select(Document.id).distinct().join(DocumentVersion).join(Patient)
            .where(Patient.mrn == mrn, DocumentVersion.sha256 == sha256_of(data))
            .order_by(Document.id)
        ))


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def one_new_document(filings: list[Filing]) -> int:
    """The one filing that created a document; every other names it as the duplicate."""
    new = [f.version.document_id for f in filings if not f.duplicate]
    assert len(new) == 1, f"{len(new)} documents filed for one scan"
    assert {f.version.document_id for f in filings if f.duplicate} <= set(new)
    return new[0]


def count(ext, statement) -> int:
    with ext.db.transaction() as session:
        return session.scalar(statement)


def register(ext, mrn: str, name: str) -> str:
    with ext.db.transaction() as session:
        register_patient(session, SYSTEM, mrn=mrn, name=name, dob=date(1980, 3, 4))
    return mrn


def test_twenty_concurrent_uploads_of_one_scan_file_one_document(ext, people, patient):
    data = pdf_bytes(["DISCHARGE SUMMARY", "uploaded by twenty clients"])
    filings = burst(ext, people.principal("clerk"), [(patient, data)] * CLIENTS)

    document_id = one_new_document(filings)
    assert sum(f.duplicate for f in filings) == CLIENTS - 1
    assert {f.version.document_id for f in filings} == {document_id}
    assert documents_with(ext, patient, data) == [document_id]
    assert count(ext, select(func.count()).select_from(Document)) == 1
    # Nothing of the losers survives: one OCR job, one creation event, and their stored
    # objects deleted again (only the winner's original is in the store).
    assert count(ext, select(func.count()).select_from(Job)) == 1
    assert count(ext, select(func.count(Job.id)).where(Job.document_id == document_id)) == 1
    actions = select(func.count(AuditEvent.id)).where
    assert count(ext, actions(AuditEvent.action == "document.create")) == 1
    assert count(ext, actions(AuditEvent.action == "document.duplicate")) == CLIENTS - 1
    with ext.db.transaction() as session:
        key = session.scalar(select(DocumentVersion.object_key))
    assert ext.store.list_keys("documents/") == [key]


def test_when_every_upload_stores_before_any_commits_the_losers_objects_go(
    ext, people, patient, monkeypatch, caplog
):
    """A store slow enough that all twenty uploads pass the check and store their copy
    before any commits: nineteen lose at the database. Each loser deletes its object again;
    one the store will not delete (an object-lock bucket's default retention) is left, and
    logged, as nothing else would find it."""
    store = ext.store
    everyone_stored = threading.Barrier(CLIENTS)
    put = store.put

    def slow_put(*args, **kwargs):
        stored = put(*args, **kwargs)
        everyone_stored.wait(timeout=60)
        return stored

    def refuse(key: str, version_id: str) -> None:
        raise ObjectLocked(f"Version {version_id} of {key} is under retention.")

    monkeypatch.setattr(store, "put", slow_put)
    monkeypatch.setattr(store, "delete_version", refuse)
    data = pdf_bytes(["RADIOLOGY REPORT", "stored twenty times"])
    with caplog.at_level(logging.WARNING, logger="archive.records.filing"):
        filings = burst(ext, people.principal("clerk"), [(patient, data)] * CLIENTS)

    document_id = one_new_document(filings)
    assert {f.version.document_id for f in filings} == {document_id}
    assert documents_with(ext, patient, data) == [document_id]
    assert len(store.list_keys("documents/")) == CLIENTS
    left = [r for r in caplog.records if "left in the store" in r.getMessage()]
    assert len(left) == CLIENTS - 1


def multipart(fields: dict[str, str], data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        .encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="scan.pdf"'
        "\r\nContent-Type: application/pdf\r\n\r\n".encode() + data + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def test_twenty_concurrent_api_uploads_answer_one_202_and_nineteen_duplicates(
    app, ext, people, patient
):
    data = pdf_bytes(["OPERATIVE REPORT", "posted by twenty clients"])
    body, content_type = multipart({"mrn": patient, "type": "operative_report"}, data)

    def post(base: str) -> Callable[[], tuple[int, dict]]:
        def send() -> tuple[int, dict]:
            connection = http.client.HTTPConnection(urlsplit(base).netloc, timeout=120)
            try:
                connection.request("POST", "/api/v1/documents", body=body, headers={
                    **people.headers("clerk"), "Content-Type": content_type})
                response = connection.getresponse()
                return response.status, json.loads(response.read())
            finally:
                connection.close()

        return send

    with serving(app, "waitress") as base:
        answers = together([post(base) for _ in range(CLIENTS)])

    created = [answer for status, answer in answers if status == 202]
    assert len(created) == 1, [status for status, _ in answers]
    document_id = created[0]["id"]
    duplicates = [answer for status, answer in answers if status == 200]
    assert len(duplicates) == CLIENTS - 1
    assert {answer["duplicate_of"] for answer in duplicates} == {document_id}
    assert {answer["sha256"] for _, answer in answers} == {sha256_of(data)}
    assert documents_with(ext, patient, data) == [document_id]
    assert count(ext, select(func.count()).select_from(Job)) == 1


def test_the_same_scan_for_two_patients_at_once_files_one_document_each(ext, people, patient):
    other = register(ext, OTHER, "ROE, RICHARD")
    data = pdf_bytes(["LAB RESULTS", "filed for two patients"])
    uploads = [(patient, data), (other, data)] * (CLIENTS // 2)
    filings = burst(ext, people.principal("clerk"), uploads)

    for mrn in (patient, other):
        filed = [f for (m, _), f in zip(uploads, filings, strict=True) if m == mrn]
        document_id = one_new_document(filed)
        assert documents_with(ext, mrn, data) == [document_id]
    assert count(ext, select(func.count()).select_from(Document)) == 2


def test_a_moved_document_takes_its_scan_to_the_new_patient(ext, people, patient):
    clerk = people.principal("clerk")
    other = register(ext, OTHER, "ROE, RICHARD")
    data = pdf_bytes(["PROGRESS NOTE", "filed under the wrong patient"])
    misfiled = file_once(ext, clerk, patient, data).version.document_id
    reassign_patient(ext, clerk, misfiled, mrn=other, reason="misfiled: wrong chart")

    filings = burst(ext, clerk, [(patient, data), (other, data)] * (CLIENTS // 2))

    # The old patient no longer has these bytes: one new document for them, once; for the
    # new patient they are the moved document.
    refiled = one_new_document(filings[0::2])
    assert refiled != misfiled
    assert {f.version.document_id for f in filings[1::2]} == {misfiled}
    assert all(f.duplicate for f in filings[1::2])
    assert documents_with(ext, patient, data) == [refiled]
    assert documents_with(ext, other, data) == [misfiled]


def test_moving_a_document_to_a_patient_who_has_its_bytes_is_allowed(ext, people, patient):
    """A misfiled document must be movable to its patient even when a correct copy was
    filed there since: a chart holding another patient's pages is the worse harm. The
    patient's own earlier document stays the one their uploads are answered with."""
    clerk = people.principal("clerk")
    other = register(ext, OTHER, "ROE, RICHARD")
    data = pdf_bytes(["CONSULTATION", "filed under both patients"])
    misfiled = file_once(ext, clerk, patient, data).version.document_id
    correct = file_once(ext, clerk, other, data).version.document_id
    reassign_patient(ext, clerk, misfiled, mrn=other, reason="misfiled: wrong chart")

    filings = burst(ext, clerk, [(patient, data), (other, data)] * (CLIENTS // 2))

    refiled = one_new_document(filings[0::2])
    assert {f.version.document_id for f in filings[1::2]} == {correct}
    assert documents_with(ext, other, data) == [misfiled, correct]
    assert documents_with(ext, patient, data) == [refiled]
    with ext.db.transaction() as session:
        answers = session.execute(select(PatientScan.patient_id, PatientScan.document_id)
                                  .where(PatientScan.sha256 == sha256_of(data))).all()
        patient_ids = dict(session.execute(select(Patient.mrn, Patient.id)).all())
    assert sorted(answers) == sorted([(patient_ids[patient], refiled),
                                      (patient_ids[other], correct)])


def test_a_new_version_may_repeat_bytes_and_uploads_then_find_it(ext, people, patient):
    """A new version is a deliberate change of one chosen document, with a reason: it may
    carry bytes an earlier version or another document already has (a wrong correction
    undone, a rescan that came out identical). Uploads of those bytes are then answered
    with the document that had them first, as they were before."""
    clerk = people.principal("clerk")
    first, second = pdf_bytes(["H&P", "first scan"]), pdf_bytes(["H&P", "correction"])
    document = file_once(ext, clerk, patient, first).version.document_id
    add_version(ext, clerk, document_id=document, upload=Upload(io.BytesIO(second)),
                reason="corrected page 1")
    undone = add_version(ext, clerk, document_id=document, upload=Upload(io.BytesIO(first)),
                         reason="the correction was for another chart")
    assert not undone.duplicate and undone.version.number == 3

    # A new version filed at the same moment as uploads of its bytes: whichever commits
    # first, the patient ends with one document for those bytes beside the versioned one.
    fresh = pdf_bytes(["H&P", "rescan"])

    def new_version() -> Filing:
        return add_version(ext, clerk, document_id=document, upload=Upload(io.BytesIO(fresh)),
                           reason="rescan")

    def upload(number: int) -> Callable[[], Filing]:
        return lambda: add_document(ext, clerk, mrn=patient, doc_type="history_physical",
                                    upload=Upload(io.BytesIO(fresh), f"scan-{number}.pdf"))

    results = together([new_version] + [upload(n) for n in range(CLIENTS - 1)])
    uploads = results[1:]
    answered = {f.version.document_id for f in uploads}
    assert len(answered) == 1
    if all(f.duplicate for f in uploads):  # the new version committed first
        assert answered == {document}
        assert documents_with(ext, patient, fresh) == [document]
    else:  # an upload did, once; the new version was filed beside it
        assert sum(not f.duplicate for f in uploads) == 1
        assert documents_with(ext, patient, fresh) == sorted({document} | answered)
    for data in (first, second):
        assert documents_with(ext, patient, data) == [document]


def test_a_destroyed_document_no_longer_answers_for_its_bytes(ext, people, patient):
    clerk = people.principal("clerk")
    gone_data, shared_data = pdf_bytes(["OLD NOTE", "past retention"]), pdf_bytes(["SHARED"])
    destroyed = file_once(ext, clerk, patient, gone_data).version.document_id
    add_version(ext, clerk, document_id=destroyed, upload=Upload(io.BytesIO(shared_data)),
                reason="rescan")
    kept = file_once(ext, clerk, patient, pdf_bytes(["KEPT NOTE"])).version.document_id
    add_version(ext, clerk, document_id=kept, upload=Upload(io.BytesIO(shared_data)),
                reason="the same page, attached here too")
    with ext.db.transaction() as session:
        erase_document_rows(ext, session, session.get(Document, destroyed))

    filings = burst(ext, clerk, [(patient, gone_data), (patient, shared_data)] * (CLIENTS // 2))

    # Bytes only the destroyed document had are filed anew, once; bytes another document
    # still has are now answered with that one.
    refiled = one_new_document(filings[0::2])
    assert documents_with(ext, patient, gone_data) == [refiled]
    assert all(f.duplicate and f.version.document_id == kept for f in filings[1::2])
    with ext.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(PatientScan)
                              .where(PatientScan.document_id == destroyed)) == 0


def test_twenty_concurrent_uploads_of_different_scans_do_not_wait_on_the_pool(
        ext, people, patient, caplog):
    """Each filing's commit flags newly held objects with a connection of its own; while the
    filing still held its first one, twenty threads wanting two each drained the pool (15)
    and waited out its 30-second timeout."""
    uploads = [(patient, pdf_bytes([f"DISTINCT SCAN {n} {uuid.uuid4().hex}"]))
               for n in range(CLIENTS)]
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        filings = burst(ext, people.principal("clerk"), uploads)
    assert not any(filing.duplicate for filing in filings)
    assert len({filing.version.document_id for filing in filings}) == CLIENTS
    assert "Flagging newly held objects failed" not in caplog.text
    assert time.monotonic() - started < 20

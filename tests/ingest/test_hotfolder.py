"""The scanner hot folder: settled files are filed, then moved to done/ or rejected/."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from archive.models import Document
from ingest.hotfolder import HotFolder
from tests.samples import pdf_bytes


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def hot(ext, patient, tmp_path):
    clock = Clock()
    folder = HotFolder(ext, tmp_path / "hot", settle_seconds=5, clock=clock)
    (tmp_path / "hot" / patient / "progress_note").mkdir(parents=True)
    return folder, clock, tmp_path / "hot"


def documents(ext) -> int:
    with ext.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Document))


def scan_after(folder, clock, seconds):
    clock.now += seconds
    return folder.scan_once()


def test_a_file_still_being_written_is_not_taken_early(ext, hot, patient):
    folder, clock, root = hot
    data = pdf_bytes(["PROGRESS NOTE"] * 3)
    target = root / patient / "progress_note" / "scan.pdf"
    target.write_bytes(data[: len(data) // 2])
    assert folder.scan_once() == []
    with target.open("ab") as growing:  # the scanner is still writing
        growing.write(data[len(data) // 2:])
    assert scan_after(folder, clock, 4) == []
    assert scan_after(folder, clock, 4) == []  # changed 4 s ago: not settled yet
    [outcome] = scan_after(folder, clock, 2)
    assert outcome.status == "accepted"
    assert (root / "done" / patient / "progress_note" / "scan.pdf").read_bytes() == data
    assert not target.exists()
    assert documents(ext) == 1


def test_a_refused_file_is_moved_aside_with_its_reason(ext, hot, patient):
    folder, clock, root = hot
    (root / patient / "progress_note" / "empty.pdf").write_bytes(b"")
    folder.scan_once()
    [outcome] = scan_after(folder, clock, 6)
    assert outcome.status == "rejected"
    moved = root / "rejected" / patient / "progress_note" / "empty.pdf"
    assert moved.exists()
    reason = moved.with_name("empty.pdf.reason.txt").read_text()
    assert "empty" in reason and "Scan the page again" in reason
    assert documents(ext) == 0


def test_unknown_mrn_and_wrong_folder_depth_are_rejected(ext, hot):
    folder, clock, root = hot
    (root / "MRN-404" / "note").mkdir(parents=True)
    (root / "MRN-404" / "note" / "a.pdf").write_bytes(pdf_bytes())
    (root / "MRN-404" / "loose.pdf").write_bytes(pdf_bytes())
    folder.scan_once()
    outcomes = {o.path.name: o for o in scan_after(folder, clock, 6)}
    assert "Register the patient first" in outcomes["a.pdf"].reason
    assert "<MRN>/<document type>/" in outcomes["loose.pdf"].reason
    assert (root / "rejected" / "MRN-404" / "loose.pdf.reason.txt").exists()


def test_the_same_scan_dropped_twice_is_filed_once(ext, hot, patient):
    folder, clock, root = hot
    data = pdf_bytes(["LAB REPORT"])
    for _ in range(2):
        (root / patient / "progress_note" / "lab.pdf").write_bytes(data)
        folder.scan_once()
        scan_after(folder, clock, 6)
    assert documents(ext) == 1
    done = sorted(p.name for p in (root / "done" / patient / "progress_note").iterdir())
    assert len(done) == 2 and done[0].startswith("lab")


def test_temporary_names_are_left_alone(ext, hot, patient):
    folder, clock, root = hot
    (root / patient / "progress_note" / "scan.pdf.part").write_bytes(pdf_bytes())
    (root / patient / "progress_note" / ".scan.pdf").write_bytes(pdf_bytes())
    folder.scan_once()
    assert scan_after(folder, clock, 60) == []


def test_a_stack_at_the_root_is_queued_as_a_batch_once(ext, hot):
    folder, clock, root = hot
    data = pdf_bytes(["SCANNED STACK"])
    for _ in range(2):
        (root / "stack.pdf").write_bytes(data)
        folder.scan_once()
        [outcome] = scan_after(folder, clock, 6)
    assert outcome.status == "duplicate" and outcome.batch_id is not None
    assert documents(ext) == 0  # the worker files its parts once it has split it
    assert len(list((root / "done").iterdir())) == 2
    (root / "notes.txt").write_bytes(b"not a scan")
    folder.scan_once()
    [refused] = scan_after(folder, clock, 6)
    assert refused.status == "rejected" and "PDF" in refused.reason

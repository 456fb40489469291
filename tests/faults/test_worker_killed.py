"""A `chartvault worker` killed with SIGKILL in the middle of a document: its OCR processes
die with it, the next worker to start kills anything that escaped, and the job is taken
over (its lease not renewed any more) and finished well within 30 s, with no duplicate
pages or derivatives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive.config import Settings
from archive.models import Document, Page
from ingest.models import Derivative, Job
from ingest.ocr import lifeline
from tests.ingest import scans

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 3  # short, to keep the test short; the bound checked below is the real one
TAKEN_OVER_WITHIN = 30  # seconds after the kill: the promise for the default lease too
CHILDREN_GONE_WITHIN = 3


def job_state(ext):
    with ext.db.transaction() as session:
        job = session.scalar(select(Job))
        return job.status, job.progress_done, job.attempts


@pytest.fixture
def workers():
    """Start `chartvault worker` processes; whatever is still running at the end is killed."""
    started: list[subprocess.Popen] = []

    def start(settings, log: Path) -> subprocess.Popen:
        with log.open("wb") as stderr:
            started.append(start_worker(settings, stderr))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def start_worker(settings, stderr) -> subprocess.Popen:
    env = {
        **os.environ,
        "CHARTVAULT_DATABASE_URL": settings.database_url,
        "CHARTVAULT_DATA_DIR": str(settings.data_dir),
        "CHARTVAULT_SECRET_KEY": "a test secret that is long enough to be accepted",
        "CHARTVAULT_OCR_WORKERS": "2",
        "CHARTVAULT_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "OMP_THREAD_LIMIT": "1",
    }
    env.pop(lifeline.OWNER_VARIABLE, None)
    return subprocess.Popen(
        [sys.executable, "-c", "from archive.cli import cli; cli()", "worker"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)


def processes() -> dict[int, int]:
    """pid -> parent pid of every process on the machine."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:  # gone meanwhile
            continue
        if not stat:
            continue
        found[int(entry.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
    return found


def descendants(pid: int) -> list[str]:
    """Identities (pid and start time) of the live processes below ``pid``."""
    parents, found, frontier = processes(), [], {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found += [identity for child in frontier if (identity := lifeline.identity(child))]
    return found


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return f"{pid} (gone)"


def marked_by(owner: str) -> list[int]:
    """Live processes started by the worker process ``owner``, whatever their parent now."""
    mark = f"{lifeline.OWNER_VARIABLE}={owner}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            environ = (entry / "environ").read_bytes() if entry.name.isdigit() else b""
        except OSError:  # another user's, or gone meanwhile
            continue
        if mark in environ.split(b"\0") and lifeline.identity(int(entry.name)):
            found.append(int(entry.name))
    return found


def test_sigkilled_worker_leaves_no_processes_and_its_job_is_taken_over(ext, filed, tmp_path,
                                                                       workers):
    # Two pages: the blank one is done in a moment, the other takes a tesseract run.
    full = scans.scanned_chart()
    pages = (full.BLANK - 1, len(full.images) - 1)
    chart = scans.ScannedChart(tuple(full.images[page] for page in pages),
                               tuple(full.texts[page] for page in pages))
    chart.save_pdf(tmp_path / "chart.pdf")
    version = filed(data=(tmp_path / "chart.pdf").read_bytes())
    doomed = workers(ext.settings, tmp_path / "doomed.log")
    doomed_identity = lifeline.identity(doomed.pid)
    deadline = time.monotonic() + 60
    while job_state(ext)[1] < 1:  # at least one page read, the rest still to come
        assert time.monotonic() < deadline and doomed.poll() is None, (
            (tmp_path / "doomed.log").read_text())
        time.sleep(0.05)
    children = descendants(doomed.pid)
    assert len(children) >= 2  # the fork server and the page processes, at least

    doomed.kill()
    killed_at = time.monotonic()
    doomed.wait()
    while any(map(lifeline.is_alive, children)) or marked_by(doomed_identity):
        assert time.monotonic() < killed_at + CHILDREN_GONE_WITHIN, [
            command_line(pid) for pid in marked_by(doomed_identity)]
        time.sleep(0.05)
    status, done, attempts = job_state(ext)
    assert status == "running" and done == 1 and attempts == 1

    # Fault injection: a program that escaped its dead worker anyway (say, a tesseract the
    # worker ran itself for a one-page document), and one of a live worker, left alone.
    escaped = subprocess.Popen(["sleep", "60"], env={lifeline.OWNER_VARIABLE: doomed_identity})
    live = subprocess.Popen(["sleep", "60"],
                            env={lifeline.OWNER_VARIABLE: lifeline.identity(os.getpid())})
    try:
        rescuer = workers(ext.settings, tmp_path / "rescuer.log")
        assert escaped.wait(timeout=15) == -signal.SIGKILL
        assert live.poll() is None
        while job_state(ext)[0] != "done":
            assert time.monotonic() < killed_at + TAKEN_OVER_WITHIN and rescuer.poll() is None
            time.sleep(0.1)
        rescuer.terminate()
        rescuer.wait(timeout=30)
    finally:
        for sleeper in (escaped, live):
            sleeper.kill()
            sleeper.wait()
    assert rescuer.returncode == 0, (tmp_path / "rescuer.log").read_text()

    assert job_state(ext) == ("done", 2, 2)
    with ext.db.transaction() as session:
        assert session.get(Document, version.document_id).status == "ready"
        numbers = session.scalars(select(Page.number).where(Page.version_id == version.id)
                                  .order_by(Page.number)).all()
        derivatives = session.scalar(select(func.count(Derivative.id))
                                     .where(Derivative.version_id == version.id))
    assert numbers == [1, 2]
    assert derivatives == 1 + 2 + 2  # searchable PDF, page images, thumbnails


def test_the_default_lease_lets_a_dead_workers_job_be_taken_within_30_seconds(tmp_path):
    defaults = Settings(data_dir=tmp_path, database_url="sqlite://")
    # The worker polls every second: the job waits at most a lease and one poll.
    assert defaults.job_lease_seconds + 1 <= TAKEN_OVER_WITHIN

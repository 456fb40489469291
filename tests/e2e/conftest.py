"""A live ChartVault (SQLite + filesystem store) on 127.0.0.1 and Debian's Chromium, for the
browser journeys. One server and one browser per module; every test gets a fresh context."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from flask import Flask

from archive import migrate
from archive.app import create_app
from archive.audit import Actor
from archive.auth.accounts import create_user
from archive.auth.permissions import Principal
from archive.config import Settings
from archive.extensions import Archive
from archive.interfaces import Upload
from archive.records.filing import add_document
from archive.records.patients import register_patient
from tests.live import serving
from tests.samples import pdf_bytes

CHROMIUM = Path("/usr/bin/chromium")
NURSE = "nurse"
NURSE_PASSWORD = "correct horse battery"
CLERK = "clerk"
CLERK_PASSWORD = "paper in, records out"
MRN = "MRN-1001"


@dataclass
class Seeded:
    """What the fixture put into the archive, for the tests to check against."""

    base_url: str
    app: Flask
    data_dir: Path
    document_id: int
    sha256: str


def _require_chromium() -> None:
    # Never a skip: a suite without its browser test is a failing suite.
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing; scripts/test.sh installs Debian's chromium.")


@pytest.fixture(scope="module")
def live_archive() -> Iterator[Seeded]:
    tmp = Path(tempfile.mkdtemp(prefix="chartvault-e2e-"))
    try:
        settings = Settings(
            data_dir=tmp, database_url=f"sqlite:///{tmp}/cv.db", storage="filesystem"
        )
        app = create_app(settings, testing=True)
        ext = app.extensions["chartvault"]
        migrate.upgrade(ext.db.engine)
        with ext.db.transaction() as session:
            create_user(session, Actor("test"), NURSE, "staff", password=NURSE_PASSWORD,
                        must_change_password=False)
            create_user(session, Actor("test"), CLERK, "clerk", password=CLERK_PASSWORD,
                        must_change_password=False)
            register_patient(
                session,
                Principal("test", "system"),
                mrn=MRN,
                name="DOE, JANE",
                dob=date(1970, 1, 2),
            )
        pdf = tmp / "scan.pdf"
        pdf.write_bytes(pdf_bytes(["DISCHARGE SUMMARY - DOE, JANE - MRN-1001"]))
        with pdf.open("rb") as stream:
            version = add_document(
                ext,
                Principal("clerk1", "clerk", user_id=None),
                mrn=MRN,
                doc_type="discharge_summary",
                upload=Upload(stream=stream, filename="scan.pdf"),
            ).version
        assert version.sha256 == hashlib.sha256(pdf.read_bytes()).hexdigest()

        with serving(app) as base_url:
            yield Seeded(
                base_url=base_url,
                app=app,
                data_dir=tmp,
                document_id=version.document_id,
                sha256=version.sha256,
            )
        ext.db.dispose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class BackgroundWorker:
    """The ingestion worker for the live app, as `chartvault serve` runs it: a background
    thread taking jobs from the queue and running the real OCR pipeline."""

    def __init__(self, ext: Archive):
        self.ext = ext
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from ingest.worker import Worker

        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=Worker(self.ext, poll_seconds=0.2).run,
            args=(self._stop,),
            name="e2e-worker",
            daemon=True,
        )
        self._thread.start()

    def halt(self) -> None:
        """Stop taking jobs; a job already running is finished first."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            assert not self._thread.is_alive(), "the worker did not stop within 60 s"

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No job is taken inside the block (for tests that stage a job's state by hand)."""
        self.halt()
        try:
            yield
        finally:
            self.start()


@pytest.fixture(scope="module")
def worker(live_archive: Seeded) -> Iterator[BackgroundWorker]:
    background = BackgroundWorker(live_archive.app.extensions["chartvault"])
    background.start()
    try:
        yield background
    finally:
        background.halt()


@pytest.fixture(scope="module")
def browser():
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def csp_violations() -> list[str]:
    """Console reports of Content-Security-Policy violations seen by ``page``."""
    return []


@pytest.fixture
def page(browser, live_archive: Seeded, csp_violations: list[str]):
    context = browser.new_context(
        base_url=live_archive.base_url,
        accept_downloads=True,
        viewport={"width": 1280, "height": 900},
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    # Everything must work under the app's CSP (no inline scripts, styles or handlers).
    page.on(
        "console",
        lambda message: (
            csp_violations.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    try:
        yield page
    finally:
        context.close()

"""Job handlers for queue tests, importable by worker processes. They exercise the queue's
leasing, not OCR: each records that it ran, then finishes its job like a real handler."""

from __future__ import annotations

import os
import time
from pathlib import Path

from archive.app import create_app
from archive.config import Settings
from ingest import queue
from ingest.worker import HANDLERS, Worker


def recording_handler(log_path: str, seconds: float = 0.05):
    def handle(ext, lease, actor):
        time.sleep(seconds)  # long enough for the other worker to look for work meanwhile
        with ext.db.transaction() as session:
            job = queue.hold_lease(session, lease)
            queue.finish(job)
        with open(log_path, "a") as log:
            log.write(f"{lease.job_id} {lease.worker_id}\n")

    return handle


def drain(database_url: str, data_dir: str, log_path: str, worker_id: str) -> None:
    """Entry point of a worker process: run 'record' jobs until none are left."""
    app = create_app(Settings(data_dir=Path(data_dir), database_url=database_url), testing=True)
    HANDLERS["record"] = recording_handler(log_path)
    worker = Worker(app.extensions["chartvault"], worker_id=f"{worker_id}-{os.getpid()}")
    idle_rounds = 0
    while idle_rounds < 3:
        idle_rounds = 0 if worker.run_once() else idle_rounds + 1
        time.sleep(0.01)
    app.extensions["chartvault"].db.dispose()


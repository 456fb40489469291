"""Ingestion commands: ``chartvault worker`` (and, later, ``import``)."""

from __future__ import annotations

import signal
import threading

import click
from flask import Flask, current_app
from flask.cli import with_appcontext


@click.command("worker")
@click.option("--once", is_flag=True, help="Run the jobs waiting now, then exit.")
@with_appcontext
def worker_command(once: bool):
    """Run background jobs (OCR) until stopped with Ctrl-C or SIGTERM."""
    from archive.app import create_app
    from ingest.worker import Worker

    app = current_app if once else create_app(cli=True)
    worker = Worker(app.extensions["chartvault"])
    if once:
        while worker.run_once():
            pass
        return
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    click.echo(f"Worker {worker.worker_id} waiting for jobs.")
    worker.run(stop)


def init_app(app: Flask) -> None:
    app.cli.add_command(worker_command)

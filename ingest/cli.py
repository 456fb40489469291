"""Ingestion commands: ``chartvault worker`` and ``chartvault import``."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from archive.cli import cli_principal, friendly_errors
from archive.params import parse_date
from ingest.intake import file_from_disk, files_under


@click.command("worker")
@click.option("--once", is_flag=True, help="Run the jobs waiting now, then exit.")
@with_appcontext
def worker_command(once: bool):
    """Run background work (OCR jobs, the scanner hot folder) until Ctrl-C or SIGTERM."""
    from ingest.worker import Worker, start_worker_process

    ext = current_app.extensions["chartvault"]
    if ext.db.audit_key is None:
        # Every job audits what it did: without the key each one would fail.
        raise click.ClickException(
            "No audit key (CHARTVAULT_AUDIT_KEY): run `chartvault init` first, or set it.")
    if once:
        start_worker_process()
        worker = Worker(ext)
        while worker.run_once():
            pass
        return
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    threads = [
        threading.Thread(target=task, args=(stop,), daemon=True) for task in ext.background_tasks
    ]
    for thread in threads:
        thread.start()
    click.echo(f"Worker running ({len(threads)} background tasks); Ctrl-C stops it.")
    stop.wait()
    for thread in threads:
        thread.join()


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--mrn", required=True, help="The patient every file belongs to.")
@click.option("--type", "doc_type", required=True, help="Document type, e.g. discharge_summary.")
@click.option("--date-of-service", default=None, help="YYYY-MM-DD")
@click.option("--department", default=None)
@with_appcontext
@friendly_errors
def import_command(
    paths: tuple[Path, ...],
    mrn: str,
    doc_type: str,
    date_of_service: str | None,
    department: str | None,
):
    """File scans from disk (files, or folders of them) for one patient."""
    ext = current_app.extensions["chartvault"]
    principal = cli_principal()
    service_date = parse_date(date_of_service, "--date-of-service")
    files = files_under(list(paths))
    outcomes = []
    with click.progressbar(
        files, label="Filing", show_pos=True, item_show_func=lambda p: p.name if p else None
    ) as bar:
        for path in bar:
            outcomes.append(
                file_from_disk(
                    ext,
                    principal,
                    path,
                    mrn=mrn,
                    doc_type=doc_type,
                    date_of_service=service_date,
                    department=department,
                )
            )
    counts = Counter(o.status for o in outcomes)
    click.echo(
        f"Accepted {counts['accepted']}, duplicates {counts['duplicate']}, "
        f"rejected {counts['rejected']}."
    )
    for outcome in outcomes:
        if outcome.status == "duplicate":
            click.echo(
                f"  duplicate  {outcome.path}: already filed as document {outcome.document_id}"
            )
        elif outcome.status == "rejected":
            click.echo(f"  rejected   {outcome.path}: {outcome.reason}")
    if counts["rejected"]:
        raise SystemExit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(worker_command)
    app.cli.add_command(import_command)

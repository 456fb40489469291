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
@click.option("--mrn", default=None, help="The patient every file belongs to.")
@click.option("--type", "doc_type", default=None, help="Document type, e.g. discharge_summary.")
@click.option("--batch", "as_batch", is_flag=True,
              help="Each file is a scanned stack with cover sheets, split by its sheets "
              "(no --mrn or --type: the sheets name them).")
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
    as_batch: bool,
):
    """File scans from disk (files, or folders of them) for one patient, or with --batch
    scanned stacks whose cover sheets name the patient of each document."""
    ext = current_app.extensions["chartvault"]
    principal = cli_principal()
    if as_batch:
        if mrn or doc_type:
            raise click.UsageError("--batch reads the patient and type from the cover sheets; "
                                   "leave out --mrn and --type.")
        _import_batches(ext, principal, files_under(list(paths)))
        return
    if not mrn or not doc_type:
        raise click.UsageError("Give --mrn and --type (or --batch for stacks with cover sheets).")
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


def _import_batches(ext, principal, files: list[Path]) -> None:
    """Queue each stack for splitting; the worker files its parts."""
    from archive.errors import ArchiveError
    from archive.interfaces import Upload
    from ingest.batches.service import receive_batch

    refused = 0
    for path in files:
        try:
            with path.open("rb") as stream:
                received = receive_batch(ext, principal, Upload(stream, path.name))
        except (ArchiveError, OSError) as err:
            refused += 1
            click.echo(f"  rejected   {path}: {getattr(err, 'message', None) or err}")
            continue
        what = "already uploaded as" if received.duplicate else "queued as"
        click.echo(f"  {path}: {what} batch {received.batch_id}")
    if refused:
        raise SystemExit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(worker_command)
    app.cli.add_command(import_command)

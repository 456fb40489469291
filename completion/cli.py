"""Chart completion's commands: ``chartvault encounters import FILE.csv`` (the first load)
and ``chartvault hl7 listen`` (the ADT listener alone, without the worker)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from archive.cli import cli_principal, friendly_errors


@click.group("encounters")
def encounters_group():
    """Encounters (admissions and visits) from the hospital."""


@encounters_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
@friendly_errors
def encounters_import(path: Path):
    """Load encounters from a CSV (columns: number, mrn, class, admit, discharge,
    attending, department). All lines or none."""
    from completion import hospital_zone
    from completion.csv_import import import_encounters

    ext = current_app.extensions["chartvault"]
    report = import_encounters(ext, cli_principal(), path, hospital_zone(ext.settings))
    click.echo(f"Imported {report.created + report.updated} encounters: {report.created} new, "
               f"{report.updated} updated.")


@click.group("hl7")
def hl7_group():
    """HL7 v2 interfaces."""


@hl7_group.command("listen")
@click.option("--host", default=None, help="Address to bind (default CHARTVAULT_HL7_HOST).")
@click.option("--port", default=None, type=click.IntRange(0, 65535),
              help="Port (default CHARTVAULT_HL7_PORT).")
@with_appcontext
def hl7_listen(host: str | None, port: int | None):
    """Receive ADT messages over MLLP until Ctrl-C or SIGTERM."""
    from completion import hospital_zone
    from completion.hl7_listener import Hl7Listener

    ext = current_app.extensions["chartvault"]
    port = port if port is not None else ext.settings.hl7_port
    if port is None:
        raise click.ClickException("No port: set CHARTVAULT_HL7_PORT or give --port.")
    if ext.db.audit_key is None:
        raise click.ClickException(
            "No audit key (CHARTVAULT_AUDIT_KEY): run `chartvault init` first, or set it.")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    listener = Hl7Listener(ext, host or ext.settings.hl7_host, port,
                           hospital_zone(ext.settings)).start()
    click.echo(f"HL7 listener on {host or ext.settings.hl7_host}:{listener.port}; Ctrl-C "
               "stops it.")
    stop.wait()
    listener.stop()


def init_app(app: Flask) -> None:
    app.cli.add_command(encounters_group)
    app.cli.add_command(hl7_group)

"""``chartvault verify [--all]``: the integrity scrub, now, from the command line."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from archive.cli import cli_principal, friendly_errors
from archive.models import utcnow


@click.command("verify")
@click.option("--all", "everything", is_flag=True,
              help="Check every stored object, not only one scheduled run's share.")
@with_appcontext
@friendly_errors
def verify_command(everything: bool):
    """Re-read and re-hash stored objects and their replica copies; repair a bad copy from
    the good one. Exits 1 if any object has no good copy left."""
    from backup.scrub import scrub
    from backup.scrub_findings import UNREPAIRED

    ext = current_app.extensions["chartvault"]
    report = scrub(
        ext,
        now=utcnow(),
        everything=everything,
        actor=cli_principal().actor,
        progress=lambda done, total: click.echo(f"\r{done:,} of {total:,} objects", nl=False),
    )
    click.echo(f"\r{report.summary()}")
    lost = report.unreplicated_corrupt + report.unreplicated_missing
    if lost:
        # First and apart: these have no second copy, so they are lost, not merely damaged.
        click.echo(
            f"LOST: {lost} stored object{' was' if lost == 1 else 's were'} never replicated "
            "and {} bad: no good copy exists anywhere.".format("is" if lost == 1 else "are"),
            err=True)
    for finding in report.findings:
        click.echo(finding.line(), err=finding.outcome == UNREPAIRED)
    if report.unrepaired:
        click.echo(
            "Objects without a good copy are listed on the backup page (/admin/backups) and "
            "in the audit trail; restore them from another backup.", err=True)
        raise SystemExit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(verify_command)

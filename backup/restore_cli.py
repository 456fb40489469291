"""Backup commands: ``chartvault backup run`` (replicate and snapshot now) and
``chartvault restore --from PATH_OR_URL`` (rebuild an installation from a replica)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from archive.cli import cli_principal, friendly_errors
from archive.config import Settings
from archive.errors import ArchiveError
from archive.extensions import Archive
from archive.interfaces import ObjectStore

S3_ACCESS_KEY = "CHARTVAULT_REPLICA_S3_ACCESS_KEY"
S3_SECRET_KEY = "CHARTVAULT_REPLICA_S3_SECRET_KEY"  # noqa: S105 - a variable's name


def _ext() -> Archive:
    return current_app.extensions["chartvault"]


@click.group("backup")
def backup_group():
    """Replicated backups and database snapshots."""


@backup_group.command("run")
@with_appcontext
@friendly_errors
def backup_run():
    """Copy every new object to the replica, take a database snapshot and anchor the
    audit chain there, now."""
    from archive.audit_anchor import write_anchor
    from backup.replication import replicate
    from backup.snapshots import snapshots_to_keep, take_snapshot

    ext = _ext()
    report = replicate(ext)
    click.echo(f"Replication: {report.summary()}.")
    snapshot = take_snapshot(ext, cli_principal().actor)
    click.echo(f"Snapshot: {snapshot.database}, {snapshot.size:,} bytes, SHA-256 "
               f"{snapshot.sha256}, stored in the replica as {snapshot.key} (the newest "
               f"{snapshots_to_keep(ext.settings)} are kept).")
    anchor, _new = write_anchor(ext.db, ext.replica)
    click.echo(f"Audit anchor: event {anchor.seq} of the audit chain, in the replica as "
               f"{anchor.name}.")
    if report.failed:
        raise click.ClickException(
            f"{report.failed} objects could not be copied to the replica; the backup status "
            "page lists why. Run `chartvault backup run` again once the replica answers.")


@click.command("restore")
@click.option("--from", "source", required=True, metavar="PATH_OR_URL",
              help="The replica: a directory (filesystem replica) or s3://HOST:PORT/BUCKET "
                   f"(credentials from {S3_ACCESS_KEY} and {S3_SECRET_KEY}).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
@friendly_errors
def restore_command(source: str, yes: bool):
    """Rebuild this installation (an empty data directory and database) from a replica:
    the newest database snapshot, the destruction log, every object, the search index;
    then verify it all."""
    from backup.restore import restore

    ext = _ext()
    store, is_replica = open_source(source, ext.settings)
    if not yes:
        click.confirm(
            f"Restore the archive from {source} into {ext.settings.data_dir} and "
            f"{ext.db.engine.url.render_as_string()}?", abort=True)
    ctx = click.get_current_context()
    reindex = current_app.cli.get_command(ctx, "reindex")
    if reindex is None:
        raise click.ClickException("The search package is not installed: cannot reindex.")
    report = restore(ext, store, cli_principal().actor, source_is_replica=is_replica,
                     reindex=lambda: ctx.invoke(reindex), progress=click.echo)
    click.echo("")
    click.echo(report.summary())
    if not report.ok:
        raise click.ClickException(
            "The restore finished, but not everything came back intact (see above). The "
            "archive runs; the objects named LOST or CORRUPT are missing from it.")
    click.echo("Restore complete: every object verified, the audit chain intact.")


def open_source(source: str, settings: Settings) -> tuple[ObjectStore, bool]:
    """The replica named by ``--from``, and whether it is the configured replica store."""
    if source.startswith("s3://"):
        return _open_s3(source, settings)
    from archive.storage.filesystem import FilesystemStore

    path = Path(source).resolve()
    if not path.is_dir():
        raise ArchiveError(f"{source} is not a directory: give the replica's directory "
                           "(CHARTVAULT_REPLICA_DIR) or s3://HOST:PORT/BUCKET.")
    configured = (settings.replica_storage or "filesystem") == "filesystem" and \
        settings.replica_root.resolve() == path
    return FilesystemStore(path), configured


def _open_s3(source: str, settings: Settings) -> tuple[ObjectStore, bool]:
    import os

    from archive.storage.s3 import S3Store

    parts = urlsplit(source)
    bucket = parts.path.strip("/")
    access_key, secret_key = os.environ.get(S3_ACCESS_KEY), os.environ.get(S3_SECRET_KEY)
    if not (parts.netloc and bucket and "/" not in bucket):
        raise ArchiveError(f"{source}: write the S3 replica as s3://HOST:PORT/BUCKET.")
    if not (access_key and secret_key):
        raise ArchiveError(f"An S3 replica needs {S3_ACCESS_KEY} and {S3_SECRET_KEY}.")
    store = S3Store(endpoint=parts.netloc, access_key=access_key, secret_key=secret_key,
                    bucket=bucket, secure=settings.s3_secure, region=settings.s3_region)
    configured = (settings.replica_storage == "s3"
                  and settings.replica_s3_endpoint == parts.netloc
                  and settings.replica_s3_bucket == bucket)
    return store, configured


def init_app(app: Flask) -> None:
    app.cli.add_command(backup_group)
    app.cli.add_command(restore_command)

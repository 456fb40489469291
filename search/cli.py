"""Search commands: ``chartvault reindex``."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from archive import audit
from archive.cli import cli_principal, friendly_errors


@click.command("reindex")
@with_appcontext
@friendly_errors
def reindex_command():
    """Rebuild the search index from the database; search keeps answering meanwhile."""
    from search import open_index_of
    from search.jobs import rebuild

    ext = current_app.extensions["chartvault"]
    result = rebuild(
        ext,
        open_index_of(),
        progress=lambda documents, pages: click.echo(
            f"\r{documents:,} documents, {pages:,} pages", nl=False
        ),
    )
    click.echo(
        f"\nIndex rebuilt: {result.documents:,} documents, {result.pages:,} pages in "
        f"{result.seconds:.1f} s."
    )
    with ext.db.transaction() as session:
        audit.record(
            session,
            cli_principal().actor,
            "index.rebuild",
            details={"documents": result.documents, "pages": result.pages},
        )


def init_app(app: Flask) -> None:
    app.cli.add_command(reindex_command)

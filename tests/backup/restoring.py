"""What the restore tests share: the environment the `chartvault` commands run in, losing
the primary, opening the restored installation, and what the archive answers."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace

from click.testing import CliRunner
from sqlalchemy import select

from archive import audit
from archive.app import create_app
from archive.cli import cli
from archive.config import Settings
from archive.models import DocumentVersion
from archive.records.reading import open_original


def environment(settings: Settings, database_url: str) -> dict[str, str | None]:
    return {
        "CHARTVAULT_DATA_DIR": str(settings.data_dir),
        "CHARTVAULT_REPLICA_DIR": str(settings.replica_dir),
        # The embedded default needs none: its database is in the data directory.
        "CHARTVAULT_DATABASE_URL": None if database_url.startswith("sqlite") else database_url,
        "CHARTVAULT_SECRET_KEY": None,
        "CHARTVAULT_REPLICA_STORAGE": None,
        "CHARTVAULT_STORAGE": None,
    }


def chartvault(env: dict, *args: str):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def lose_the_primary(ext, settings: Settings) -> None:
    ext.db.dispose()
    shutil.rmtree(settings.data_dir)
    assert settings.replica_dir.is_dir()


def open_restored(settings: Settings, database_url: str):
    return create_app(replace(settings, database_url=database_url), testing=True)


def version_digests(ext, reader) -> dict[tuple[int, int], str]:
    """(document id, version number) -> SHA-256 of the bytes the real read path hands out."""
    with ext.db.transaction() as session:
        versions = session.execute(
            select(DocumentVersion.document_id, DocumentVersion.number)).all()
    digests = {}
    for document_id, number in versions:
        _version, chunks = open_original(ext, reader, document_id, number)
        digests[(document_id, number)] = hashlib.sha256(b"".join(chunks)).hexdigest()
    return digests


def chain_ok(ext) -> bool:
    with ext.db.transaction() as session:
        return audit.verify_chain(session).ok

"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import ingest.models  # noqa: F401 - registers the ingestion tables on the shared metadata
import retention.models  # noqa: F401 - and the retention tables
import search.models  # noqa: F401 - and the search tables
from archive import migrate
from archive.models import Base


def test_migrated_schema_matches_the_models(database_url):
    engine = create_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_downgrade_to_nothing_and_upgrade_again(database_url):
    engine = create_engine(database_url)
    config = migrate._alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert not migrate.pending(engine)
    assert "jobs" in inspect(engine).get_table_names()
    engine.dispose()

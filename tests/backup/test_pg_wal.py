"""PostgreSQL's WAL shipping on its own: a role that may not replicate gets an error that says
what to grant; pruning keeps the newest base backups and exactly the WAL they need."""

from __future__ import annotations

import io
import json
import uuid
from types import SimpleNamespace

import psycopg
import pytest
from sqlalchemy import create_engine

from archive.errors import ArchiveError
from archive.storage.filesystem import FilesystemStore
from backup import pg_wal

SYSTEM_A, SYSTEM_B = "7000000000000000001", "7000000000000000002"


def test_a_role_that_may_not_replicate_is_told_what_to_grant(postgres, tmp_path):
    role, database = f"clerkish_{uuid.uuid4().hex[:6]}", f"wal_{uuid.uuid4().hex[:6]}"
    postgres.create_database(database)
    with psycopg.connect(postgres.conninfo(database), autocommit=True) as connection:
        connection.execute(f'CREATE ROLE "{role}" LOGIN')
        connection.execute(f'GRANT pg_monitor TO "{role}"')
    url = postgres.url(database).replace(f"{postgres.superuser}@", f"{role}@")
    engine = create_engine(url)
    ext = SimpleNamespace(
        db=SimpleNamespace(engine=engine),
        settings=SimpleNamespace(database_url=url, data_dir=tmp_path / "data"),
        replica=FilesystemStore(tmp_path / "replica"))
    try:
        with pytest.raises(ArchiveError) as raised:
            pg_wal.ship_wal(ext)
    finally:
        engine.dispose()
        postgres.drop_database(database)
    assert "ALTER ROLE … REPLICATION" in raised.value.message
    assert "host replication" in raised.value.message
    assert FilesystemStore(tmp_path / "replica").list_keys() == []


def store_base_backup(store, system: str, first: str) -> None:
    key = f"{pg_wal.BASE_PREFIX}{system}/{first}"
    store.put(key, io.BytesIO(b"base"), media_type="application/gzip")
    label = {"database": "chartvault", "user": "chartvault", "first_segment": first}
    store.put(key + pg_wal.LABEL_SUFFIX, io.BytesIO(json.dumps(label).encode()),
              media_type="application/json")


def store_wal(store, system: str, name: str) -> None:
    store.put(f"{pg_wal.WAL_PREFIX}{system}/{name}", io.BytesIO(b"wal"),
              media_type="application/zlib")


def test_pruning_keeps_the_newest_base_backups_and_the_wal_they_need(tmp_path):
    store = FilesystemStore(tmp_path / "replica")
    store_base_backup(store, SYSTEM_B, "000000010000000000000002")  # an old cluster's
    for name in ("000000010000000000000002", "000000010000000000000003"):
        store_wal(store, SYSTEM_B, name)
    store_base_backup(store, SYSTEM_A, "000000010000000000000004")
    store_base_backup(store, SYSTEM_A, "000000010000000000000007")
    for name in ("000000010000000000000003", "000000010000000000000004",
                 "000000010000000000000006", "000000010000000000000007",
                 "000000010000000000000008.partial", "00000002.history"):
        store_wal(store, SYSTEM_A, name)

    dropped = pg_wal.prune_base_backups(store, keep=2)

    kept = [(backup.system, backup.first_segment) for backup in pg_wal.list_base_backups(store)]
    assert kept == [(SYSTEM_A, "000000010000000000000007"),
                    (SYSTEM_A, "000000010000000000000004")]
    assert store.list_keys(pg_wal.WAL_PREFIX) == [
        f"{pg_wal.WAL_PREFIX}{SYSTEM_A}/{name}" for name in (
            "000000010000000000000004", "000000010000000000000006",
            "000000010000000000000007", "000000010000000000000008.partial",
            "00000002.history")]
    assert dropped == 2 + 2 + 1  # the old backup and its label, its WAL, one older segment

    pg_wal.prune_base_backups(store, keep=1)

    assert [name.rsplit("/", 1)[1] for name in store.list_keys(pg_wal.WAL_PREFIX)] == [
        "000000010000000000000007", "000000010000000000000008.partial", "00000002.history"]

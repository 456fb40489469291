"""How every case of the fault matrix ends: the archive is whole again once the fault is
gone. ``assert_archive_consistent(app)`` checks, on whichever store and database ``app``
runs:

- every stored object a row names (originals, derivatives, certificates: the product's own
  list, ``backup.replication.object_sources``) is in the store, complete, with the size
  and SHA-256 its row recorded;
- the store holds nothing else: no object version no row names, and no partial object (a
  filesystem store's ``.tmp-`` files or data without its sidecar; an S3 bucket's unfinished
  multipart upload), apart from the ``leftovers`` and ``unfinished_uploads`` (keys) a test
  names, and says why;
- ``chartvault verify --all`` and ``chartvault audit verify`` pass, run through the CLI
  runner on this very app.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import boto3
from flask import Flask
from sqlalchemy import select

from archive.cli import audit_verify
from archive.interfaces import ObjectStore
from archive.storage.filesystem import _TEMP_PREFIX, _VERSION_ID, VERSIONS_DIR, FilesystemStore
from archive.storage.s3 import S3Store
from backup.replication import object_sources
from backup.scrub_cli import verify_command
from tests.storefixtures import ACCESS_KEY, REGION, SECRET_KEY

ObjectId = tuple[str, str]  # key, version id


def assert_archive_consistent(
    app: Flask, *, leftovers: Iterable[ObjectId] = (), unfinished_uploads: Iterable[str] = ()
) -> None:
    ext = app.extensions["chartvault"]
    recorded = recorded_objects(app)
    for (key, version_id), (sha256, size) in recorded.items():
        assert_intact(ext.store, key, version_id, sha256, size)
    stored = stored_objects(ext.store)
    assert set(recorded) <= stored, f"rows name objects the store lacks: {set(recorded) - stored}"
    assert stored - set(recorded) == set(leftovers), "objects no row names"
    expected = sorted(f"unfinished multipart upload of {key}" for key in unfinished_uploads)
    assert partial_objects(ext.store) == expected, "partial objects left in the store"

    verified = app.test_cli_runner().invoke(verify_command, ["--all"])
    assert verified.exit_code == 0, verified.output
    assert "all intact" in verified.output, verified.output
    audited = app.test_cli_runner().invoke(audit_verify)
    assert audited.exit_code == 0, audited.output
    assert "Audit chain intact" in audited.output, audited.output


def recorded_objects(app: Flask) -> dict[ObjectId, tuple[str, int]]:
    """Every object some row names: (key, version id) -> (SHA-256, size) as recorded."""
    ext = app.extensions["chartvault"]
    found = {}
    with ext.db.transaction() as session:
        for source in object_sources(ext):
            query = source.subquery()
            for key, version_id, sha256, size in session.execute(
                select(query.c.key, query.c.version_id, query.c.sha256, query.c.size)
            ):
                if key is not None:  # a disposition batch without a certificate yet
                    found[key, version_id] = (sha256, size)
    return found


def assert_intact(store: ObjectStore, key: str, version_id: str, sha256: str, size: int) -> None:
    """Read the whole object: the store checks the SHA-256 as it reads; the size too here."""
    data = b"".join(store.open(key, version_id, expected_sha256=sha256))
    assert (len(data), hashlib.sha256(data).hexdigest()) == (size, sha256), (key, version_id)


def stored_objects(store: ObjectStore) -> set[ObjectId]:
    """Every version of every key the store lists, each read in full (and so checked against
    the SHA-256 the store itself recorded with it)."""
    found = set()
    for key in store.list_keys():
        for info in store.list_versions(key):
            data = b"".join(store.open(key, info.version_id, expected_sha256=info.sha256))
            assert len(data) == info.size, (key, info.version_id)
            found.add((key, info.version_id))
    return found


def partial_objects(store: ObjectStore) -> list[str]:
    """What a write cut short can leave behind, named; empty when there is none."""
    if isinstance(store, FilesystemStore):
        return _partial_files(store.root)
    if isinstance(store, S3Store):
        return _unfinished_uploads(store)
    raise TypeError(f"no check of partial objects for {type(store).__name__}")


def _partial_files(root: Path) -> list[str]:
    found = []
    for directory, _subdirs, files in os.walk(root):
        names = set(files)
        in_versions = Path(directory).name == VERSIONS_DIR
        for name in sorted(names):
            path = Path(directory) / name
            if name.startswith(_TEMP_PREFIX):
                found.append(f"temporary file {path}")
            elif in_versions and _VERSION_ID.fullmatch(name) and f"{name}.json" not in names:
                found.append(f"version without its sidecar {path}")
            elif in_versions and name.endswith(".json") and name[:-5] not in names:
                found.append(f"sidecar without its version {path}")
    return found


def _unfinished_uploads(store: S3Store) -> list[str]:
    # Through boto3: the minio SDK keeps its multipart listing private.
    client = boto3.client("s3", endpoint_url=f"http://{store.endpoint}", region_name=REGION,
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    uploads = client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    return sorted(f"unfinished multipart upload of {upload['Key']}" for upload in uploads)

"""Helpers the replication, scrub and restore tests share (their fixtures are in
conftest.py): an S3 replica for settings, and reading what the replica holds."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace

from moto.server import ThreadedMotoServer
from sqlalchemy import select

from archive.config import Settings
from backup.models import ObjectCopy
from tests.storefixtures import ACCESS_KEY, REGION, SECRET_KEY

CHART = ["DISCHARGE SUMMARY", "Admitted with community acquired pneumonia."]
NOTE = ["CLINIC NOTE", "Seen for follow up of the pneumonia."]


def with_s3_replica(settings: Settings, server: ThreadedMotoServer) -> Settings:
    """``settings`` with the replica in a new bucket of ``server`` (moto over HTTP)."""
    host, port = server.get_host_and_port()
    return replace(settings, replica_dir=None, replica_storage="s3",
                   replica_s3_endpoint=f"{host}:{port}", replica_s3_access_key=ACCESS_KEY,
                   replica_s3_secret_key=SECRET_KEY,
                   replica_s3_bucket=f"replica-{uuid.uuid4().hex}", s3_region=REGION)


def copies(ext) -> list[ObjectCopy]:
    with ext.db.transaction() as session:
        return list(session.scalars(select(ObjectCopy).order_by(ObjectCopy.id)))


def replica_digest(ext, copy: ObjectCopy) -> str:
    return hashlib.sha256(b"".join(
        ext.replica.open(copy.key, copy.replica_version_id, expected_sha256=copy.sha256)
    )).hexdigest()
